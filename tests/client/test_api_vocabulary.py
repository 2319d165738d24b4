"""One vocabulary for 0.2, on both backends: ``page_size`` is a page's size and ``limit`` a total cap,
``since`` (inclusive) / ``until`` (exclusive) bound time, one verb per idea, keyword-only flags, filter
types importable from ``phase3_sdk.filters``. The 0.1 spellings still work, with a DeprecationWarning."""

from __future__ import annotations

import datetime as dt
import inspect
import warnings
from uuid import UUID

import pytest

from phase3_sdk import InvalidInputError, Phase3Client, filters
from phase3_sdk._async.resources.search import AsyncSearch
from phase3_sdk._async.resources.synthesis import AsyncSynthesisJobs
from phase3_sdk._sync.resources._base import transport_for
from phase3_sdk._sync.resources.search import Search
from phase3_sdk._sync.resources.synthesis import SynthesisJobs
from phase3_sdk._sync.transport import Transport
from support.backends import Env


def _tools(me: Phase3Client, n: int, prefix: str) -> list[UUID]:
    return [me.tools.create(name=f"{prefix}{i}", description="d", code="return 1").id for i in range(n)]


def test_page_size_is_the_page_and_limit_the_old_name_for_it(backend: Env, users: tuple[UUID, UUID]) -> None:
    me = backend.as_user(users[0])
    _tools(me, 5, "p")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new name warns about nothing
        page = me.tools.page(page_size=2, order="name")
    assert [t.name for t in page.items] == ["p0", "p1"]
    with pytest.warns(DeprecationWarning, match=r"page\(limit=\) is deprecated.*page\(page_size=\)") as seen:
        old = me.tools.page(limit=2, order="name")
    assert seen[0].filename == __file__  # the warning points at the caller's line
    assert [t.id for t in old.items] == [t.id for t in page.items]
    with pytest.raises(InvalidInputError, match="page_size only"):
        me.tools.page(page_size=3, limit=2)
    # list(limit=) stays what it was: a total cap over as many pages as it takes.
    assert len(list(me.tools.list(page_size=2, limit=3))) == 3


def test_since_is_inclusive_until_exclusive_and_created_after_keeps_its_strict_meaning(
    backend: Env, users: tuple[UUID, UUID]
) -> None:
    me = backend.as_user(users[0])
    ids = _tools(me, 3, "t")
    rows = sorted((me.tools.get(i) for i in ids), key=lambda t: (t.created_at, str(t.id)))
    first = rows[0].created_at
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from_first = {t.id for t in me.tools.list(since=first)}
        before_first = {t.id for t in me.tools.list(until=first)}
        assert me.tools.count(since=first, until=first + dt.timedelta(days=1)) == 3
    assert rows[0].id in from_first  # inclusive
    assert rows[0].id not in before_first  # exclusive
    with pytest.warns(DeprecationWarning, match="created_after= filter is deprecated.*use since="):
        after_first = {t.id for t in me.tools.list(created_after=first)}
    assert rows[0].id not in after_first  # still strict, as in 0.1
    with pytest.warns(DeprecationWarning, match="created_before= filter is deprecated.*use until="):
        assert me.tools.count(created_before=first) == 0
    with pytest.warns(DeprecationWarning, match="created_after"):
        me.skills.page(created_after=first)
    with pytest.warns(DeprecationWarning, match="created_before"):
        me.synthesis_jobs.count(created_before=first)


def test_one_verb_per_idea_the_other_warns(backend: Env, users: tuple[UUID, UUID]) -> None:
    me = backend.as_user(users[0])
    with pytest.warns(DeprecationWarning, match=r"conversations.create_many\(\).*bulk_create\(\)"):
        (made,) = me.conversations.create_many(
            [{"instance_key": "vocab", "messages": [{"role": "user", "content": "hi"}]}]
        )
    assert me.conversations.get(made.id).instance_key == "vocab"
    with pytest.warns(DeprecationWarning, match=r"synthesis_jobs.create\(\).*synthesis_jobs.submit\(\)"):
        job = me.synthesis_jobs.create(synthesis_type="emotional_patterns")
    assert job.status == "pending"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert me.synthesis_jobs.submit("emotional_patterns").status == "pending"
    with pytest.warns(
        DeprecationWarning, match=r"client.synthesis is deprecated.*client.synthesis_jobs"
    ) as seen:
        old_jobs = me.synthesis
    assert seen[0].filename == __file__
    assert old_jobs is me.synthesis_jobs  # the very same resource under its old name
    assert old_jobs.get(job.id).id == job.id


def test_tools_execute_is_the_verb_and_run_warns(backend: Env, users: tuple[UUID, UUID]) -> None:
    me = backend.as_user(users[0])
    me.tools.create(name="twice", description="d", code="return {y: params.x * 2};")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert me.tools.execute("twice", {"x": 4}).output == {"y": 8}
    with pytest.warns(DeprecationWarning, match=r"tools.run\(\) is deprecated.*tools.execute\(\)") as seen:
        old = me.tools.run("twice", {"x": 5})
    assert seen[0].filename == __file__
    assert old.output == {"y": 10}
    assert me.tool_usage.count(tool_name="twice") == 2  # both calls logged, once each


@pytest.mark.parametrize(
    ("jobs", "search"), [(SynthesisJobs, Search), (AsyncSynthesisJobs, AsyncSearch)], ids=["sync", "async"]
)
def test_optional_arguments_of_wait_run_worker_submit_and_search_are_keyword_only(
    jobs: type, search: type
) -> None:
    methods = [getattr(jobs, m) for m in ("wait", "run_worker", "submit")]
    methods += [getattr(search, m) for m in ("semantic", "text", "hybrid")]
    for method in methods:
        params = list(inspect.signature(method).parameters.values())
        optional = [p for p in params if p.default is not inspect.Parameter.empty]
        assert optional, method
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in optional), method


def test_positional_flags_are_refused(backend: Env, users: tuple[UUID, UUID]) -> None:
    me = backend.as_user(users[0])
    job = me.synthesis_jobs.submit("emotional_patterns")
    with pytest.raises(TypeError):
        me.synthesis_jobs.wait(job.id, 0.01, False)  # type: ignore[misc]
    with pytest.raises(TypeError):
        backend.client.synthesis_jobs.run_worker(1, True)  # type: ignore[misc]


def test_filter_types_are_public_and_the_ones_the_resources_use(backend: Env) -> None:
    client = backend.client
    assert client.tools.filter_type is filters.ToolFilters
    assert client.tool_usage.filter_type is filters.ToolUsageFilters
    assert client.skills.filter_type is filters.SkillFilters
    assert client.skill_executions.filter_type is filters.SkillExecutionFilters
    assert client.conversations.filter_type is filters.ConversationFilters
    assert client.synthesis_jobs.filter_type is filters.JobFilters
    assert client.patterns.filter_type is filters.PatternFilters
    assert client.recommendations.filter_type is filters.RecommendationFilters
    assert set(filters.ToolFilters.__annotations__) >= {"since", "until"}


def test_impersonate_takes_a_client_and_still_a_transport(backend: Env, users: tuple[UUID, UUID]) -> None:
    client = backend.client
    acting = transport_for(lambda uid: client.as_user(user_id=uid), users[1])
    assert isinstance(acting, Transport)
    assert acting.identity.user_id == users[1]
    old_way = transport_for(lambda uid: client.as_user(user_id=uid)._transport, users[1])
    assert old_way.identity.user_id == users[1]
