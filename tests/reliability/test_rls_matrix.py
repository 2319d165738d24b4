"""The RLS matrix: every table and RPC x every operation x anon, owner, other user, service role.

On both backends (``backend`` fixture: the Postgres backend and the REST one through the PostgREST
emulator), each cell acts on rows freshly written for it by the database superuser, through the SDK's own
request values (the same ``Query``/``Insert``/``Update``/``Delete``/``Rpc`` every resource builds), and
reads its outcome back FROM THE DATABASE, not from what the call returned: a call that raised but
changed the row is a leak all the same. The outcomes are compared with ``rls_expected.csv``, kept in the
repository, readable by a reviewer without running anything.

Also here: counters cannot be forged by writing their columns, and over REST an expired, tampered or
wrong-audience JWT is refused by the server.
"""

from __future__ import annotations

import csv
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from phase3_sdk import (
    AuthError,
    Identity,
    NotFoundError,
    PermissionDeniedError,
    Phase3Client,
    Phase3Error,
    ServerError,
)
from phase3_sdk.backends.base import Delete, Filter, Insert, Query, Rpc, Update
from support.backends import ANON_KEY, BASE_URL, JWT_SECRET, Env

from ._results import record

EXPECTED_FILE = Path(__file__).with_name("rls_expected.csv")
ROLES = ("anon", "owner", "other", "service")
VECTOR = "[" + ",".join(["1"] + ["0"] * 767) + "]"


def load_expected() -> dict[tuple[str, str], dict[str, str]]:
    lines = [line for line in EXPECTED_FILE.read_text().splitlines() if not line.startswith("#")]
    return {(r["table"], r["operation"]): {role: r[role] for role in ROLES} for r in csv.DictReader(lines)}


EXPECTED = load_expected()


@dataclass
class World:
    """The two users, each with a skill and a tool, and a superuser connection to seed and inspect."""

    db: psycopg.Connection[Any]
    owner: uuid.UUID
    other: uuid.UUID
    skills: dict[uuid.UUID, uuid.UUID]
    cells: Iterator[int]

    def insert(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        cols = list(row)
        values = [Jsonb(v) if isinstance(v, dict | list) else v for v in row.values()]
        self.db.execute(
            sql.SQL("insert into public.{} ({}) values ({})").format(
                sql.Identifier(table),
                sql.SQL(", ").join(map(sql.Identifier, cols)),
                sql.SQL(", ").join(sql.Placeholder() * len(cols)),
            ),
            values,
        )
        return row

    def fetch(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        where = sql.SQL(" and ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in key)
        found = self.db.execute(
            sql.SQL("select to_jsonb(t) from public.{} t where ").format(sql.Identifier(table)) + where,
            list(key.values()),
        ).fetchone()
        return None if found is None else dict(found[0])


# -- table rows ------------------------------------------------------------------------------------


def new_row(world: World, table: str, user_id: uuid.UUID, **extra: Any) -> dict[str, Any]:
    """A valid new row of ``table`` for ``user_id``."""
    tag = uuid.uuid4().hex[:10]
    rows: dict[str, dict[str, Any]] = {
        "custom_tools": {"name": f"rls-{tag}", "code": "return 1;"},
        "composite_skills": {"name": f"rls-{tag}", "steps": []},
        "custom_tool_usage": {"tool_name": "rls", "status": "success"},
        "composite_skill_executions": {
            "composite_skill_id": world.skills.get(user_id, world.skills[world.owner])
        },
        "memory_synthesis_jobs": {"synthesis_type": "full_synthesis"},
        "memory_patterns": {"description": "p", "pattern_type": "theme", "layer": 1},
        "synthesis_recommendations": {"category": "c", "recommendation": "r"},
        "conversations": {"messages": [{"role": "user", "content": "hello"}]},
        "memory_search_cells": {"cell": next(world.cells), "centroid": VECTOR},
    }
    row = {"user_id": user_id, **rows[table], **extra}
    if table != "memory_search_cells":
        row = {"id": uuid.uuid4(), **row}
    return row


#: The column each table's "update" changes, and to what.
UPDATE_COLUMN = {
    "custom_tools": ("description", "changed"),
    "composite_skills": ("description", "changed"),
    "custom_tool_usage": ("error_message", "changed"),
    "composite_skill_executions": ("error_message", "changed"),
    "memory_synthesis_jobs": ("error_message", "changed"),
    "memory_patterns": ("description", "changed"),
    "synthesis_recommendations": ("recommendation", "changed"),
    "conversations": ("attachment_context", "changed"),
    "memory_search_cells": ("members", 7),
}
JSON_COLUMNS = frozenset({"steps", "messages", "parameters", "input_params", "insights", "evidence"})


def key_of(table: str, row: dict[str, Any]) -> dict[str, Any]:
    if table == "memory_search_cells":
        return {"user_id": row["user_id"], "cell": row["cell"]}
    return {"id": row["id"]}


def filters(key: dict[str, Any]) -> tuple[Filter, ...]:
    return tuple(Filter(col, "eq", str(value)) for col, value in key.items())


def table_cell(env: Env, world: World, who: Phase3Client, actor: uuid.UUID, table: str, op: str) -> str:
    """Run one table cell; its outcome as the database shows it."""
    col, value = UPDATE_COLUMN[table]
    public = {"visibility": "public"} if op.endswith("_public") else {}
    target = world.insert(table, new_row(world, table, world.owner, **public))
    key = key_of(table, target)
    before = world.fetch(table, key)
    transport = who._transport
    returning = tuple(key)
    try:
        if op.startswith("select"):
            rows = transport.select(Query(table, returning, filters(key)))
            return "visible" if rows else "hidden"
        if op.startswith("insert"):
            owner_for = actor if op == "insert" else world.owner
            fresh = new_row(world, table, owner_for)
            try:
                transport.insert(Insert(table, [fresh], returning, JSON_COLUMNS & set(fresh)))
            finally:
                made = world.fetch(table, key_of(table, fresh))
            return "ok" if made is not None else "none"
        if op.startswith("update"):
            values = {"user_id": str(world.other)} if op == "update_move" else {col: value}
            try:
                transport.update(Update(table, filters(key), values, returning))
            finally:
                after = world.fetch(table, key) or world.fetch(table, {**key, "user_id": world.other})
            return "ok" if after != before else "none"
        assert op.startswith("delete")
        try:
            transport.delete(Delete(table, filters(key), returning))
        finally:
            gone = world.fetch(table, key) is None
        return "ok" if gone else "none"
    except (PermissionDeniedError, AuthError):
        # Denied must mean untouched: re-read (the finally blocks above already did for writes).
        if op.startswith("update") and world.fetch(table, key) != before:
            return "LEAK: denied but changed"
        if op.startswith("delete") and world.fetch(table, key) is None:
            return "LEAK: denied but deleted"
        return "denied"


# -- RPCs ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RpcCase:
    """How to call one function against a target the owner holds, and how to read the outcome."""

    target: str | None  # "exec_leased" | "exec_expired" | "job_pending" | "job_running" | "memory" | None
    args: Callable[[World, uuid.UUID, uuid.UUID | None], dict[str, Any]]
    casts: dict[str, str]
    returns: str = "rows"
    #: "changed": the target row changed; "contains": the result holds the target; "value": any answer;
    #: "created": the row whose id is args' p_execution_id / the usage id now exists.
    effect: str = "changed"


def _step() -> dict[str, Any]:
    return {"stepId": "s1", "success": True}


RPCS: dict[str, RpcCase] = {
    "cancel_skill_execution": RpcCase("exec_leased", lambda w, a, t: {"p_execution_id": t}, {}),
    "checkpoint_skill_step": RpcCase(
        "exec_leased",
        lambda w, a, t: {
            "p_execution_id": t,
            "p_owner": "w",
            "p_lease_seconds": 60,
            "p_step": _step(),
            "p_usage": [],
        },
        {"p_step": "jsonb", "p_usage": "jsonb"},
        "scalar",
    ),
    "claim_skill_execution": RpcCase(
        "exec_expired", lambda w, a, t: {"p_execution_id": t, "p_owner": "thief", "p_lease_seconds": 60}, {}
    ),
    "claim_synthesis_jobs": RpcCase(
        "job_pending", lambda w, a, t: {"p_worker": "thief", "p_limit": 1000, "p_lease_seconds": 60}, {}
    ),
    "conversation_search_document": RpcCase(
        None,
        lambda w, a, t: {"messages": [{"role": "user", "content": "hi"}], "topics": ["x"]},
        {"messages": "jsonb", "topics": "text[]"},
        "scalar",
        "value",
    ),
    "embedding_sketch": RpcCase(
        None, lambda w, a, t: {"embedding": VECTOR}, {"embedding": "extensions.vector"}, "scalar", "value"
    ),
    "fail_synthesis_job": RpcCase(
        "job_running",
        lambda w, a, t: {
            "p_job_id": t,
            "p_worker": "w",
            "p_error": "x",
            "p_retry_in_seconds": 10.0,
            "p_next_run": None,
        },
        {},
    ),
    "find_expired_skill_executions": RpcCase(
        "exec_expired", lambda w, a, t: {"p_limit": 10000}, {}, effect="contains"
    ),
    "finish_skill_execution": RpcCase(
        "exec_leased",
        lambda w, a, t: {
            "p_execution_id": t,
            "p_owner": "w",
            "p_status": "completed",
            "p_final_output": {"done": True},
            "p_error": None,
            "p_execution_time_ms": 1.0,
        },
        {"p_final_output": "jsonb"},
    ),
    "finish_synthesis_job": RpcCase(
        "job_running",
        lambda w, a, t: {
            "p_job_id": t,
            "p_worker": "w",
            "p_patterns": [],
            "p_insights": {},
            "p_memories_analyzed": 0,
            "p_next_run": None,
        },
        {"p_patterns": "jsonb", "p_insights": "jsonb"},
    ),
    "heartbeat_synthesis_job": RpcCase(
        "job_running",
        lambda w, a, t: {"p_job_id": t, "p_worker": "w", "p_progress": 0.5, "p_lease_seconds": 60},
        {},
        "scalar",
    ),
    "hybrid_search": RpcCase(
        "memory",
        lambda w, a, t: {
            "query_text": "zebra",
            "query_embedding": VECTOR,
            "match_count": 1000,
            "semantic_weight": 1.0,
            "text_weight": 1.0,
            "rrf_k": 50,
            "filter_salience_tier": None,
            "filter_since": None,
            "include_deleted": False,
        },
        {"query_embedding": "extensions.vector"},
        effect="contains",
    ),
    "log_tool_calls": RpcCase(
        None,
        lambda w, a, t: {
            "p_usage": [
                {"id": str(uuid.uuid4()), "user_id": str(w.owner), "tool_name": "rls", "status": "success"}
            ]
        },
        {"p_usage": "jsonb"},
        "scalar",
        "created",
    ),
    "semantic_search": RpcCase(
        "memory",
        lambda w, a, t: {
            "query_embedding": VECTOR,
            "match_count": 1000,
            "match_threshold": None,
            "filter_salience_tier": None,
            "filter_since": None,
            "include_deleted": False,
            "exact": True,
        },
        {"query_embedding": "extensions.vector"},
        effect="contains",
    ),
    "start_skill_execution": RpcCase(
        None,
        lambda w, a, t: {
            "p_execution_id": str(uuid.uuid4()),
            "p_skill_id": str(w.skills[w.owner]),
            "p_user_id": str(w.owner),
            "p_input": {},
            "p_snapshot": [],
            "p_owner": "w",
            "p_lease_seconds": 60.0,
        },
        {"p_input": "jsonb", "p_snapshot": "jsonb"},
        effect="created",
    ),
    "text_search": RpcCase(
        "memory",
        lambda w, a, t: {
            "query": "zebra",
            "match_count": 1000,
            "filter_salience_tier": None,
            "filter_since": None,
            "include_deleted": False,
        },
        {},
        effect="contains",
    ),
    # Removed: counters follow from rows now (20260202001350_usage_counters.sql). No role may call them.
    "record_tool_use": RpcCase(None, lambda w, a, t: {"p_tool_id": str(uuid.uuid4())}, {}, "none", "value"),
    "record_skill_execution": RpcCase(
        None, lambda w, a, t: {"p_skill_id": str(uuid.uuid4())}, {}, "none", "value"
    ),
}


def seed_target(world: World, kind: str | None) -> tuple[str, uuid.UUID] | None:
    """A fresh row the owner holds, in the state the RPC acts on; (table, id)."""
    if kind is None:
        return None
    target = uuid.uuid4()
    owner, skill = world.owner, world.skills[world.owner]
    if kind.startswith("exec"):
        leased = kind == "exec_leased"
        world.insert(
            "composite_skill_executions",
            {
                "id": target,
                "composite_skill_id": skill,
                "user_id": owner,
                "status": "running",
                "lease_owner": "w" if leased else "dead",
                "skill_snapshot": [],
            },
        )
        world.db.execute(
            "update public.composite_skill_executions set lease_expires_at = now() + %s * interval '1 hour'"
            " where id = %s",
            (1 if leased else -1, target),
        )
        return "composite_skill_executions", target
    if kind.startswith("job"):
        running = kind == "job_running"
        world.insert(
            "memory_synthesis_jobs",
            {
                "id": target,
                "user_id": owner,
                "synthesis_type": "full_synthesis",
                "status": "running" if running else "pending",
                "lease_owner": "w" if running else None,
                "attempts": 1 if running else 0,
            },
        )
        if running:
            world.db.execute(
                "update public.memory_synthesis_jobs set lease_expires_at = now() + interval '1 hour'"
                " where id = %s",
                (target,),
            )
        return "memory_synthesis_jobs", target
    world.insert(
        "conversations",
        {
            "id": target,
            "user_id": owner,
            "embedding": VECTOR,
            "messages": [{"role": "user", "content": "a zebra crossing"}],
        },
    )
    return "conversations", target


def rpc_cell(world: World, who: Phase3Client, actor: uuid.UUID, name: str) -> str:
    case = RPCS[name]
    seeded = seed_target(world, case.target)
    target = seeded[1] if seeded else None
    args = case.args(world, actor, target)
    before = world.fetch(*seeded[:1], {"id": target}) if seeded else None
    created_id = args.get("p_execution_id") if name == "start_skill_execution" else None
    if name == "log_tool_calls":
        created_id = args["p_usage"][0]["id"]
    created_table = "composite_skill_executions" if name == "start_skill_execution" else "custom_tool_usage"
    try:
        if name.startswith("record_"):
            result = who.rpc(name, args, returns="none")  # the public call, as a user would try it
        else:
            result = who._transport.rpc(
                Rpc(name, args, returns=case.returns, casts=case.casts), idempotent=True
            )  # type: ignore[arg-type]
    except (PermissionDeniedError, AuthError):
        outcome = "denied"
    except NotFoundError as exc:
        absent = (
            exc.code in ("42883", "PGRST202") or "no function" in str(exc) or "Could not find" in str(exc)
        )
        outcome = "absent" if absent else "hidden"
    except ServerError as exc:
        if exc.code != "42883":
            raise
        outcome = "absent"
    else:
        if case.effect == "value":
            outcome = "ok" if result is not None else "none"
        elif case.effect == "contains":
            outcome = "ok" if any(str(r.get("id")) == str(target) for r in result) else "none"
        elif case.effect == "created":
            outcome = "ok" if world.fetch(created_table, {"id": created_id}) else "none"
        else:
            assert seeded is not None
            outcome = "ok" if world.fetch(seeded[0], {"id": target}) != before else "none"
    # Whatever the answer, a role that may not act left the owner's target as it was.
    untouched_expected = outcome in ("denied", "none", "hidden")
    if (
        untouched_expected
        and seeded
        and case.effect == "changed"
        and world.fetch(seeded[0], {"id": target}) != before
    ):
        outcome = f"LEAK: {outcome} but changed"
    refused = outcome in ("denied", "none", "hidden", "absent")
    if refused and created_id is not None and world.fetch(created_table, {"id": created_id}) is not None:
        outcome = f"LEAK: {outcome} but created"
    return outcome


# -- the matrix ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(db_url: str, backend: Env) -> Iterator[World]:
    from phase3_sdk.db.embedded import create_auth_user

    with psycopg.connect(db_url, autocommit=True) as db:
        owner = create_auth_user(db_url, f"owner-{uuid.uuid4().hex[:8]}@example.test", None)
        other = create_auth_user(db_url, f"other-{uuid.uuid4().hex[:8]}@example.test", None)
        skills = {}
        for uid in (owner, other):
            skills[uid] = uuid.uuid4()
            db.execute(
                "insert into public.composite_skills (id, user_id, name) values (%s, %s, %s)",
                (skills[uid], uid, f"base-{uuid.uuid4().hex[:8]}"),
            )
        start = int(time.time() * 1000) % 20000
        yield World(db, owner, other, skills, iter(range(start, start + 100000)))


def clients(env: Env, world: World) -> dict[str, tuple[Phase3Client, uuid.UUID]]:
    return {
        "anon": (env.client._as_identity(Identity.anon()), world.owner),
        "owner": (env.as_user(world.owner), world.owner),
        "other": (env.as_user(world.other), world.other),
        "service": (env.client, world.owner),
    }


def test_every_cell_matches_the_expected_table(backend: Env, world: World) -> None:
    got: dict[tuple[str, str], dict[str, str]] = {}
    who = clients(backend, world)
    for table, op in EXPECTED:
        row: dict[str, str] = {}
        for role in ROLES:
            client, actor = who[role]
            try:
                if op == "call":
                    row[role] = rpc_cell(world, client, actor, table)
                else:
                    row[role] = table_cell(backend, world, client, actor, table, op)
            except Phase3Error as exc:
                row[role] = f"error {type(exc).__name__}: {exc}"[:200]
        got[(table, op)] = row
    wrong = {
        f"{t}.{op}.{role}": f"expected {EXPECTED[(t, op)][role]}, got {row[role]}"
        for (t, op), row in got.items()
        for role in ROLES
        if row[role] != EXPECTED[(t, op)][role]
    }
    leaks = [k for k, v in wrong.items() if "LEAK" in v or any(x in v for x in ("got ok", "got visible"))]
    record(
        f"rls_{backend.kind}",
        {
            "backend": backend.kind,
            "cells": len(got) * len(ROLES),
            "mismatches": len(wrong),
            "leaks": len(leaks),
        },
    )
    assert wrong == {}, "\n".join(f"{k}: {v}" for k, v in sorted(wrong.items()))


def test_usage_counters_cannot_be_forged(backend: Env, world: World) -> None:
    """Counters follow from rows only: writing them as a user is ignored, on insert and on update."""
    me = backend.as_user(world.owner)
    tool = me.tools.create(name=f"ctr-{uuid.uuid4().hex[:8]}", code="return 1;", visibility="public")
    steps = [{"stepId": "a", "toolName": "ctr_echo"}]
    skill = me.skills.create(name=f"ctr-{uuid.uuid4().hex[:8]}", steps=steps, visibility="public")
    forged_id = uuid.uuid4()
    forged = Insert(
        "custom_tools",
        [
            {
                "id": str(forged_id),
                "user_id": str(world.owner),
                "name": f"f-{uuid.uuid4().hex[:8]}",
                "code": "return 1;",
                "usage_count": 1_000_000,
            }
        ],
        ("id",),
    )
    me._transport.insert(forged)
    me._transport.update(
        Update("custom_tools", (Filter("id", "eq", str(tool.id)),), {"usage_count": 999}, ("id",))
    )
    me._transport.update(
        Update("composite_skills", (Filter("id", "eq", str(skill.id)),), {"execution_count": 999}, ("id",))
    )
    assert world.fetch("custom_tools", {"id": forged_id})["usage_count"] == 0  # type: ignore[index]
    assert world.fetch("custom_tools", {"id": tool.id})["usage_count"] == 0  # type: ignore[index]
    assert world.fetch("composite_skills", {"id": skill.id})["execution_count"] == 0  # type: ignore[index]
    # Another user logging a call of the owner's PRIVATE tool does not count on it; of a public one, once.
    private = me.tools.create(name=f"ctr-{uuid.uuid4().hex[:8]}", code="return 1;")
    them = backend.as_user(world.other)
    for target in (private.id, tool.id):
        usage = [
            {
                "id": str(uuid.uuid4()),
                "user_id": str(world.other),
                "custom_tool_id": str(target),
                "tool_name": "x",
                "status": "success",
            }
        ]
        them._transport.rpc(
            Rpc("log_tool_calls", {"p_usage": usage}, "scalar", {"p_usage": "jsonb"}), idempotent=False
        )
    assert world.fetch("custom_tools", {"id": private.id})["usage_count"] == 0  # type: ignore[index]
    assert world.fetch("custom_tools", {"id": tool.id})["usage_count"] == 1  # type: ignore[index]


def _token(**claims: Any) -> str:
    now = int(time.time())
    base = {
        "sub": str(uuid.uuid4()),
        "role": "authenticated",
        "aud": "authenticated",
        "iat": now,
        "exp": now + 600,
    }
    return jwt.encode({**base, **claims}, JWT_SECRET, "HS256")


def _bad_tokens(user: uuid.UUID) -> dict[str, str]:
    good = _token(sub=str(user))
    head, body, sig = good.split(".")
    forged_body = jwt.utils.base64url_encode(  # type: ignore[attr-defined]
        jwt.utils.base64url_decode(body).replace(b'"authenticated"', b'"service_role"', 1)  # type: ignore[attr-defined]
    ).decode()
    return {
        "expired": _token(sub=str(user), iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
        "tampered": f"{head}.{forged_body}.{sig}",
        "wrong_secret": jwt.encode(jwt.decode(good, options={"verify_signature": False}), "x" * 40, "HS256"),
        "wrong_audience": _token(sub=str(user), aud="some-other-service"),
    }


def test_bad_tokens_are_refused_by_the_server_over_rest(world: World, emulator: Any, router: Any) -> None:
    """Sent as they are (as a client that cannot verify tokens would), the server refuses them: 401, typed."""
    with Phase3Client(BASE_URL, ANON_KEY) as client:
        for kind, token in _bad_tokens(world.owner).items():
            claims = jwt.decode(token, options={"verify_signature": False})
            identity = Identity(role="authenticated", claims=claims, access_token=token)
            sent = len(router.calls)
            try:
                rows = client._as_identity(identity).tools.page(page_size=5).items
            except AuthError as exc:
                refused = exc
            else:
                refused = None
            if refused is not None:
                assert refused.status == 401, kind
                assert len(router.calls) == sent + 1, kind
                continue
            # PostgREST checks aud only when its jwt-aud is set (Supabase does not set it), and the
            # emulator does as PostgREST: the token is for the owner, so it reads the owner's rows only.
            assert kind == "wrong_audience", f"{kind}: the server accepted it"
            assert all(r.user_id == world.owner or r.visibility == "public" for r in rows)


def test_bad_tokens_are_refused_before_any_request_when_the_client_verifies(
    backend: Env, world: World
) -> None:
    """With the JWT secret (a direct connection must have it), bad tokens fail in as_user, sending nothing."""
    for kind, token in _bad_tokens(world.owner).items():
        sent = backend.sent()
        with pytest.raises(AuthError):
            backend.client.as_user(token).tools.page(page_size=1)
        assert backend.sent() == sent, f"{kind}: nothing may be sent"
