"""The REST client against the faithful emulator: issue 13's six REST bugs, reproduced as PostgREST answers.

Each test asserts what a user should get. Before the fixes each failed in exactly the way issue 13 reports
(checked as strict xfails while the fixes were on another branch); now they pin the fixes against the
emulator that answers as PostgREST does.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

import jwt
import psycopg
import pytest
import respx

from phase3_sdk import Phase3Client, Phase3Error, RetryPolicy
from support.postgrest_emulator import BASE_URL, PostgrestEmulator

SECRET = "issue13-jwt-secret-of-at-least-32-characters"
ANON = jwt.encode({"role": "anon"}, SECRET, "HS256")
SERVICE = jwt.encode({"role": "service_role"}, SECRET, "HS256")
FAST = RetryPolicy(max_attempts=3, initial_delay=0.05, max_delay=1.0, max_total=10.0, jitter=False)


@pytest.fixture(scope="module")
def emulator(db_url: str) -> Iterator[PostgrestEmulator]:
    emu = PostgrestEmulator(db_url, jwt_secret=SECRET, anon_key=ANON, service_key=SERVICE)  # max_rows 1000
    yield emu
    emu.close()


@pytest.fixture(scope="module")
def router(emulator: PostgrestEmulator) -> Iterator[respx.MockRouter]:
    with emulator.mount() as r:
        yield r


@pytest.fixture
def me(router: respx.MockRouter, make_user: Callable[..., UUID]) -> Iterator[Phase3Client]:
    with Phase3Client(BASE_URL, SERVICE, anon_key=ANON, jwt_secret=SECRET, retry=FAST) as client:
        yield client.as_user(user_id=make_user())


def _memories(db_url: str, user: UUID, n: int) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "insert into public.conversations (user_id, messages) "
            """select %s, '[{"role": "user", "content": "memory"}]'::jsonb from generate_series(1, %s)""",
            (user, n),
        )


def _user(me: Phase3Client) -> UUID:
    return UUID(str(me.identity.user_id))


def test_list_with_page_size_1000_returns_every_row_behind_max_rows(me: Phase3Client, db_url: str) -> None:
    _memories(db_url, _user(me), 2500)
    assert sum(1 for _ in me.conversations.list(page_size=1000)) == 2500


def test_a_page_of_1000_capped_by_max_rows_still_has_a_next_cursor(me: Phase3Client, db_url: str) -> None:
    _memories(db_url, _user(me), 1500)
    page = me.conversations.page(page_size=1000)
    assert len(page.items) == 1000
    assert page.next_cursor is not None


def test_the_page_after_a_skill_named_with_a_brace_loads(me: Phase3Client) -> None:
    steps = [{"stepId": "step1", "toolName": "t", "inputMapping": {"x": "$.input.x"}}]
    me.skills.create(name="{x}y", steps=steps)
    me.skills.create(name="{x}z", steps=steps)
    first = me.skills.page(page_size=1, order="name")
    assert [s.name for s in first.items] == ["{x}y"]
    second = me.skills.page(page_size=1, order="name", cursor=first.next_cursor)
    assert [s.name for s in second.items] == ["{x}z"]


def test_a_503_with_retry_after_0_backs_off_instead_of_retrying_at_once(
    me: Phase3Client, emulator: PostgrestEmulator, router: respx.MockRouter
) -> None:
    emulator.fail_next(2, status=503)  # PostgREST's 503s carry Retry-After: 0 (App.hs addRetryHint)
    started = time.monotonic()
    assert me.tools.count() == 0
    # The policy's own backoff (50 ms, then 100 ms) is waited, not skipped for a zero Retry-After.
    assert time.monotonic() - started >= 0.15


def test_a_500_for_infinite_recursion_in_a_policy_is_not_retried(
    me: Phase3Client, emulator: PostgrestEmulator, router: respx.MockRouter
) -> None:
    body = b'{"code":"42P17","details":null,"hint":null,"message":"infinite recursion detected in policy"}'
    emulator.fail_next(3, status=500, body=body)
    router.calls.clear()
    try:
        with pytest.raises(Phase3Error):
            me.tools.count()
        assert len(router.calls) == 1
    finally:
        emulator.faults.clear()


def test_an_ambiguous_overloaded_function_is_a_typed_error(me: Phase3Client, db_url: str) -> None:
    # A second semantic_search with the same parameter names: PostgREST answers 300 PGRST203 (Error.hs).
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "create function public.semantic_search(query_embedding text, match_count integer default 10, "
            "match_threshold double precision default null, filter_salience_tier text default null, "
            "filter_since timestamptz default null, include_deleted boolean default false, "
            "exact boolean default false) returns setof integer language sql as 'select 1'"
        )
    try:
        with pytest.raises(Phase3Error) as err:
            me.search.semantic([0.1] * 768)
        assert err.value.code == "PGRST203"
    finally:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(
                "drop function public.semantic_search(text, integer, double precision, text, timestamptz, "
                "boolean, boolean)"
            )


@pytest.mark.parametrize(("batch_size", "n"), [(500, 600), (2000, 2000)])
def test_re_importing_rows_that_exist_reports_them_all(me: Phase3Client, batch_size: int, n: int) -> None:
    # 500 ids read back in one GET are ~19 KB of URL (a gateway's 414); 2000 are past httpx's own limit.
    rows: list[dict[str, Any]] = [
        {"id": uuid.uuid4(), "messages": [{"role": "user", "content": f"m{i}"}]} for i in range(n)
    ]
    assert me.conversations.bulk_create(rows, batch_size=batch_size) == n
    assert me.conversations.bulk_create(rows, batch_size=batch_size) == n  # all already there


def test_count_beyond_max_rows_is_exact(me: Phase3Client, db_url: str) -> None:
    """A counted HEAD beyond max-rows is 206 with the whole total (RangeQuery.hs); the SDK reads the total."""
    _memories(db_url, _user(me), 1200)
    assert me.conversations.count() == 1200
