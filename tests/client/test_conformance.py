"""The same behaviour over both backends: CRUD, lists, filters, order, counts, RLS isolation, bad input.

Every test runs twice (``backend`` is ``postgres`` or ``rest``) against the same real database: directly,
and through the PostgREST emulator.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import pytest

from phase3_sdk import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError, Phase3Client
from phase3_sdk.backends.base import Insert
from phase3_sdk.models import SkillExecution
from phase3_sdk.schema.tables import SKILL_EXECUTIONS
from support.backends import ANON_KEY, SERVICE_KEY, Env

STEPS = [{"stepId": "s1", "toolName": "double", "inputMapping": {"x": "$.input.x"}}]


def emb(i: int) -> list[float]:
    v = [0.0] * 768
    v[i % 768] = 1.0
    v[(i + 1) % 768] = 0.1
    return v


def parity(i: int) -> str:
    return "even" if i % 2 == 0 else "odd"


def _execution(c: Phase3Client, i: int) -> SkillExecution:
    # Executions are written by the skill engine; here they go through the same transport and backend.
    skill = c.skills.create(name=f"exec-skill-{uuid.uuid4().hex[:8]}", steps=STEPS)
    row = {
        "id": uuid.uuid4(),
        "composite_skill_id": skill.id,
        "user_id": c.user_id,
        "status": "completed" if i % 2 == 0 else "failed",
        "input_params": {"i": i},
    }
    written = c._transport.insert(
        Insert(SKILL_EXECUTIONS.name, [row], SKILL_EXECUTIONS.light_columns, SKILL_EXECUTIONS.json_columns)
    )
    return SkillExecution.model_validate(written[0])


@dataclass
class Spec:
    name: str
    create: Callable[[Phase3Client, int], Any]
    filter: dict[str, Any]
    order: str
    update: dict[str, Any] = field(default_factory=dict)


SPECS = [
    Spec(
        "tools",
        lambda c, i: c.tools.create(
            name=f"tool-{i}-{uuid.uuid4().hex[:6]}", code="return 1;", tags=[parity(i), "x, (y)"]
        ),
        {"tag": "even"},
        "name",
        {"description": "changed", "tags": ["new"]},
    ),
    Spec(
        "tool_usage",
        lambda c, i: c.tool_usage.create(
            tool_name=f"t{i}", status="success" if i % 2 == 0 else "failure", input_params={"i": i}
        ),
        {"status": "success"},
        "timestamp",
    ),
    Spec(
        "skills",
        lambda c, i: c.skills.create(name=f"skill-{i}-{uuid.uuid4().hex[:6]}", steps=STEPS, tags=[parity(i)]),
        {"tag": "even"},
        "name",
        {"description": "changed"},
    ),
    Spec("skill_executions", _execution, {"status": "completed"}, "created_at"),
    Spec(
        "synthesis_jobs",
        lambda c, i: c.synthesis_jobs.submit("emotional_patterns" if i % 2 == 0 else "prospective_self"),
        {"synthesis_type": "emotional_patterns"},
        "updated_at",
    ),
    Spec(
        "patterns",
        lambda c, i: c.patterns.create(
            pattern_type="p", layer=2 if i % 2 == 0 else 3, description=f"d{i}", confidence=round(0.1 * i, 2)
        ),
        {"layer": 2},
        "confidence",
        {"description": "changed", "user_confirmed": True},
    ),
    Spec(
        "recommendations",
        lambda c, i: c.recommendations.create(recommendation=f"r{i}", category=parity(i)),
        {"category": "even"},
        "updated_at",
        {"status": "acknowledged"},
    ),
    Spec(
        "conversations",
        lambda c, i: c.conversations.create(
            messages=[{"role": "user", "content": f"message {i}"}],
            extracted_topics=[parity(i)],
            embedding=emb(i),
        ),
        {"topic": "even"},
        "created_at",
        {"primary_emotion": "joy"},
    ),
]
IDS = [s.name for s in SPECS]


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_create_get_update_delete(backend: Env, spec: Spec, users: tuple[UUID, UUID]) -> None:
    me = backend.as_user(users[0])
    resource = getattr(me, spec.name)
    row = spec.create(me, 0)
    assert row.user_id == users[0]
    assert resource.get(row.id) == row
    assert resource.get(str(row.id)).id == row.id
    if spec.update:
        updated = resource.update(row.id, **spec.update)
        for key, value in spec.update.items():
            assert getattr(updated, key) == value
        assert resource.get(row.id) == updated
    resource.delete(row.id)
    with pytest.raises(NotFoundError):
        resource.get(row.id)
    with pytest.raises(NotFoundError):
        resource.delete(row.id)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_list_page_count_filter_order(backend: Env, spec: Spec, users: tuple[UUID, UUID]) -> None:
    me = backend.as_user(users[0])
    resource = getattr(me, spec.name)
    rows = [spec.create(me, i) for i in range(7)]
    ids = {r.id for r in rows}
    spec.create(backend.as_user(users[1]), 0)  # someone else's row never shows up

    # Auto-pagination over four pages of two, newest first with id as the tie-breaker.
    everything = list(resource.list(page_size=2))
    # Only mine, plus public tools and skills other tests made (readable by every user, by design).
    assert all(r.id in ids or getattr(r, "visibility", None) == "public" for r in everything)
    listed = [r for r in everything if r.id in ids]
    assert resource.count(**_mine(spec, users[0])) == 7
    assert {r.id for r in listed} == ids
    column = "timestamp" if spec.name == "tool_usage" else "created_at"
    keys = [(getattr(r, column), str(r.id)) for r in listed]
    assert keys == sorted(keys, reverse=True)
    assert [r.id for r in resource.list(page_size=3, limit=5, **_mine(spec, users[0]))] == [
        r.id for r in listed[:5]
    ]

    # Manual pages with cursors cover the same rows in the same order.
    seen: list[UUID] = []
    cursor = None
    while True:
        page = resource.page(3, cursor, **_mine(spec, users[0]))
        seen += [r.id for r in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [r.id for r in listed]

    matching = [r for i, r in enumerate(rows) if i % 2 == 0]
    assert resource.count(**spec.filter, **_mine(spec, users[0])) == len(matching) == 4
    assert {r.id for r in resource.list(**spec.filter, **_mine(spec, users[0]))} == {r.id for r in matching}

    ordered = list(resource.list(order=spec.order, page_size=3, **_mine(spec, users[0])))
    values = [(getattr(r, spec.order), str(r.id)) for r in ordered]
    assert values == sorted(values)
    descending = list(resource.list(order=f"-{spec.order}", page_size=3, **_mine(spec, users[0])))
    assert [r.id for r in descending] == [r.id for r in reversed(ordered)]


def _mine(spec: Spec, user: UUID) -> dict[str, Any]:
    """Tools and skills lists include everyone's public rows: narrow them to one user's."""
    return {"user_id": user} if spec.name in ("tools", "skills") else {}


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_user_cannot_touch_another_users_rows(backend: Env, spec: Spec, users: tuple[UUID, UUID]) -> None:
    a, b = backend.as_user(users[0]), backend.as_user(users[1])
    row = spec.create(a, 0)
    theirs = getattr(b, spec.name)
    with pytest.raises(NotFoundError):
        theirs.get(row.id)
    if spec.update:
        with pytest.raises((NotFoundError, PermissionDeniedError)):
            theirs.update(row.id, **spec.update)
    with pytest.raises((NotFoundError, PermissionDeniedError)):
        theirs.delete(row.id)
    assert row.id not in {r.id for r in theirs.list()}
    assert theirs.count(**_mine(spec, users[1])) == 0
    assert getattr(a, spec.name).get(row.id) == row  # untouched
    # A user-scoped client cannot write rows in someone else's name.
    if spec.name not in ("skill_executions",):
        resource = getattr(b, spec.name)
        make = resource.submit if spec.name == "synthesis_jobs" else resource.create  # the one verb each
        with pytest.raises(InvalidInputError) as err:
            make(user_id=users[0], **_minimal_fields(spec.name))
        assert err.value.field == "user_id"


def _minimal_fields(name: str) -> dict[str, Any]:
    return {
        "tools": {"name": "x", "code": "return 1;"},
        "tool_usage": {"status": "success"},
        "skills": {"name": "x", "steps": STEPS},
        "synthesis_jobs": {"synthesis_type": "emotional_patterns"},
        "patterns": {"pattern_type": "p", "layer": 1, "description": "d", "confidence": 0.5},
        "recommendations": {"recommendation": "r", "category": "c"},
        "conversations": {"messages": [{"role": "user", "content": "hi"}]},
    }[name]


@pytest.mark.parametrize("name", ["tools", "skills"])
def test_public_rows_are_readable_not_writable_by_others(
    backend: Env, name: str, users: tuple[UUID, UUID]
) -> None:
    a, b = backend.as_user(users[0]), backend.as_user(users[1])
    fields = _minimal_fields(name) | {"name": f"public-{uuid.uuid4().hex[:8]}", "visibility": "public"}
    row = getattr(a, name).create(**fields)
    private = getattr(a, name).create(**(_minimal_fields(name) | {"name": f"private-{uuid.uuid4().hex[:8]}"}))
    theirs = getattr(b, name)
    assert theirs.get(row.id) == row
    visible = {r.id for r in theirs.list(visibility="public")}
    assert row.id in visible
    assert private.id not in visible
    with pytest.raises(NotFoundError):
        theirs.get(private.id)
    with pytest.raises((NotFoundError, PermissionDeniedError)):
        theirs.update(row.id, description="hijacked")
    with pytest.raises((NotFoundError, PermissionDeniedError)):
        theirs.delete(row.id)
    assert getattr(a, name).get(row.id).description == row.description


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_anon_sees_nothing(backend: Env, spec: Spec, users: tuple[UUID, UUID]) -> None:
    spec.create(backend.as_user(users[0]), 0)
    anon = getattr(backend.anon(), spec.name)
    with pytest.raises(PermissionDeniedError) as err:
        list(anon.list())
    assert err.value.code == "42501"
    with pytest.raises(PermissionDeniedError):
        anon.count()


def test_service_role_sees_everyone_and_must_name_the_owner(backend: Env, users: tuple[UUID, UUID]) -> None:
    a, b = backend.as_user(users[0]), backend.as_user(users[1])
    ta, tb = a.tools.create(name="svc-a", code="x"), b.tools.create(name="svc-b", code="x")
    admin = backend.client.service()
    assert {ta.id, tb.id} <= {t.id for t in admin.tools.list(user_id=users[0])} | {
        t.id for t in admin.tools.list(user_id=users[1])
    }
    with pytest.raises(InvalidInputError) as err:
        admin.tools.create(name="nobody", code="x")
    assert err.value.field == "user_id"
    made = admin.tools.create(name="for-b", code="x", user_id=users[1])
    assert b.tools.get(made.id).user_id == users[1]


def test_semantic_search_finds_only_my_nearest_memories(backend: Env, users: tuple[UUID, UUID]) -> None:
    a, b = backend.as_user(users[0]), backend.as_user(users[1])
    mine = [
        a.conversations.create(messages=[{"role": "user", "content": f"m{i}"}], embedding=emb(i))
        for i in range(3)
    ]
    b.conversations.create(messages=[{"role": "user", "content": "theirs"}], embedding=emb(1))
    hits = a.search.semantic(emb(1), match_count=5)
    assert hits[0].id == mine[1].id
    assert hits[0].similarity == pytest.approx(1.0)
    assert {h.id for h in hits} <= {m.id for m in mine}
    assert [h.similarity for h in hits] == sorted((h.similarity for h in hits), reverse=True)
    assert hits.method == "exact"  # how it was ranked comes back through either backend
    assert not hits.approximate
    assert b.search.semantic(emb(0), match_count=5)[0].user_id == users[1]


def test_database_errors_map_to_the_same_classes(backend: Env, users: tuple[UUID, UUID]) -> None:
    me = backend.as_user(users[0])
    me.tools.create(name="unique-name", code="x")
    with pytest.raises(ConflictError) as conflict:
        me.tools.create(name="unique-name", code="x")
    assert conflict.value.code == "23505"
    # PostgreSQL leaves out the "Key (...) already exists" detail on a table with RLS, behind PostgREST too.
    assert "custom_tools_user_name_key" in conflict.value.message
    with pytest.raises(InvalidInputError) as fk:
        me.tool_usage.create(status="success", custom_tool_id=uuid.uuid4())
    assert fk.value.code == "23503"


BAD_INPUT: list[tuple[str, Callable[[Phase3Client], Any], str]] = [
    ("wrong type", lambda c: c.tools.create(name=123, code="x"), "name"),
    (
        "767-dim embedding",
        lambda c: c.conversations.create(messages=[{"role": "u", "content": "x"}], embedding=[0.1] * 767),
        "embedding",
    ),
    ("767-dim query", lambda c: c.search.semantic([0.1] * 767), "768"),
    ("unknown filter", lambda c: c.tools.list(colour="red"), "colour"),
    ("unknown status filter", lambda c: c.recommendations.count(status="bogus"), "status"),
    ("unknown status value", lambda c: c.tool_usage.create(status="exploded"), "status"),
    ("unknown enum", lambda c: c.synthesis_jobs.submit("bogus"), "synthesis_type"),
    ("unknown field", lambda c: c.patterns.update(uuid.uuid4(), colour="red"), "colour"),
    ("bad id", lambda c: c.skills.get("not-a-uuid"), "id"),
    ("bad order", lambda c: c.tools.list(order="code"), "order"),
    ("bad cursor", lambda c: c.tools.page(10, "garbage"), "cursor"),
    ("bad page size", lambda c: c.tools.page(0), "page_size"),
]


@pytest.mark.parametrize(("case", "call", "field_name"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_fails_before_any_request(
    backend: Env, case: str, call: Callable[[Phase3Client], Any], field_name: str, users: tuple[UUID, UUID]
) -> None:
    me = backend.as_user(users[0])
    before = backend.sent()
    with pytest.raises(InvalidInputError) as err:
        call(me)
    assert field_name in (err.value.field or "") or field_name in str(err.value)
    assert backend.sent() == before, "bad input reached the server"


def test_rest_user_client_never_sends_the_service_key(backend: Env, users: tuple[UUID, UUID]) -> None:
    if backend.kind != "rest":
        pytest.skip("REST only: headers")
    me = backend.as_user(users[0])
    start = len(backend.router.calls)
    tool = me.tools.create(name="headers", code="x")
    me.tools.get(tool.id)
    me.tools.count()
    list(me.tools.list(page_size=1))
    me.tools.update(tool.id, description="d")
    me.search.semantic(emb(0))
    me.tools.delete(tool.id)
    user_requests = [c.request for c in backend.router.calls[start:]]
    assert len(user_requests) >= 7
    for req in user_requests:
        assert req.headers["apikey"] == ANON_KEY
        assert SERVICE_KEY not in req.headers["authorization"]
        assert req.headers["authorization"] == f"Bearer {me.identity.access_token}"
    # ...and a client derived for another user right after sends that user's token, not the first one's.
    other = backend.as_user(users[1])
    other.tools.count()
    assert (
        backend.router.calls.last.request.headers["authorization"] == f"Bearer {other.identity.access_token}"
    )
    backend.client.service().tools.count()
    assert backend.router.calls.last.request.headers["apikey"] == SERVICE_KEY


def test_as_user_is_cheap_and_shares_the_backend(backend: Env, users: tuple[UUID, UUID]) -> None:
    clients = [backend.as_user(users[0]) for _ in range(50)]
    assert all(c._shared.backend is backend.client._shared.backend for c in clients)
    assert repr(clients[0]).count(str(users[0])) == 1
    assert ANON_KEY not in repr(clients[0])
    assert SERVICE_KEY not in repr(backend.client._shared.backend)
