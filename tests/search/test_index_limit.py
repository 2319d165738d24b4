"""At most ``max_indexes`` users hold a search index of their own, the largest: every index on
``conversations`` is one more the planner weighs for each statement on the table.

A database of its own (the limit counts every index on the table): three users with 300, 200 and 120
memories, indexed from 100 memories, at most two indexes.
"""

from __future__ import annotations

import uuid

import numpy as np
import psycopg
import pytest

from phase3_sdk import Phase3Client
from phase3_sdk.cli import main
from phase3_sdk.db.embedded import create_auth_user
from phase3_sdk.db.tune import index_name, tune_search
from phase3_sdk.errors import InvalidInputError

MIN, LIMIT = 100, 2


def add_memories(db_url: str, user: uuid.UUID, count: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count, 768)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with Phase3Client.connect(db_url) as root:
        root.as_user(user_id=user).conversations.bulk_create(
            [
                {"messages": [{"role": "user", "content": f"m{seed}-{i}"}], "embedding": v}
                for i, v in enumerate(vectors)
            ]
        )


def indexed(db_url: str) -> set[uuid.UUID]:
    """Users with an entry in memory_search_indexes and the index it names."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "select user_id from public.memory_search_indexes"
            " where to_regclass('public.' || index_name) is not null"
        ).fetchall()
    return {r[0] for r in rows}


@pytest.fixture(scope="module")
def users(db_url: str) -> dict[str, uuid.UUID]:
    made = {name: create_auth_user(db_url, f"{name}@example.test") for name in ("big", "mid", "small")}
    for seed, (name, count) in enumerate((("big", 300), ("mid", 200), ("small", 120))):
        add_memories(db_url, made[name], count, seed)
    return made


def test_the_largest_users_get_the_indexes_and_the_rest_are_named(
    db_url: str, users: dict[str, uuid.UUID]
) -> None:
    planned = tune_search(db_url, min_memories=MIN, max_indexes=LIMIT, dry_run=True)
    assert sorted((u.user_id, u.action) for u in planned.tuned) == sorted(
        [(users["big"], "new"), (users["mid"], "new")]
    )
    assert planned.left_out == (users["small"],)
    assert "1 user with enough memories left without an index" in planned.summary()
    done = tune_search(db_url, min_memories=MIN, max_indexes=LIMIT)
    assert done.left_out == (users["small"],)
    assert indexed(db_url) == {users["big"], users["mid"]}
    with Phase3Client.connect(db_url) as root:
        hits = root.as_user(user_id=users["small"]).search.semantic([1.0] + [0.0] * 767, threshold=None)
    assert hits.method == "exact"  # searched as before, only without an index of its own
    # Nothing changed: nothing to do, and the small user is still named.
    again = tune_search(db_url, min_memories=MIN, max_indexes=LIMIT, dry_run=True)
    assert again.tuned == ()
    assert again.left_out == (users["small"],)

    # Grown past the mid user, but not twice its size: an indexed user keeps its index (no churn).
    add_memories(db_url, users["small"], 180, seed=10)  # 300 memories against mid's 200
    assert tune_search(db_url, min_memories=MIN, max_indexes=LIMIT, dry_run=True).tuned == ()

    # Twice the mid user's size: it takes the mid user's place, whose index is dropped first.
    add_memories(db_url, users["small"], 120, seed=11)  # 420 memories
    planned = tune_search(db_url, min_memories=MIN, max_indexes=LIMIT, dry_run=True)
    assert [(u.user_id, u.action) for u in planned.tuned] == [
        (users["mid"], "crowded"),
        (users["small"], "new"),
    ]
    assert "larger users fill the index limit: drop" in planned.tuned[0].describe()
    assert planned.left_out == ()  # the crowded user is in the plan, not left out
    done = tune_search(db_url, min_memories=MIN, max_indexes=LIMIT)
    assert done.summary().startswith("tuned 2 users (1 new, 1 crowded)")
    assert indexed(db_url) == {users["big"], users["small"]}
    with psycopg.connect(db_url) as conn:
        assert conn.execute("select to_regclass(%s)", (f"public.{index_name(users['mid'])}",)).fetchone() == (
            None,
        )


def test_a_run_for_some_users_fits_into_the_room_the_others_leave(
    db_url: str, users: dict[str, uuid.UUID], capsys: pytest.CaptureFixture[str]
) -> None:
    # Two users indexed: what the test above leaves, made here too (nothing to do after it), since under
    # pytest-xdist this test may run on a worker where the one above did not.
    tune_search(db_url, min_memories=MIN, max_indexes=LIMIT)
    before = indexed(db_url)
    assert len(before) == LIMIT
    (outside,) = {users["big"], users["mid"], users["small"]} - before
    # Only the user without an index: the two others' indexes fill the limit, whatever their size.
    planned = tune_search(db_url, min_memories=MIN, max_indexes=LIMIT, user_ids=[outside], dry_run=True)
    assert planned.tuned == ()
    assert planned.left_out == (outside,)
    args = [
        "db",
        "tune-search",
        "--db-url",
        db_url,
        "--min-memories",
        str(MIN),
        "--max-indexes",
        "3",
        "--dry-run",
    ]
    assert main(args) == 0
    assert "would tune 1 user (1 new)" in capsys.readouterr().out
    args[-2:] = ["1", "--dry-run"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "enough memories, but larger users fill the index limit: no index" in out
    assert "(1 crowded)" in out
    # An entry whose index a failed build never made: with no room for a build, the entry goes too (it
    # would otherwise send the user's searches to an index that is not there).
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "insert into public.memory_search_indexes (user_id, index_name, memories, ef_search)"
            " values (%s, %s, 200, 100)",
            (outside, index_name(outside)),
        )
    planned = tune_search(db_url, min_memories=MIN, max_indexes=LIMIT, dry_run=True)
    assert [(u.user_id, u.action) for u in planned.tuned] == [(outside, "crowded")]
    assert planned.left_out == ()
    tune_search(db_url, min_memories=MIN, max_indexes=LIMIT)
    with psycopg.connect(db_url) as conn:
        assert conn.execute(
            "select count(*) from public.memory_search_indexes where user_id = %s", (outside,)
        ).fetchone() == (0,)
    # No limit at all: every index goes.
    done = tune_search(db_url, min_memories=MIN, max_indexes=0)
    assert {u.action for u in done.tuned} == {"crowded"}
    assert indexed(db_url) == set()


def test_a_bad_limit_is_refused_before_any_work(db_url: str) -> None:
    for bad in (-1, 1.5, True):
        with pytest.raises(InvalidInputError, match="max_indexes"):
            tune_search(db_url, max_indexes=bad)  # type: ignore[arg-type]
