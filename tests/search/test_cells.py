"""Per-user search cells (``phase3 db tune-search``): exact results from a fraction of the memories."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import psycopg
import pytest

from phase3_sdk import Phase3Client
from phase3_sdk.cli import main
from phase3_sdk.db.tune import tune_search
from phase3_sdk.errors import InvalidInputError

MakeUser = Callable[..., uuid.UUID]
N, CLUSTERS = 3000, 40


def unit(x: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.float32]]:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def corpus(db_url: str) -> dict[str, Any]:
    """A user with 3,000 clustered memories plus ten planted around each of three queries, tuned into cells.

    Every 7th memory is 'high' tier and every 250th 'critical' (13, all over the clusters); one copy of each
    query is deleted. A second user has 50 memories.
    A query reads cells until they hold 600 memories (a fifth of this user's), not the default 4,000.
    """
    from phase3_sdk.db.embedded import create_auth_user

    with psycopg.connect(db_url, autocommit=True) as conn:
        name = conn.execute("select current_database()").fetchone()
        assert name is not None
        conn.execute(f"alter database {name[0]} set phase3.search_min_rows = 600")

    rng = np.random.default_rng(5)
    centres = rng.normal(size=(CLUSTERS, 768))
    vectors = centres[rng.integers(0, CLUSTERS, N)] + rng.normal(scale=0.9, size=(N, 768))
    queries = unit(centres[:3] + rng.normal(scale=0.6, size=(3, 768)))
    planted = np.concatenate([q + rng.normal(scale=0.03, size=(10, 768)) for q in queries])
    vectors = unit(np.concatenate([vectors, planted]))
    tiers = ["critical" if i % 250 == 0 else "high" if i % 7 == 0 else "medium" for i in range(len(vectors))]
    owner = create_auth_user(db_url, "cells@example.test")
    small = create_auth_user(db_url, "small@example.test")
    with Phase3Client.connect(db_url) as root:
        me = root.as_user(user_id=owner)
        rows = [
            {"messages": [{"role": "user", "content": f"m{i}"}], "embedding": v, "salience_tier": t}
            for i, (v, t) in enumerate(zip(vectors, tiers, strict=True))
        ]
        rows += [
            {"messages": [{"role": "user", "content": f"deleted{j}"}], "embedding": q, "is_deleted": True}
            for j, q in enumerate(queries)
        ]
        me.conversations.bulk_create(rows, batch_size=1500)
        root.as_user(user_id=small).conversations.bulk_create(
            [
                {"messages": [{"role": "user", "content": f"s{i}"}], "embedding": v}
                for i, v in enumerate(vectors[:50])
            ]
        )
    edited = "select max(updated_at), count(*) from conversations where user_id = %s"
    with psycopg.connect(db_url) as conn:
        before = conn.execute(edited, (owner,)).fetchone()
    report = tune_search(db_url, min_memories=1000, rows_per_cell=100)
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute(edited, (owner,)).fetchone() == before  # upkeep is not an edit
        conn.execute("vacuum analyze public.conversations")  # index-only scans need the visibility map
    return {
        "owner": owner,
        "small": small,
        "vectors": vectors,
        "queries": queries,
        "tiers": tiers,
        "report": report,
    }


def texts(hits: list[Any]) -> list[str]:
    return [h.messages[0]["content"] for h in hits]


def exact_top(corpus: dict[str, Any], q: np.ndarray[Any, Any], k: int, tier: str | None = None) -> list[str]:
    sims = corpus["vectors"] @ q
    order = [int(i) for i in np.argsort(-sims) if tier is None or corpus["tiers"][i] == tier]
    return [f"m{i}" for i in order[:k]]


def test_tuning_assigns_every_live_memory_and_skips_small_users(db_url: str, corpus: dict[str, Any]) -> None:
    report = corpus["report"]
    assert [u.user_id for u in report.tuned] == [corpus["owner"]]
    assert report.tuned[0].memories == N + 30
    assert report.tuned[0].cells == 30  # 3,030 memories at 100 per cell
    assert report.skipped == 1
    assert "tuned 1 user (3,030 memories, 30 cells)" in report.summary()
    with psycopg.connect(db_url) as conn:
        cells = conn.execute(
            "select count(*), sum(members), min(members) from memory_search_cells where user_id = %s",
            (corpus["owner"],),
        ).fetchone()
        assert cells is not None
        assert cells[:2] == (30, N + 30)
        assert cells[2] > 0  # no empty cell
        by_state = dict(
            conn.execute(
                "select is_deleted, count(*) filter (where search_cell >= 0) from conversations"
                " where user_id = %s group by 1",
                (corpus["owner"],),
            ).fetchall()
        )
        assert by_state == {False: N + 30, True: 0}  # deleted memories stay unassigned
        small = conn.execute(
            "select count(*) from conversations where user_id = %s and search_cell <> -1", (corpus["small"],)
        ).fetchone()
        assert small == (0,)


def test_the_stored_sketch_is_what_the_search_computes_for_a_query(
    db_url: str, corpus: dict[str, Any]
) -> None:
    """The column spells out public.embedding_sketch's formula (faster to write); the two must agree bit for
    bit, or ranking by sketch distance compares unlike things."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "select count(*), count(*) filter (where embedding_sketch <> public.embedding_sketch(embedding)"
            "::bit(2304)) from conversations where embedding is not null"
        ).fetchone()
    assert row is not None
    assert row[0] > N
    assert row[1] == 0


def test_search_with_cells_returns_the_exact_top_hits(db_url: str, corpus: dict[str, Any]) -> None:
    with Phase3Client.connect(db_url) as root:
        me = root.as_user(user_id=corpus["owner"])
        for j, q in enumerate(corpus["queries"]):
            assert texts(me.search.semantic(q, match_count=10, threshold=None)) == exact_top(corpus, q, 10)
            # Filters apply before ranking, inside the cells read.
            high = me.search.semantic(q, match_count=5, threshold=None, salience_tier="high")
            assert texts(high) == exact_top(corpus, q, 5, tier="high")
            with_deleted = me.search.semantic(q, match_count=1, threshold=None, include_deleted=True)
            assert texts(with_deleted) == [f"deleted{j}"]


def test_a_selective_filter_reads_every_cell(db_url: str, corpus: dict[str, Any]) -> None:
    """The nearest cells hold only a few 'critical' memories; the best ten of all 13 must still come back."""
    with Phase3Client.connect(db_url) as root:
        me = root.as_user(user_id=corpus["owner"])
        q = corpus["queries"][0]
        hits = me.search.semantic(q, match_count=10, threshold=None, salience_tier="critical")
        assert texts(hits) == exact_top(corpus, q, 10, tier="critical")


def test_a_query_reads_only_its_nearest_cells(db_url: str, corpus: dict[str, Any]) -> None:
    """Move a planted memory to the cell farthest from its query: the query no longer sees it. Changing its
    embedding marks it unassigned again (the trigger), and every query reads unassigned memories."""
    q = corpus["queries"][0]
    planted = exact_top(corpus, q, 1)[0]
    with Phase3Client.connect(db_url) as root, psycopg.connect(db_url, autocommit=True) as conn:
        me = root.as_user(user_id=corpus["owner"])
        far = conn.execute(
            "select cell from memory_search_cells where user_id = %s"
            " order by centroid operator(extensions.<=>) %s::extensions.vector desc limit 1",
            (corpus["owner"], "[" + ",".join(map(str, q.tolist())) + "]"),
        ).fetchone()
        assert far is not None
        moved = (
            "update conversations set search_cell = %s where user_id = %s and messages->0->>'content' = %s"
        )
        conn.execute(moved, (far[0], corpus["owner"], planted))
        assert planted not in texts(me.search.semantic(q, match_count=10, threshold=None))

        # exact=True compares the query with every memory, cells or not.
        assert texts(me.search.semantic(q, match_count=1, threshold=None, exact=True)) == [planted]
        with pytest.raises(InvalidInputError, match="exact"):
            me.search.semantic(q, exact="yes")  # type: ignore[arg-type]

        nudged = unit(corpus["vectors"][int(planted[1:])] + 1e-3)
        conn.execute(
            "update conversations set embedding = %s::extensions.vector where user_id = %s"
            " and messages->0->>'content' = %s",
            ("[" + ",".join(map(str, nudged.tolist())) + "]", corpus["owner"], planted),
        )
        cell = conn.execute(
            "select search_cell from conversations where user_id = %s and messages->0->>'content' = %s",
            (corpus["owner"], planted),
        ).fetchone()
        assert cell == (-1,)
        assert planted in texts(me.search.semantic(q, match_count=10, threshold=None))


def test_memories_written_after_tuning_are_found(db_url: str, corpus: dict[str, Any]) -> None:
    q = corpus["queries"][1]
    with Phase3Client.connect(db_url) as root:
        me = root.as_user(user_id=corpus["owner"])
        me.conversations.create(messages=[{"role": "user", "content": "fresh"}], embedding=q)
        assert texts(me.search.semantic(q, match_count=1, threshold=None)) == ["fresh"]


def test_cells_are_private_and_written_only_by_the_tuner(db_url: str, corpus: dict[str, Any]) -> None:
    def as_user(conn: psycopg.Connection[Any], user: uuid.UUID) -> None:
        conn.execute(
            "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
            (json.dumps({"sub": str(user), "role": "authenticated"}),),
        )

    with psycopg.connect(db_url) as conn:
        as_user(conn, corpus["owner"])
        assert conn.execute("select count(*) from memory_search_cells").fetchone() == (30,)
        conn.rollback()
        as_user(conn, corpus["small"])
        assert conn.execute("select count(*) from memory_search_cells").fetchone() == (0,)
        conn.rollback()
        as_user(conn, corpus["owner"])
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("delete from memory_search_cells where user_id = %s", (corpus["owner"],))
        conn.rollback()
        conn.execute("set local role anon")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select count(*) from memory_search_cells")


def test_tuning_again_replaces_the_cells(db_url: str, corpus: dict[str, Any], make_user: MakeUser) -> None:
    report = tune_search(db_url, min_memories=1000, rows_per_cell=200, user_ids=[corpus["owner"]])
    assert [(u.user_id, u.cells) for u in report.tuned] == [(corpus["owner"], 15)]
    with Phase3Client.connect(db_url) as root, psycopg.connect(db_url) as conn:
        stored = conn.execute(
            "select count(*), max(cell) from memory_search_cells where user_id = %s", (corpus["owner"],)
        ).fetchone()
        assert stored == (15, 14)
        me = root.as_user(user_id=corpus["owner"])
        q = corpus["queries"][2]
        assert texts(me.search.semantic(q, match_count=10, threshold=None)) == exact_top(corpus, q, 10)


def test_bad_settings_are_refused_before_any_work(db_url: str) -> None:
    with pytest.raises(InvalidInputError, match="rows_per_cell"):
        tune_search(db_url, rows_per_cell=0)


def test_cli_tunes_and_reports_in_one_line(
    db_url: str, corpus: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["db", "tune-search", "--db-url", db_url, "--min-memories", "1000", "--user", str(corpus["owner"])]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("tuned 1 user (")
    assert str(corpus["owner"]) in captured.err
    assert main(["db", "tune-search", "--db-url", db_url, "--rows-per-cell", "-5"]) == 1
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors == ["phase3: error: rows_per_cell must be an integer >= 1, got -5"]
