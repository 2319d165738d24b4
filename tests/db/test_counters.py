"""Usage counters follow from rows and nothing else: a signed-in user cannot inflate them.

Statements run as PostgREST runs them (role and JWT claims local to a transaction), below the SDK.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row


@pytest.fixture(scope="module")
def admin(db_url: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


def _user(conn: psycopg.Connection[dict[str, Any]]) -> uuid.UUID:
    row = conn.execute(
        "insert into auth.users (email) values (%s) returning id", (f"{uuid.uuid4().hex}@counters.test",)
    ).fetchone()
    assert row is not None
    return uuid.UUID(str(row["id"]))


def _as(conn: psycopg.Connection[dict[str, Any]], user: uuid.UUID) -> None:
    claims = json.dumps({"role": "authenticated", "sub": str(user)})
    conn.execute(
        "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
        (claims,),
    )


def _tool(conn: psycopg.Connection[dict[str, Any]], owner: uuid.UUID, visibility: str) -> uuid.UUID:
    tool = uuid.uuid4()
    conn.execute(
        "insert into custom_tools (id, user_id, name, code, visibility) values (%s, %s, %s, 'x', %s)",
        (tool, owner, f"t-{tool}", visibility),
    )
    return tool


def _count(conn: psycopg.Connection[dict[str, Any]], table: str, column: str, row_id: uuid.UUID) -> int:
    row = conn.execute(f"select {column} as n from {table} where id = %s", (row_id,)).fetchone()
    assert row is not None
    return int(row["n"])


def test_the_counting_functions_are_gone_from_the_api(admin) -> None:
    # These were SECURITY DEFINER and callable through /rest/v1/rpc by any signed-in user.
    for name in ("record_tool_use", "record_skill_execution"):
        row = admin.execute("select to_regprocedure(%s) as f", (f"public.{name}(uuid)",)).fetchone()
        assert row is not None
        assert row["f"] is None
    definers = admin.execute(
        "select p.oid::regprocedure::text as f from pg_proc p join pg_namespace n on n.oid = p.pronamespace"
        " where n.nspname = 'public' and p.prosecdef"
        " and (has_function_privilege('authenticated', p.oid, 'execute')"
        "      or has_function_privilege('anon', p.oid, 'execute'))"
    ).fetchall()
    assert definers == []


def test_each_logged_call_counts_once_on_an_own_or_public_tool_only(admin) -> None:
    alice, bob = _user(admin), _user(admin)
    public, private = _tool(admin, alice, "public"), _tool(admin, alice, "private")
    with admin.transaction():
        _as(admin, bob)
        admin.execute(
            "insert into custom_tool_usage (user_id, custom_tool_id, status)"
            " values (%s, %s, 'success'), (%s, %s, 'success'), (%s, %s, 'success')",
            (bob, public, bob, public, bob, private),
        )
    assert _count(admin, "custom_tools", "usage_count", public) == 2
    # Bob named a private tool of Alice's (the foreign key does not look at RLS): logged, never counted.
    assert _count(admin, "custom_tools", "usage_count", private) == 0


def test_a_tool_owner_cannot_set_the_counter(admin) -> None:
    alice = _user(admin)
    with admin.transaction():
        _as(admin, alice)
        row = admin.execute(
            "insert into custom_tools (user_id, name, code, visibility, usage_count, last_used)"
            " values (%s, 'inflated', 'x', 'public', 1000000, now()) returning id, usage_count, last_used",
            (alice,),
        ).fetchone()
        assert row is not None
        assert (row["usage_count"], row["last_used"]) == (0, None)
        updated = admin.execute(
            "update custom_tools set usage_count = 999, description = 'edited' where id = %s"
            " returning usage_count, description",
            (row["id"],),
        ).fetchone()
    assert updated == {"usage_count": 0, "description": "edited"}
    # The service role (it bypasses RLS) may repair a counter.
    admin.execute("update custom_tools set usage_count = 7 where id = %s", (row["id"],))
    assert _count(admin, "custom_tools", "usage_count", row["id"]) == 7


def test_an_execution_counts_once_when_it_ends_and_cannot_be_replayed(admin) -> None:
    alice, bob = _user(admin), _user(admin)
    skill = uuid.uuid4()
    admin.execute(
        "insert into composite_skills (id, user_id, name, visibility) values (%s, %s, 's', 'public')",
        (skill, alice),
    )
    run = uuid.uuid4()
    with admin.transaction():
        _as(admin, bob)
        admin.execute(
            "insert into composite_skill_executions (id, user_id, composite_skill_id) values (%s, %s, %s)",
            (run, bob, skill),
        )
        admin.execute("update composite_skill_executions set status = 'completed' where id = %s", (run,))
        admin.execute("update composite_skill_executions set error_message = 'note' where id = %s", (run,))
    with admin.transaction():
        _as(admin, alice)  # the skill's owner may edit it, but not its counter
        admin.execute("update composite_skills set execution_count = 5, icon = 'x' where id = %s", (skill,))
    assert _count(admin, "composite_skills", "execution_count", skill) == 1
    with admin.transaction():
        _as(admin, bob)
        with pytest.raises(psycopg.errors.CheckViolation, match="already completed"):
            admin.execute("update composite_skill_executions set status = 'running' where id = %s", (run,))
    # Written already finished (an executor of the app's own that inserts the final row): counted too.
    with admin.transaction():
        _as(admin, bob)
        admin.execute(
            "insert into composite_skill_executions (user_id, composite_skill_id, status)"
            " values (%s, %s, 'failed')",
            (bob, skill),
        )
    assert _count(admin, "composite_skills", "execution_count", skill) == 2
