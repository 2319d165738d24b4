"""Row-level security proven in SQL, below the SDK: what a database role can do, whatever client it uses.

Each test runs statements the way PostgREST runs them: ``set_config('role', ...)`` and
``request.jwt.claims`` local to a transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from phase3_sdk.schema.tables import ALL_TABLES

TABLES = tuple(table.name for table in ALL_TABLES)
VECTOR = "[" + ",".join(["0.5"] * 768) + "]"


@pytest.fixture(scope="module")
def admin(db_url: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


def _seed(
    conn: psycopg.Connection[dict[str, Any]], owner: uuid.UUID, *, public: bool = False
) -> dict[str, uuid.UUID]:
    """One row in each of the eight tables, owned by ``owner`` (written as the superuser)."""
    ids = {t: uuid.uuid4() for t in TABLES}
    visibility = "public" if public else "private"
    conn.execute(
        "insert into conversations (id, user_id, messages, embedding) values (%s, %s, %s, %s)",
        (ids["conversations"], owner, json.dumps([{"role": "user", "content": "secret"}]), VECTOR),
    )
    conn.execute(
        "insert into custom_tools (id, user_id, name, code, visibility) values (%s, %s, %s, 'return 1;', %s)",
        (ids["custom_tools"], owner, f"tool-{ids['custom_tools']}", visibility),
    )
    conn.execute(
        "insert into custom_tool_usage (id, user_id, custom_tool_id, status) values (%s, %s, %s, 'success')",
        (ids["custom_tool_usage"], owner, ids["custom_tools"]),
    )
    conn.execute(
        "insert into composite_skills (id, user_id, name, visibility) values (%s, %s, %s, %s)",
        (ids["composite_skills"], owner, f"skill-{ids['composite_skills']}", visibility),
    )
    conn.execute(
        "insert into composite_skill_executions (id, user_id, composite_skill_id) values (%s, %s, %s)",
        (ids["composite_skill_executions"], owner, ids["composite_skills"]),
    )
    conn.execute(
        "insert into memory_synthesis_jobs (id, user_id, synthesis_type) values (%s, %s, 'full_synthesis')",
        (ids["memory_synthesis_jobs"], owner),
    )
    conn.execute(
        "insert into memory_patterns (id, user_id, pattern_type, layer, description, confidence)"
        " values (%s, %s, 'x', 2, 'd', 0.5)",
        (ids["memory_patterns"], owner),
    )
    conn.execute(
        "insert into synthesis_recommendations (id, user_id, pattern_id, recommendation, category)"
        " values (%s, %s, %s, 'r', 'c')",
        (ids["synthesis_recommendations"], owner, ids["memory_patterns"]),
    )
    return ids


def _as(conn: psycopg.Connection[dict[str, Any]], role: str, user: uuid.UUID | None) -> None:
    claims: dict[str, str] = {"role": role}
    if user:
        claims["sub"] = str(user)
    conn.execute(
        "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
        (role, json.dumps(claims)),
    )


def _new_user(conn: psycopg.Connection[dict[str, Any]]) -> uuid.UUID:
    row = conn.execute(
        "insert into auth.users (email) values (%s) returning id", (f"{uuid.uuid4().hex}@rls.test",)
    ).fetchone()
    assert row is not None
    return uuid.UUID(str(row["id"]))


@pytest.mark.parametrize("table", TABLES)
def test_a_user_cannot_see_change_or_delete_another_users_rows(admin, table: str) -> None:
    alice, bob = _new_user(admin), _new_user(admin)
    ids = _seed(admin, alice)
    row_id = ids[table]
    with admin.transaction(force_rollback=True):
        _as(admin, "authenticated", bob)
        assert admin.execute(f"select id from {table} where id = %s", (row_id,)).fetchall() == []
        assert (
            admin.execute(
                f"update {table} set user_id = user_id where id = %s returning id", (row_id,)
            ).fetchall()
            == []
        )
        assert admin.execute(f"delete from {table} where id = %s returning id", (row_id,)).fetchall() == []
    # The owner still sees the row, untouched: the statements above were no-ops, not errors hidden by RLS.
    with admin.transaction(force_rollback=True):
        _as(admin, "authenticated", alice)
        assert len(admin.execute(f"select id from {table} where id = %s", (row_id,)).fetchall()) == 1


@pytest.mark.parametrize("table", TABLES)
def test_a_user_cannot_write_a_row_in_another_users_name(admin, table: str) -> None:
    alice, bob = _new_user(admin), _new_user(admin)
    ids = _seed(admin, bob)
    with admin.transaction(force_rollback=True):
        _as(admin, "authenticated", bob)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            # Bob hands his own row to Alice: the policy's WITH CHECK refuses the new owner.
            admin.execute(f"update {table} set user_id = %s where id = %s", (alice, ids[table]))


@pytest.mark.parametrize("table", TABLES)
def test_anon_sees_nothing(admin, table: str) -> None:
    _seed(admin, _new_user(admin), public=True)
    with admin.transaction(force_rollback=True):
        _as(admin, "anon", None)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            admin.execute(f"select count(*) from {table}")


def test_public_tools_and_skills_are_readable_but_not_writable_by_others(admin) -> None:
    alice, bob = _new_user(admin), _new_user(admin)
    ids = _seed(admin, alice, public=True)
    for table in ("custom_tools", "composite_skills"):
        with admin.transaction(force_rollback=True):
            _as(admin, "authenticated", bob)
            assert len(admin.execute(f"select id from {table} where id = %s", (ids[table],)).fetchall()) == 1
            changed = admin.execute(
                f"update {table} set description = 'mine now' where id = %s returning id", (ids[table],)
            ).fetchall()
            assert changed == []
            assert (
                admin.execute(f"delete from {table} where id = %s returning id", (ids[table],)).fetchall()
                == []
            )


def test_semantic_search_returns_only_the_callers_memories(admin) -> None:
    alice, bob = _new_user(admin), _new_user(admin)
    alice_ids = _seed(admin, alice)
    _seed(admin, bob)
    with admin.transaction(force_rollback=True):
        _as(admin, "authenticated", alice)
        rows = admin.execute(
            "select id, user_id from public.semantic_search(%s::extensions.vector, 100)", (VECTOR,)
        ).fetchall()
    assert {r["user_id"] for r in rows} == {alice}
    assert alice_ids["conversations"] in {r["id"] for r in rows}


def test_semantic_search_takes_no_user_id_and_anon_cannot_call_it(admin) -> None:
    signatures = admin.execute(
        "select pg_get_function_identity_arguments(p.oid) as args from pg_proc p"
        " join pg_namespace n on n.oid = p.pronamespace"
        " where n.nspname = 'public' and p.proname = 'semantic_search'"
    ).fetchall()
    assert signatures
    assert all("user_id" not in s["args"] for s in signatures)
    with admin.transaction(force_rollback=True):
        _as(admin, "anon", None)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            admin.execute("select * from public.semantic_search(%s::extensions.vector)", (VECTOR,))
