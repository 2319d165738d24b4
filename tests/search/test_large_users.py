"""Which users hold 2,000 memories or more is kept by triggers, so that a search need not count.

semantic_search ranks a caller exactly unless ``public.memory_search_large_users`` marks them (then, with no
index of their own, by the sketch scan). Inserts and deletes re-check the owner for one memory id in
sixteen (``uuid_hash(id) & 15 = 0``); these tests pick ids on either side of that line, so each of them
says exactly which write is checked. A database of its own: the last test empties the table.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest

from phase3_sdk import Phase3Client
from phase3_sdk.backends.sql import SET_IDENTITY, identity_params
from phase3_sdk.db import migrator
from phase3_sdk.db.embedded import create_auth_user
from phase3_sdk.db.tune import tune_search
from phase3_sdk.identity import Identity

LIMIT = 2000
MIGRATION = next(
    m
    for m in migrator.discover(Path(__file__).resolve().parents[2] / "supabase" / "migrations")
    if m.path.name.endswith("_search_large_users_marked.sql")
)


@pytest.fixture
def admin(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        yield conn


def ids(conn: psycopg.Connection, count: int, *, checked: bool) -> list[uuid.UUID]:
    """``count`` new memory ids whose writes the triggers check (``checked``) or pass over."""
    rows = conn.execute(
        "select g from (select gen_random_uuid() as g from generate_series(1, %s)) s"
        " where ((pg_catalog.uuid_hash(g) & 15) = 0) = %s limit %s",
        (count * 40 + 400, checked, count),
    ).fetchall()
    assert len(rows) == count
    return [r[0] for r in rows]


def add(conn: psycopg.Connection, user: uuid.UUID, count: int = 1, *, checked: bool | None = None) -> None:
    """``count`` memories for ``user`` in one statement, with ids of the given kind (or any)."""
    if checked is None:
        conn.execute(
            "insert into public.conversations (user_id) select %s from generate_series(1, %s)", (user, count)
        )
    else:
        conn.execute(
            "insert into public.conversations (id, user_id) select unnest(%s::uuid[]), %s",
            (ids(conn, count, checked=checked), user),
        )


def drop(conn: psycopg.Connection, user: uuid.UUID, *, checked: bool) -> None:
    """Delete one of ``user``'s memories whose delete the triggers check (or pass over)."""
    deleted = conn.execute(
        "delete from public.conversations where id = (select id from public.conversations"
        " where user_id = %s and ((pg_catalog.uuid_hash(id) & 15) = 0) = %s limit 1) returning id",
        (user, checked),
    ).fetchall()
    assert len(deleted) == 1


def marked(conn: psycopg.Connection) -> set[uuid.UUID]:
    return {r[0] for r in conn.execute("select user_id from public.memory_search_large_users")}


def test_an_owner_is_marked_at_2000_memories_and_unmarked_below(
    db_url: str, admin: psycopg.Connection
) -> None:
    user = create_auth_user(db_url, "grows@example.test")
    add(admin, user, LIMIT - 1)
    assert user not in marked(admin)
    # The 2,000th memory, on a write the triggers pass over: the mark comes with a later checked write.
    add(admin, user, checked=False)
    assert user not in marked(admin)
    add(admin, user, checked=True)
    assert user in marked(admin)
    drop(admin, user, checked=True)  # 2,000 left: still large
    assert user in marked(admin)
    drop(admin, user, checked=False)  # 1,999, passed over
    assert user in marked(admin)
    drop(admin, user, checked=True)
    assert user not in marked(admin)


def test_a_bulk_import_marks_its_owner(db_url: str, admin: psycopg.Connection) -> None:
    user = create_auth_user(db_url, "imports@example.test")
    add(admin, user, LIMIT + 500)  # ~156 of its ids are checked; one is enough, the rest find the mark
    assert user in marked(admin)
    admin.execute("delete from public.conversations where user_id = %s", (user,))
    assert user not in marked(admin)


def test_moving_memories_checks_both_owners_every_time(db_url: str, admin: psycopg.Connection) -> None:
    giver = create_auth_user(db_url, "giver@example.test")
    taker = create_auth_user(db_url, "taker@example.test")
    add(admin, giver, LIMIT, checked=False)
    add(admin, giver, checked=True)
    add(admin, taker, LIMIT - 1)
    assert giver in marked(admin)
    assert taker not in marked(admin)
    # Two unchecked ids move: 1,999 and 2,001 memories, both re-checked though neither id is sampled.
    admin.execute(
        "update public.conversations set user_id = %s where id in (select id from public.conversations"
        " where user_id = %s and (pg_catalog.uuid_hash(id) & 15) <> 0 limit 2)",
        (taker, giver),
    )
    assert taker in marked(admin)
    assert giver not in marked(admin)


def test_a_user_reads_their_own_mark_and_writes_none(db_url: str, admin: psycopg.Connection) -> None:
    large = create_auth_user(db_url, "reader@example.test")
    other = create_auth_user(db_url, "other@example.test")
    add(admin, large, LIMIT + 100)
    add(admin, other, LIMIT + 100)
    with psycopg.connect(db_url) as conn:
        conn.execute(SET_IDENTITY, identity_params(Identity.for_user(large)))
        assert [r[0] for r in conn.execute("select user_id from public.memory_search_large_users")] == [large]
        # Unmarking oneself would only make one's own searches slower; still, nobody but the triggers writes.
        for statement in (
            "delete from public.memory_search_large_users",
            "insert into public.memory_search_large_users (user_id) values (auth.uid())",
            "select public.mark_large_memory_owners()",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(statement)
    assert {large, other} <= marked(admin)


def test_search_ranks_an_unmarked_owner_exactly_and_a_marked_one_by_sketch(
    db_url: str, admin: psycopg.Connection
) -> None:
    user = create_auth_user(db_url, "searcher@example.test")
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(LIMIT, 768)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with Phase3Client.connect(db_url) as root:
        me = root.as_user(user_id=user)
        me.conversations.bulk_create(
            [
                {"messages": [{"role": "user", "content": f"m{i}"}], "embedding": v}
                for i, v in enumerate(vectors)
            ]
        )
        query = vectors[3] + 0.5 * vectors[11]
        truth = [f"m{i}" for i in np.argsort(-(vectors @ query))[:10]]

        def found() -> tuple[str, list[str]]:
            hits = me.search.semantic(query, threshold=None)
            return hits.method, [h.messages[0]["content"] for h in hits]

        assert user in marked(admin)
        method, texts = found()
        assert method == "sketch"
        assert texts[:2] == truth[:2]
        admin.execute("delete from public.memory_search_large_users where user_id = %s", (user,))
        assert found() == ("exact", truth)
        # Applying the migration again sets every mark right: this one back, a stray one away.
        small = create_auth_user(db_url, "small@example.test")
        add(admin, small, 10)
        admin.execute("insert into public.memory_search_large_users (user_id) values (%s)", (small,))
        migrator.apply_again(db_url, [MIGRATION])
        assert user in marked(admin)
        assert small not in marked(admin)
        assert found()[0] == "sketch"


def test_tune_search_sets_the_marks_right(db_url: str, admin: psycopg.Connection) -> None:
    # Two concurrent imports of 1,500 each: neither sees 2,000, so neither marks the user.
    late = create_auth_user(db_url, "late@example.test")
    with psycopg.connect(db_url) as first, psycopg.connect(db_url) as second:
        for conn in (first, second):
            add(conn, late, 1500)
    assert late not in marked(admin)
    stray = create_auth_user(db_url, "stray@example.test")
    add(admin, stray, 10)
    admin.execute("insert into public.memory_search_large_users (user_id) values (%s)", (stray,))
    users = [late, stray]
    planned = tune_search(db_url, user_ids=users, dry_run=True)
    assert planned.marks == 2
    assert planned.summary().endswith("; 2 size marks to set right")
    assert late not in marked(admin)
    assert stray in marked(admin)
    done = tune_search(db_url, user_ids=users)
    assert done.marks == 2
    assert done.summary().endswith("; 2 size marks set right")
    assert late in marked(admin)
    assert stray not in marked(admin)
    assert tune_search(db_url, user_ids=users).marks == 0


def test_emptying_the_table_unmarks_everyone(db_url: str, admin: psycopg.Connection) -> None:
    user = create_auth_user(db_url, "emptied@example.test")
    add(admin, user, LIMIT + 100)
    assert marked(admin)
    admin.execute("truncate public.conversations cascade")
    assert marked(admin) == set()
