"""Per-user HNSW indexes (``phase3 db tune-search``): which users get one, what a search then does and says.

The fixture's user has 3,030 clustered memories, tuned with ``min_memories=1000`` so that a test database
stays small; a second user has 50 (searched exactly, never indexed).
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
import sysconfig
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from phase3_sdk import Phase3Client
from phase3_sdk.cli import main
from phase3_sdk.db.tune import CALIBRATION, EF_LADDER, TARGET_RECALL, index_name, tune_search
from phase3_sdk.embeddings import WordLlamaEmbedder
from phase3_sdk.errors import InvalidInputError

N, CLUSTERS = 3000, 40


def unit(x: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.float32]]:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def as_user(conn: psycopg.Connection[Any], user: uuid.UUID) -> None:
    conn.execute(
        "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
        (json.dumps({"sub": str(user), "role": "authenticated"}),),
    )


@pytest.fixture(scope="module")
def corpus(db_url: str) -> dict[str, Any]:
    """3,000 clustered memories plus ten planted around each of three queries; every 7th 'high' tier and
    every 250th 'critical' (13 in all); one deleted copy of each query. Tuned; a dry run before and after."""
    from phase3_sdk.db.embedded import create_auth_user

    rng = np.random.default_rng(5)
    centres = rng.normal(size=(CLUSTERS, 768))
    vectors = centres[rng.integers(0, CLUSTERS, N)] + rng.normal(scale=0.9, size=(N, 768))
    queries = unit(centres[:3] + rng.normal(scale=0.6, size=(3, 768)))
    planted = np.concatenate([q + rng.normal(scale=0.03, size=(10, 768)) for q in queries])
    vectors = unit(np.concatenate([vectors, planted]))
    tiers = ["critical" if i % 250 == 0 else "high" if i % 7 == 0 else "medium" for i in range(len(vectors))]
    owner = create_auth_user(db_url, "indexed@example.test")
    small = create_auth_user(db_url, "small@example.test")
    with Phase3Client.connect(db_url) as root:
        rows = [
            {"messages": [{"role": "user", "content": f"m{i}"}], "embedding": v, "salience_tier": t}
            for i, (v, t) in enumerate(zip(vectors, tiers, strict=True))
        ]
        rows += [
            {"messages": [{"role": "user", "content": f"deleted{j}"}], "embedding": q, "is_deleted": True}
            for j, q in enumerate(queries)
        ]
        root.as_user(user_id=owner).conversations.bulk_create(rows, batch_size=1500)
        root.as_user(user_id=small).conversations.bulk_create(
            [
                {"messages": [{"role": "user", "content": f"s{i}"}], "embedding": v}
                for i, v in enumerate(vectors[:50])
            ]
        )
        before_tuning = root.as_user(user_id=owner).search.semantic(queries[0], threshold=None)
    planned = tune_search(db_url, min_memories=1000, dry_run=True)
    report = tune_search(db_url, min_memories=1000)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("vacuum analyze public.conversations")
    return {
        "owner": owner,
        "small": small,
        "vectors": vectors,
        "queries": queries,
        "tiers": tiers,
        "planned": planned,
        "report": report,
        "after": tune_search(db_url, min_memories=1000, dry_run=True),
        "before_tuning": before_tuning,
    }


def texts(hits: list[Any]) -> list[str]:
    return [h.messages[0]["content"] for h in hits]


def exact_top(corpus: dict[str, Any], q: np.ndarray[Any, Any], k: int, tier: str | None = None) -> list[str]:
    sims = corpus["vectors"] @ q
    order = [int(i) for i in np.argsort(-sims) if tier is None or corpus["tiers"][i] == tier]
    return [f"m{i}" for i in order[:k]]


# A walk of the user's graph as semantic_search takes one: the best `limit` by sketch distance to a vector,
# with their similarity to the query (content: m<i>).
_WALK = (
    "select c.messages -> 0 ->> 'content',"
    " 1 - (c.embedding operator(extensions.<=>) %s::extensions.vector)"
    " from (select messages, embedding from public.conversations where user_id = %s"
    " and embedding is not null and not is_deleted order by embedding_sketch operator(extensions.<~>)"
    " public.embedding_sketch(%s::extensions.vector)::bit(2304) limit %s) c"
)


def sketch_walk(
    admin: psycopg.Connection[Any], user: uuid.UUID, towards: str, query: str, ef: int, limit: int
) -> dict[str, float]:
    """The walk for ``towards`` (a vector's text) with a list of ``ef``: its best ``limit`` candidates'
    similarity to ``query``, as semantic_search's walks set the graph search up."""
    with admin.transaction():
        admin.execute(f"set local hnsw.ef_search = {ef}")
        admin.execute("set local hnsw.iterative_scan = relaxed_order")
        admin.execute("set local enable_sort = off")
        rows = admin.execute(_WALK, (query, user, towards, limit), prepare=False).fetchall()
    return {r[0]: r[1] for r in rows}


def best(*candidates: dict[str, float]) -> list[str]:
    """The 10 most similar of the walks' candidates (ties by id), as semantic_search merges its walks."""
    merged = {m: s for c in candidates for m, s in c.items()}
    return sorted(merged, key=lambda m: (-merged[m], m))[:10]


def midpoints(vectors: np.ndarray[Any, Any], count: int, seed: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    """``count`` probes, each the midpoint of two random memories: a query between two groups."""
    pairs = np.random.default_rng(seed).integers(0, N, size=(count, 2))
    return unit(vectors[pairs[:, 0]] + vectors[pairs[:, 1]])


def answered(db_url: str, user: uuid.UUID, probes: np.ndarray[Any, Any]) -> list[list[str]]:
    """Each probe's semantic_search answer for ``user`` (content: m<i>), best first; the session's
    statistics are flushed before it ends, so that a caller can count the walks on the user's index."""
    from phase3_sdk.embeddings import vector_text

    call = "select messages -> 0 ->> 'content' from public.semantic_search(%s::extensions.vector, 10)"
    with psycopg.connect(db_url, autocommit=True) as conn:
        with conn.transaction():
            as_user(conn, user)
            got = [[r[0] for r in conn.execute(call, (vector_text(q),)).fetchall()] for q in probes]
        conn.execute("select pg_stat_force_next_flush()")
    return got


#: An entry's search settings, which the tests below change and put back.
SEARCH_SETTINGS = (
    "ef_search",
    "first_ef_search",
    "fallback_below",
    "retry_below",
    "confidence_spread",
    "calibration",
)


@contextlib.contextmanager
def kept_entry(conn: psycopg.Connection[Any], user: uuid.UUID) -> Iterator[None]:
    """Put ``user``'s search settings in memory_search_indexes back as they were, whatever the block does."""
    columns = ", ".join(SEARCH_SETTINGS)
    before = conn.execute(
        f"select {columns} from memory_search_indexes where user_id = %s", (user,)
    ).fetchone()
    assert before is not None
    try:
        yield
    finally:
        assignments = ", ".join(f"{c} = %s" for c in SEARCH_SETTINGS)
        conn.execute(f"update memory_search_indexes set {assignments} where user_id = %s", (*before, user))


def test_a_dry_run_reports_the_work_and_tuning_does_it(db_url: str, corpus: dict[str, Any]) -> None:
    planned, report, after = corpus["planned"], corpus["report"], corpus["after"]
    assert planned.dry_run
    assert [(u.user_id, u.action, u.memories, u.indexed) for u in planned.tuned] == [
        (corpus["owner"], "new", N + 30, None)
    ]
    assert "no index yet: build" in planned.tuned[0].describe()
    assert planned.summary().startswith("would tune 1 user (1 new)")
    assert [(u.user_id, u.action) for u in report.tuned] == [(corpus["owner"], "new")]
    assert report.skipped == 1  # the small user
    assert after.tuned == ()  # nothing left to do
    with psycopg.connect(db_url) as conn:
        entry = conn.execute(
            "select index_name, memories, ef_search from memory_search_indexes where user_id = %s",
            (corpus["owner"],),
        ).fetchone()
        assert entry is not None
        # ef_search was calibrated on midpoints of the user's memories: the smallest list that met the
        # target mean (a midpoint between two clusters can be a poor probe on its own: the worst is reported,
        # not a target).
        tuned = report.tuned[0]
        assert entry == (index_name(corpus["owner"]), N + 30, tuned.ef_search)
        assert tuned.ef_search in EF_LADDER
        assert tuned.recall is not None
        assert tuned.recall[0] >= TARGET_RECALL
        assert 0.0 <= tuned.recall[1] <= tuned.recall[0]
        assert f"ef_search {tuned.ef_search}, probe recall@10" in tuned.describe()
        # A partial HNSW index over this user's memories alone, linking their sketches.
        definition = conn.execute("select pg_get_indexdef(%s::regclass)", (f"public.{entry[0]}",)).fetchone()
        assert definition is not None
        assert "USING hnsw (embedding_sketch extensions.bit_hamming_ops)" in definition[0]
        assert str(corpus["owner"]) in definition[0]
        graph = conn.execute("select graph from memory_search_indexes where user_id = %s", (corpus["owner"],))
        assert graph.fetchone() == ("sketch",)
        assert conn.execute(
            "select count(*) from memory_search_indexes where user_id = %s", (corpus["small"],)
        ).fetchone() == (0,)


def test_an_indexed_user_gets_the_true_top_hits_and_is_told_they_are_approximate(
    corpus: dict[str, Any], db_url: str
) -> None:
    with Phase3Client.connect(db_url) as root:
        me = root.as_user(user_id=corpus["owner"])
        for q in corpus["queries"]:
            hits = me.search.semantic(q, match_count=10, threshold=None)
            assert texts(hits) == exact_top(corpus, q, 10)
            assert hits.method in ("hnsw", "hnsw+sketch")
            assert hits.approximate
            exact = me.search.semantic(q, match_count=10, threshold=None, exact=True)
            assert texts(exact) == exact_top(corpus, q, 10)
            assert exact.method == "exact"
            assert not exact.approximate
        # Before tuning, the same user was ranked by sketches (approximate too, and said so).
        assert corpus["before_tuning"].method == "sketch"
        small = root.as_user(user_id=corpus["small"]).search.semantic(corpus["queries"][0], threshold=None)
        assert small.method == "exact"
        assert {h.user_id for h in small} == {corpus["small"]}


def test_calibration_scores_what_the_search_returns_for_hard_queries(
    db_url: str, corpus: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A probe that semantic_search would treat as hard is scored with a second, longer walk's best joined
    in, or the sketch scan's where there is no longer list to walk (``tune.hard_walk``).

    The shortest list the search walks (40 for k 10) with only its 10 best kept: the graph alone loses
    some true neighbours. A threshold above any similarity makes every probe hard. A second walk of 1,000
    with all of it re-ranked (a third of the user's memories) finds every true neighbour, while a sketch scan
    of one candidate could not; the sketch scan taking all the user's memories (the search takes 400) ranks
    them exactly. A threshold below any similarity leaves the graph alone.
    """
    from phase3_sdk.db import tune

    monkeypatch.setattr(tune, "EF_LADDER", (40,))
    monkeypatch.setattr(tune, "HARD_EF_SEARCH", 1000)
    monkeypatch.setattr(tune, "rerank_pool", lambda ef, k: k if ef < 1000 else ef)
    with psycopg.connect(db_url, autocommit=True) as conn:
        monkeypatch.setattr(tune, "_hard_below", lambda kth: -2.0)
        alone = tune.calibrate(conn, corpus["owner"])
        monkeypatch.setattr(tune, "_hard_below", lambda kth: 2.0)
        monkeypatch.setattr(tune, "_RESCUE_DEPTH", 1)
        walked = tune.calibrate(conn, corpus["owner"])
        monkeypatch.setattr(tune, "hard_walk", lambda ef, k: None)
        monkeypatch.setattr(tune, "_RESCUE_DEPTH", 2 * N)
        scanned = tune.calibrate(conn, corpus["owner"])
    assert alone.recall < 0.999
    assert (walked.recall, walked.worst) == (1.0, 1.0)
    assert (scanned.recall, scanned.worst) == (1.0, 1.0)


def test_a_hard_querys_second_walk_is_at_least_400_long_and_longer_than_the_first() -> None:
    """The list semantic_search walks again for a hard query, as 20260202002500_search_hard_query_walks.sql
    computes it: at least 400 and twice the user's list, at most 1,000, and none where that is no longer
    than the list already walked (at least 4k)."""
    from phase3_sdk.db.tune import hard_walk

    expected = {40: 400, 64: 400, 160: 400, 200: 400, 250: 500, 400: 800, 500: 1000, 1000: None}
    assert {ef: hard_walk(ef, 10) for ef in expected} == expected
    assert hard_walk(64, 100) == 800  # the list walked is 4k = 400 at least
    assert hard_walk(64, 250) is None  # 4k = 1,000: nothing longer


def test_calibration_plans_each_probe_for_its_user(
    db_url: str, corpus: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No probe's statement is prepared: a prepared statement may get a generic plan, which cannot know the
    user (the hard-query sketch scan then read every heap row, 25x slower at 100,000 memories, and the
    graph's partial index cannot serve it). Every probe hard, so that all three kinds of statement run."""
    from phase3_sdk.db import tune

    monkeypatch.setattr(tune, "EF_LADDER", (40, 80))
    monkeypatch.setattr(tune, "_hard_below", lambda kth: 2.0)
    with psycopg.connect(db_url, autocommit=True) as conn:
        tune.calibrate(conn, corpus["owner"])
        prepared = conn.execute("select statement from pg_prepared_statements").fetchall()
    assert [s for (s,) in prepared if "conversations" in s] == []


def test_the_exact_paths_kept_plan_answers_each_caller_with_their_own_filters(
    db_url: str, corpus: dict[str, Any]
) -> None:
    """The exact ranking is a plain statement of the function, whose plan PostgreSQL may keep for the
    session after five calls (20260202001900_search_exact_plan_kept.sql). One session, taking turns between
    the indexed user (exact=true) and the small one, each call with other filters: each gets their own
    exact top."""
    from phase3_sdk.embeddings import vector_text

    call = (
        "select messages->0->>'content'"
        " from public.semantic_search(%s::extensions.vector, %s, null, %s, null, %s, %s)"
    )
    small = corpus["vectors"][:50]
    with psycopg.connect(db_url) as conn:
        for turn in range(4):
            for j, q in enumerate(corpus["queries"]):
                tier = "high" if (turn + j) % 2 else None
                with conn.transaction():
                    as_user(conn, corpus["owner"])
                    top = conn.execute(call, (vector_text(q), 5, tier, False, True)).fetchall()
                    deleted = conn.execute(call, (vector_text(q), 1, None, True, True)).fetchall()
                    as_user(conn, corpus["small"])
                    theirs = conn.execute(call, (vector_text(q), 3, None, False, False)).fetchall()
                assert [r[0] for r in top] == exact_top(corpus, q, 5, tier=tier)
                assert [r[0] for r in deleted] == [f"deleted{j}"]
                assert [r[0] for r in theirs] == [f"s{i}" for i in np.argsort(-(small @ q))[:3]]


def test_an_uncertain_first_walk_walks_again_with_the_whole_list(db_url: str, corpus: dict[str, Any]) -> None:
    """With a first walk (memory_search_indexes.first_ef_search), a query whose k-th hit is less similar
    than retry_below walks again with ef_search and keeps the best of both walks; one above it keeps the
    first walk's answer, exactly what one walk at that list gives. An entry with one list walks an uncertain
    query again with three times it: the best of a walk of 200 and one of 600. A hard one (below
    fallback_below) walks again with a list of at least 400 (here the whole 1,000, as the uncertain one),
    and a third time aside (its own test below), and only where no list is longer than the one walked gets
    the sketch scan instead. Walks are counted as scans of the user's index. Probes: midpoints of two
    memories, which a list of 40 with its best 50 re-ranked answers worse than one of 1,000 for some. No
    confidence spread: the thresholds of 2 and -2 compare with the k-th hit's similarity alone (the spread
    has its own test below)."""
    from phase3_sdk.embeddings import vector_text

    owner = corpus["owner"]
    probes = midpoints(corpus["vectors"], 40, 11)
    call = "select similarity, search_method, id from public.semantic_search(%s::extensions.vector, 10)"
    settings = (
        "update memory_search_indexes set ef_search = %s, first_ef_search = %s, fallback_below = %s,"
        " retry_below = %s, confidence_spread = null where user_id = %s"
    )
    scans = "select idx_scan from pg_stat_user_indexes where indexrelname = %s"
    # Each probe's hits by id and similarity, by the settings answered with (ef, first, retry, hard).
    hits: dict[tuple[int, int | None, float | None, float | None], list[dict[Any, float]]] = {}

    def answers(
        admin: psycopg.Connection[Any],
        ef: int,
        first: int | None,
        retry: float | None,
        hard: float | None = None,
    ) -> tuple[list[Any], int, set[str]]:
        """Each probe's similarities, how many walks the probes took in all, and how they were ranked."""
        admin.execute(settings, (ef, first, hard, retry, owner))
        walked = admin.execute(scans, (index_name(owner),)).fetchone()
        found, methods = [], set()
        with psycopg.connect(db_url, autocommit=True) as conn:
            with conn.transaction():
                as_user(conn, owner)
                for q in probes:
                    rows = conn.execute(call, (vector_text(q),)).fetchall()
                    found.append(np.array([r[0] for r in rows]))
                    methods.update(r[1] for r in rows)
                    hits.setdefault((ef, first, retry, hard), []).append({r[2]: r[0] for r in rows})
            # Statistics reach other sessions when a session flushes them, at most once a second unless
            # forced: this one does as it goes idle after this statement, before answering it.
            conn.execute("select pg_stat_force_next_flush()")
        after = admin.execute(scans, (index_name(owner),)).fetchone()
        assert walked is not None
        assert after is not None
        return found, after[0] - walked[0], methods

    with psycopg.connect(db_url, autocommit=True) as admin, kept_entry(admin, owner):
        short, one, _ = answers(admin, 40, None, None)
        whole, _, _ = answers(admin, 1000, None, None)
        certain, walks_certain, _ = answers(admin, 1000, 40, -2.0)  # no answer is less similar than -2
        uncertain, walks_uncertain, _ = answers(admin, 1000, 40, 2.0)  # every answer is
        # One list: every answer uncertain walks again with three times it (200, then 600).
        once, _, _ = answers(admin, 200, None, None)
        answers(admin, 600, None, None)
        one_list, walks_one_list, _ = answers(admin, 200, None, 2.0)
        # Every answer hard too: a second walk, of the whole list, as for an uncertain one, and one aside.
        hard, walks_hard, hard_methods = answers(admin, 1000, 40, 2.0, hard=2.0)
        # One list of 40 and every answer hard: a second walk of 400.
        hard_after_one, walks_after_one, _ = answers(admin, 40, None, None, hard=2.0)
        # One list of 1,000, the longest there is, and every answer hard: the sketch scan.
        scanned, walks_scanned, scanned_methods = answers(admin, 1000, None, None, hard=2.0)
    n = len(probes)
    assert (one, walks_certain, walks_uncertain, walks_one_list) == (n, n, 2 * n, 2 * n)
    assert (walks_hard, walks_after_one, walks_scanned) == (3 * n, 2 * n, n)
    assert (hard_methods, scanned_methods) == ({"hnsw"}, {"hnsw+sketch"})
    better = [i for i, (a, b) in enumerate(zip(short, whole, strict=True)) if b.sum() > a.sum() + 1e-6]
    assert better, "no probe that the whole list answers better: this data shows nothing"
    for i in range(n):
        np.testing.assert_array_equal(certain[i], short[i])
        # The best of both walks by exact similarity: never worse than either, position by position.
        assert (uncertain[i] >= whole[i] - 1e-9).all()
        assert (uncertain[i] >= short[i] - 1e-9).all()
        assert (hard[i] >= uncertain[i] - 1e-9).all()
        # The best k of both walks' (a candidate of both has the same similarity in each).
        both = hits[200, None, None, None][i] | hits[600, None, None, None][i]
        np.testing.assert_array_equal(one_list[i], sorted(both.values(), reverse=True)[: len(once[i])])
        assert (hard_after_one[i] >= short[i] - 1e-9).all()
        assert (scanned[i] >= whole[i] - 1e-9).all()
    assert all(uncertain[i].sum() > short[i].sum() + 1e-6 for i in better)
    assert any(one_list[i].sum() > once[i].sum() + 1e-6 for i in range(n)), "600 found no more than 200"


def test_a_hard_query_on_a_graph_with_a_first_walk_also_walks_aside(
    db_url: str, corpus: dict[str, Any]
) -> None:
    """Where an entry's list is longer than its first walk, a hard query walks a third time: the first
    walk's list again, for the query minus its projection on the mean of its first walk's k best hits, its
    best 2k by sketch distance ranked exactly against the query itself. Reproduced here walk by walk: the
    answer is the best k of the three walks' candidates, and for some probe the walk aside found one that
    neither walk for the query did. Probes: midpoints of two memories (the query between two groups); that
    takes many: 4 of 1,000 here, and on real text the walk aside changes the answer of 2 to 11 queries in
    3,000-4,000 at 5,000 to 100,000 memories, were they all hard."""
    from phase3_sdk.embeddings import vector_text

    owner = corpus["owner"]
    vectors = corpus["vectors"]
    probes = midpoints(vectors, 1000, 13)
    scans = "select idx_scan from pg_stat_user_indexes where indexrelname = %s"

    with psycopg.connect(db_url, autocommit=True) as admin, kept_entry(admin, owner):
        expected, without = [], []
        for q in probes:
            text = vector_text(q)
            first = sketch_walk(admin, owner, text, text, 40, 50)
            second = sketch_walk(admin, owner, text, text, 400, 100)
            centre = vectors[[int(m[1:]) for m in best(first)]].mean(axis=0)
            aside = vector_text(q - (q @ centre) / (centre @ centre) * centre)
            expected.append(best(first, second, sketch_walk(admin, owner, aside, text, 40, 20)))
            without.append(best(first, second))
        admin.execute("select pg_stat_force_next_flush()")
        admin.execute(
            "update memory_search_indexes set ef_search = 80, first_ef_search = 40, fallback_below = 2,"
            " retry_below = null, confidence_spread = null where user_id = %s",
            (owner,),
        )
        before = admin.execute(scans, (index_name(owner),)).fetchone()
        got = answered(db_url, owner, probes)
        after = admin.execute(scans, (index_name(owner),)).fetchone()
    assert before is not None
    assert after is not None
    assert after[0] - before[0] == 3 * len(probes)
    # As sets: the two memories a midpoint lies between are equally similar to it, and ranked by id.
    assert [set(g) for g in got] == [set(e) for e in expected]
    gained = [i for i, (a, b) in enumerate(zip(expected, without, strict=True)) if set(a) != set(b)]
    assert gained, "the walk aside found nothing the walks for the query missed: this data shows nothing"
    for i in gained:
        assert (vectors[[int(m[1:]) for m in expected[i]]] @ probes[i]).sum() > (
            vectors[[int(m[1:]) for m in without[i]]] @ probes[i]
        ).sum()


def test_an_uncertain_answer_walks_again_with_at_least_twice_the_first_walk(
    db_url: str, corpus: dict[str, Any]
) -> None:
    """Where an entry's list is less than twice its first walk's (50 after 40 here), an uncertain answer
    walks again with twice the first walk's list (80), not with the entry's: a list a little longer than the
    first is no second opinion. Reproduced walk by walk on midpoint probes: the answer is the best k of the
    walk of 40 and the walk of 80, which for some probes differs from what a second walk of 50 gives."""
    from phase3_sdk.embeddings import vector_text

    owner = corpus["owner"]
    vectors = corpus["vectors"]
    probes = midpoints(vectors, 600, 17)

    with psycopg.connect(db_url, autocommit=True) as admin, kept_entry(admin, owner):
        doubled, listed = [], []
        for q in probes:
            text = vector_text(q)
            first = sketch_walk(admin, owner, text, text, 40, 50)
            doubled.append(best(first, sketch_walk(admin, owner, text, text, 80, 50)))
            listed.append(best(first, sketch_walk(admin, owner, text, text, 50, 50)))
        # Every answer uncertain (its k-th hit less similar than 2), none hard.
        admin.execute(
            "update memory_search_indexes set ef_search = 50, first_ef_search = 40, fallback_below = null,"
            " retry_below = 2, confidence_spread = null where user_id = %s",
            (owner,),
        )
        differ = [i for i, (a, b) in enumerate(zip(doubled, listed, strict=True)) if set(a) != set(b)]
        assert differ, "a walk of 80 found nothing a walk of 50 did not: this data shows nothing"
        got = answered(db_url, owner, probes)
    # As sets: the two memories a midpoint lies between are equally similar to it, and ranked by id.
    assert [set(g) for g in got] == [set(d) for d in doubled]


def test_the_search_tells_a_hard_answer_by_its_confidence_as_tune_computes_it(
    db_url: str, corpus: dict[str, Any]
) -> None:
    """semantic_search's hard test reads the confidence ``tune.answer_confidence`` computes from the first
    walk's candidates ranked exactly (the k-th hit's similarity plus the spread times its lead over the
    4k-th), not the k-th hit alone. The threshold is the probes' median confidence, so about half walk
    again; the walks counted on the user's index are one per probe plus one per probe below it, and a
    threshold on the k-th hit alone (no spread) would send other probes. Probes: midpoints of two memories."""
    from phase3_sdk.db.tune import CONFIDENCE_SPREAD, answer_confidence, rerank_pool
    from phase3_sdk.embeddings import vector_text

    owner = corpus["owner"]
    probes = [vector_text(q) for q in midpoints(corpus["vectors"], 60, 12)]
    ef = 80
    scans = "select idx_scan from pg_stat_user_indexes where indexrelname = %s"
    with psycopg.connect(db_url, autocommit=True) as admin, kept_entry(admin, owner):
        # The first walk as the function takes it: the list's best rerank_pool by sketch, ranked exactly.
        similarities = [
            sorted(sketch_walk(admin, owner, text, text, ef, rerank_pool(ef, 10)).values(), reverse=True)
            for text in probes
        ]
        # These walks count on the index too: flushed now, before the count the search's walks are taken from.
        admin.execute("select pg_stat_force_next_flush()")
        confidence = np.array([answer_confidence(s, 10) for s in similarities])
        kth = np.array([s[9] for s in similarities])
        threshold = float(np.median(confidence))
        hard = confidence < threshold
        assert 0 < hard.sum() < len(probes)
        assert (hard != (kth < np.quantile(kth, hard.mean()))).any(), "the spread changed no probe's path"
        admin.execute(
            "update memory_search_indexes set ef_search = %s, first_ef_search = null, fallback_below = %s,"
            " retry_below = null, confidence_spread = %s where user_id = %s",
            (ef, threshold, CONFIDENCE_SPREAD, owner),
        )
        before = admin.execute(scans, (index_name(owner),)).fetchone()
        with psycopg.connect(db_url, autocommit=True) as conn:
            with conn.transaction():
                as_user(conn, owner)
                for text in probes:
                    conn.execute("select * from public.semantic_search(%s::extensions.vector, 10)", (text,))
            conn.execute("select pg_stat_force_next_flush()")
        after = admin.execute(scans, (index_name(owner),)).fetchone()
    assert before is not None
    assert after is not None
    assert after[0] - before[0] == len(probes) + int(hard.sum())


def test_a_long_calibrated_list_gets_a_first_walk(
    db_url: str, corpus: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Calibration that chooses a list longer than FIRST_EF_SEARCH records a first walk at it and the
    retry threshold (the user's own memories' k-th neighbour, a higher quantile than the hard-query one);
    a list at or below it, or one given by hand, one walk."""
    from phase3_sdk.db import tune

    owner = corpus["owner"]
    entry = (
        "select ef_search, first_ef_search, fallback_below, retry_below, calibration"
        " from memory_search_indexes where user_id = %s"
    )
    with psycopg.connect(db_url, autocommit=True) as conn, kept_entry(conn, owner):
        monkeypatch.setattr(tune, "EF_LADDER", (250,))
        [user] = tune_search(db_url, min_memories=1000, user_ids=[owner], recalibrate=True).tuned
        ef, first, hard, retry, calibration = conn.execute(entry, (owner,)).fetchone() or (None,) * 5
        assert (ef, first, calibration) == (250, tune.FIRST_EF_SEARCH, CALIBRATION)
        assert hard is not None
        assert retry is not None
        assert retry >= hard
        assert (user.ef_search, user.first_ef_search) == (250, tune.FIRST_EF_SEARCH)
        assert user.describe().endswith(f"; a first walk at {tune.FIRST_EF_SEARCH})")

        monkeypatch.setattr(tune, "EF_LADDER", (tune.FIRST_EF_SEARCH,))
        [user] = tune_search(db_url, min_memories=1000, user_ids=[owner], recalibrate=True).tuned
        assert conn.execute(entry, (owner,)).fetchone() == (
            tune.FIRST_EF_SEARCH,
            None,
            hard,
            retry,
            CALIBRATION,
        )
        assert user.first_ef_search is None
        assert "first walk" not in user.describe()

        # A list given by hand has no first walk, and the thresholds are measured as calibration measures
        # them (an entry without them would treat no query as hard).
        conn.execute(
            "update memory_search_indexes set first_ef_search = 80, fallback_below = null,"
            " retry_below = null where user_id = %s",
            (owner,),
        )
        tune_search(db_url, min_memories=1000, user_ids=[owner], recalibrate=True, ef_search=400)
        by_hand = conn.execute(entry, (owner,)).fetchone()
        assert by_hand == (400, None, pytest.approx(hard, abs=1e-6), pytest.approx(retry, abs=1e-6), 0)


def test_exact_never_reads_the_index(db_url: str, corpus: dict[str, Any]) -> None:
    """Hide a planted memory from the graph's reach by forcing a tiny candidate list: the index search may
    miss it, exact=True must not."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        ef = conn.execute(
            "update memory_search_indexes m set ef_search = 10 from memory_search_indexes o"
            " where m.user_id = %s and o.user_id = m.user_id returning o.ef_search",
            (corpus["owner"],),
        ).fetchone()
    try:
        with Phase3Client.connect(db_url) as root:
            me = root.as_user(user_id=corpus["owner"])
            for q in corpus["queries"]:
                exact = me.search.semantic(q, match_count=200, threshold=None, exact=True)
                assert texts(exact) == exact_top(corpus, q, 200)
    finally:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(
                "update memory_search_indexes set ef_search = %s where user_id = %s",
                (ef[0] if ef else 100, corpus["owner"]),
            )


def test_filters_apply_before_ranking_on_the_index_path(db_url: str, corpus: dict[str, Any]) -> None:
    with Phase3Client.connect(db_url) as root:
        me = root.as_user(user_id=corpus["owner"])
        for j, q in enumerate(corpus["queries"]):
            high = me.search.semantic(q, match_count=5, threshold=None, salience_tier="high")
            assert texts(high) == exact_top(corpus, q, 5, tier="high")
            with_deleted = me.search.semantic(q, match_count=1, threshold=None, include_deleted=True)
            assert texts(with_deleted) == [f"deleted{j}"]
        # 13 'critical' memories in all: the graph search gives up before finding ten, and the search
        # ranks the matches exactly instead, saying so.
        critical = me.search.semantic(
            corpus["queries"][0], match_count=10, threshold=None, salience_tier="critical"
        )
        assert texts(critical) == exact_top(corpus, corpus["queries"][0], 10, tier="critical")


def test_the_index_entry_is_private_and_written_only_by_the_tuner(
    db_url: str, corpus: dict[str, Any]
) -> None:
    with psycopg.connect(db_url) as conn:
        as_user(conn, corpus["owner"])
        assert conn.execute("select count(*) from memory_search_indexes").fetchone() == (1,)
        conn.rollback()
        as_user(conn, corpus["small"])
        assert conn.execute("select count(*) from memory_search_indexes").fetchone() == (0,)
        conn.rollback()
        as_user(conn, corpus["owner"])
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("update memory_search_indexes set ef_search = 1000")
        conn.rollback()
        conn.execute("set local role anon")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select count(*) from memory_search_indexes")


def test_the_stored_sketch_is_what_the_search_computes_for_a_query(
    db_url: str, corpus: dict[str, Any]
) -> None:
    """Untuned large users are ranked by sketches: the column must match the query's sketch bit for bit."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "select count(*), count(*) filter (where embedding_sketch <> public.embedding_sketch(embedding)"
            "::bit(2304)) from conversations where embedding is not null"
        ).fetchone()
    assert row is not None
    assert row[0] > N
    assert row[1] == 0


def test_bad_settings_are_refused_before_any_work(db_url: str) -> None:
    with pytest.raises(InvalidInputError, match="ef_search"):
        tune_search(db_url, ef_search=5)
    with pytest.raises(InvalidInputError, match="min_memories"):
        tune_search(db_url, min_memories=0)
    with pytest.raises(InvalidInputError, match="growth"):
        tune_search(db_url, growth=1)


def test_cli_dry_run_reports_and_changes_nothing(
    db_url: str, corpus: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # With a threshold of 20 memories the small user needs an index: reported, not built.
    args = ["db", "tune-search", "--db-url", db_url, "--min-memories", "20", "--dry-run"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"{corpus['small']}: 50 memories, no index yet: build" in out
    assert "would tune 1 user (1 new)" in out
    with psycopg.connect(db_url) as conn:
        assert conn.execute(
            "select count(*) from memory_search_indexes where user_id = %s", (corpus["small"],)
        ).fetchone() == (0,)
    assert main(["db", "tune-search", "--db-url", db_url, "--ef-search", "5"]) == 1
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors == ["phase3: error: ef_search must be an integer from 10 to 1000, got 5"]


def test_recalibrate_measures_an_up_to_date_index_again_and_keeps_it(
    db_url: str, corpus: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    owner, name = corpus["owner"], index_name(corpus["owner"])
    entry = "select ef_search, fallback_below, calibration from memory_search_indexes where user_id = %s"
    oid = "select %s::regclass::oid"
    with psycopg.connect(db_url, autocommit=True) as conn, kept_entry(conn, owner):
        index = conn.execute(oid, (f"public.{name}",)).fetchone()
        # An entry as an earlier calibration may have left it: a long list, no hard-query threshold.
        conn.execute(
            "update memory_search_indexes set ef_search = 1000, fallback_below = null where user_id = %s",
            (owner,),
        )
        # Scoped to the owner: what other tests of this module do to other users' indexes is theirs.
        base = ["db", "tune-search", "--db-url", db_url, "--min-memories", "1000", "--user", str(owner)]
        assert main([*base, "--dry-run"]) == 0
        assert "would tune 0 users (nothing)" in capsys.readouterr().out
        assert main([*base, "--recalibrate", "--dry-run"]) == 0
        out = capsys.readouterr().out
        assert f"{owner}: {N + 30:,} memories, index up to date: calibrate its ef_search again" in out
        assert "would tune 1 user (1 recalibrate)" in out
        assert conn.execute(entry, (owner,)).fetchone() == (1000, None, CALIBRATION)

        # Measured by an earlier calibration (null: before the column): measured again unasked.
        conn.execute("update memory_search_indexes set calibration = null where user_id = %s", (owner,))
        assert main([*base, "--dry-run"]) == 0
        out = capsys.readouterr().out
        assert f"{owner}: {N + 30:,} memories, index up to date: calibrate its ef_search again" in out
        report = tune_search(db_url, min_memories=1000, user_ids=[owner])
        [user] = report.tuned
        assert user.action == "recalibrate"
        assert user.ef_search in EF_LADDER
        assert user.ef_search < 1000
        assert user.recall is not None
        assert user.recall[0] >= TARGET_RECALL
        ef_search, fallback_below, calibration = conn.execute(entry, (owner,)).fetchone() or (None,) * 3
        assert ef_search == user.ef_search
        assert fallback_below is not None
        assert calibration == CALIBRATION
        # The same index: measured, not rebuilt.
        assert conn.execute(oid, (f"public.{name}",)).fetchone() == index
        assert tune_search(db_url, min_memories=1000, user_ids=[owner], dry_run=True).tuned == ()

        # Asked for, a list given is set as it is, the threshold is measured as before, and the entry is
        # marked as given by hand: no later run measures it again unasked.
        tune_search(db_url, min_memories=1000, user_ids=[owner], recalibrate=True, ef_search=250)
        assert conn.execute(entry, (owner,)).fetchone() == (
            250,
            pytest.approx(fallback_below, abs=1e-6),
            0,
        )
        assert tune_search(db_url, min_memories=1000, user_ids=[owner], dry_run=True).tuned == ()
        report = tune_search(db_url, min_memories=1000, user_ids=[owner], recalibrate=True, dry_run=True)
        assert [u.action for u in report.tuned] == ["recalibrate"]
    with pytest.raises(InvalidInputError, match="recalibrate must be a bool"):
        tune_search(db_url, recalibrate="yes")  # type: ignore[arg-type]


# -- drift: real text, a new topic after tuning ---------------------------------------------------------


def stdlib_paragraphs(limit: int) -> list[str]:
    """Docstring paragraphs of a few standard-library packages: real prose nobody here wrote."""
    found: dict[str, None] = {}
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for package in (
        "email",
        "asyncio",
        "logging",
        "http",
        "xml",
        "json",
        "collections",
        "unittest",
        "importlib",
    ):
        for path in sorted((stdlib / package).rglob("*.py")):
            if "test" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                    for block in re.split(r"\n\s*\n", ast.get_docstring(node) or ""):
                        text = " ".join(block.split())
                        if len(text) >= 40:
                            found[text] = None
    return sorted(found)[:limit]


def cooking(count: int, seed: int) -> list[str]:
    """Sentences about a topic the documentation never mentions."""
    rng = np.random.default_rng(seed)
    who = ["I", "My sister", "Grandma", "We", "My partner", "The kids and I"]
    did = ["baked", "slow-roasted", "made", "grilled", "simmered", "tried a recipe for"]
    dish = [
        "sourdough bread",
        "lamb stew",
        "a lemon tart",
        "vegetable curry",
        "banana pancakes",
        "tomato soup",
        "roast chicken",
        "apple crumble",
        "mushroom risotto",
        "chocolate cake",
    ]
    extra = [
        "with fresh basil",
        "with too much garlic",
        "for the neighbours",
        "on a rainy Sunday",
        "and it burned a little",
        "from an old family cookbook",
        "with homegrown herbs",
        "for a birthday dinner",
    ]
    out: dict[str, None] = {}
    while len(out) < count:
        out[f"{rng.choice(who)} {rng.choice(did)} {rng.choice(dish)} {rng.choice(extra)}."] = None
    return list(out)


def test_memories_of_a_new_topic_added_after_tuning_are_found(db_url: str) -> None:
    """Tune on documentation, then add 20% more memories about cooking: queries about cooking must still
    find their true neighbours (the index takes new memories as they are written), and a dry run says
    when the growth calls for a rebuild."""
    from phase3_sdk.db.embedded import create_auth_user

    embedder = WordLlamaEmbedder()
    base = stdlib_paragraphs(2500)
    assert len(base) == 2500
    new_topic = cooking(520, seed=1)
    added, queries = new_topic[:500], new_topic[500:]
    owner = create_auth_user(db_url, "drift@example.test")
    with Phase3Client.connect(db_url, embedder=embedder) as root:
        me = root.as_user(user_id=owner)
        vectors = embedder.embed_array(base)
        me.conversations.bulk_create(
            [
                {"messages": [{"role": "user", "content": t}], "embedding": v}
                for t, v in zip(base, vectors, strict=True)
            ]
        )
        assert [u.action for u in tune_search(db_url, min_memories=1000, user_ids=[owner]).tuned] == ["new"]

        fresh = embedder.embed_array(added)
        me.conversations.bulk_create(
            [
                {"messages": [{"role": "user", "content": t}], "embedding": v}
                for t, v in zip(added, fresh, strict=True)
            ]
        )
        everything = np.concatenate([vectors, fresh])
        contents = base + added
        recalls = []
        for text in queries:
            q = embedder.embed_array([text])[0]
            truth = {contents[i] for i in np.argsort(-(everything @ q))[:10]}
            hits = me.search.semantic(text, match_count=10, threshold=None)
            assert hits.method in ("hnsw", "hnsw+sketch")
            assert all(t in added for t in texts(hits))  # about cooking, not documentation
            recalls.append(len(truth & set(texts(hits))) / 10)
        assert np.mean(recalls) >= 0.95
        assert min(recalls) >= 0.8

    # 20% growth is within the default threshold (2x); with a threshold of 1.1x it calls for a rebuild.
    assert tune_search(db_url, min_memories=1000, user_ids=[owner], dry_run=True).tuned == ()
    planned = tune_search(db_url, min_memories=1000, user_ids=[owner], growth=1.1, dry_run=True).tuned
    assert [(u.action, u.memories, u.indexed) for u in planned] == [("grown", 3000, 2500)]


def test_a_rebuild_keeps_the_old_index_searchable_until_the_new_one_replaces_it(
    db_url: str, corpus: dict[str, Any]
) -> None:
    """A ``grown`` rebuild is held at the end of its concurrent build (which waits for an older snapshot):
    meanwhile the user is still searched through their index, and afterwards the new one has its name."""
    owner = corpus["owner"]
    name = index_name(owner)
    with psycopg.connect(db_url, autocommit=True) as conn:
        # As if the index had been built when the user had a third of their memories: due for a rebuild.
        conn.execute("update memory_search_indexes set memories = 1000 where user_id = %s", (owner,))
        old_oid = conn.execute("select %s::regclass::oid", (f"public.{name}",)).fetchone()
    planned = tune_search(db_url, min_memories=1000, user_ids=[owner], dry_run=True).tuned
    assert [u.action for u in planned] == ["grown"]

    holder = psycopg.connect(db_url, autocommit=True)
    holder.execute("begin isolation level repeatable read")
    holder.execute("select 1 from conversations limit 1")  # a snapshot the build must wait out
    done: list[Any] = []
    tuner = threading.Thread(
        target=lambda: done.append(tune_search(db_url, min_memories=1000, user_ids=[owner])), daemon=True
    )
    tuner.start()
    try:
        with psycopg.connect(db_url, autocommit=True) as conn:
            waiting = None
            for _ in range(600):  # until the build waits for the holder (or up to a minute)
                waiting = conn.execute(
                    "select query from pg_stat_activity where wait_event = 'virtualxid'"
                    " and query ilike 'create index concurrently%%'"
                ).fetchone()
                if waiting is not None:
                    break
                time.sleep(0.1)
            assert waiting is not None
            assert f"{name}_next" in waiting[0]
        with Phase3Client.connect(db_url) as root:
            hits = root.as_user(user_id=owner).search.semantic(corpus["queries"][0], threshold=None)
        assert hits.method in ("hnsw", "hnsw+sketch")  # the old index, not the untuned fallback
        assert texts(hits) == exact_top(corpus, corpus["queries"][0], 10)
    finally:
        holder.execute("rollback")
        holder.close()
        tuner.join(timeout=300)
    assert [u.action for u in done[0].tuned] == ["grown"]
    with psycopg.connect(db_url, autocommit=True) as conn:
        names = {
            r[0]
            for r in conn.execute(
                "select relname from pg_class where relname like %s", (f"{name}%",)
            ).fetchall()
        }
        assert names == {name}  # neither the spare nor the retired index is left
        assert conn.execute("select %s::regclass::oid", (f"public.{name}",)).fetchone() != old_oid
        entry = conn.execute(
            "select memories from memory_search_indexes where user_id = %s", (owner,)
        ).fetchone()
        assert entry == (N + 30,)
    with Phase3Client.connect(db_url) as root:
        hits = root.as_user(user_id=owner).search.semantic(corpus["queries"][1], threshold=None)
    assert hits.method in ("hnsw", "hnsw+sketch")
    assert texts(hits) == exact_top(corpus, corpus["queries"][1], 10)


HALFVEC = "((embedding::extensions.halfvec(768)) extensions.halfvec_cosine_ops)"
SKETCH = "(embedding_sketch extensions.bit_hamming_ops)"


@pytest.mark.parametrize(
    ("graph", "over", "settings"),
    [
        # What the previous version built: a graph over half-precision copies, its entry saying so.
        ("halfvec", HALFVEC, "with (m = 16, ef_construction = 200)"),
        # An earlier one still: pgvector's default ef_construction (64).
        ("halfvec", HALFVEC, ""),
        # A graph over sketches with other settings than this version's.
        ("sketch", SKETCH, "with (m = 16, ef_construction = 200)"),
    ],
)
def test_an_index_built_with_other_graph_settings_is_rebuilt(
    db_url: str, corpus: dict[str, Any], graph: str, over: str, settings: str
) -> None:
    """An index an earlier version built is ``outdated``: searched as it is until then, rebuilt over the
    sketches with this version's settings and recalibrated, however many memories it was built over."""
    owner = corpus["owner"]
    name = index_name(owner)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f"drop index public.{name}")
        conn.execute(
            f"create index {name} on public.conversations"
            f" using hnsw {over} {settings}"
            f" where user_id = '{owner}'::uuid and embedding is not null"
        )
        conn.execute("update memory_search_indexes set graph = %s where user_id = %s", (graph, owner))
    # Before the rebuild the entry's graph is walked as what it is, and finds the true top hits.
    with Phase3Client.connect(db_url) as root:
        hits = root.as_user(user_id=owner).search.semantic(corpus["queries"][1], threshold=None)
    assert hits.method in ("hnsw", "hnsw+sketch")
    assert texts(hits) == exact_top(corpus, corpus["queries"][1], 10)
    planned = tune_search(db_url, min_memories=1000, user_ids=[owner], dry_run=True).tuned
    assert [(u.action, u.memories, u.indexed) for u in planned] == [("outdated", N + 30, N + 30)]
    assert "other graph settings: rebuild" in planned[0].describe()
    done = tune_search(db_url, min_memories=1000, user_ids=[owner])
    assert [u.action for u in done.tuned] == ["outdated"]
    assert done.summary().startswith("tuned 1 user (1 outdated)")
    assert done.tuned[0].ef_search in EF_LADDER
    with psycopg.connect(db_url, autocommit=True) as conn:
        options = conn.execute("select reloptions from pg_class where relname = %s", (name,)).fetchone()
        assert options is not None
        assert "ef_construction=400" in options[0]
        definition = conn.execute("select pg_get_indexdef(%s::regclass)", (f"public.{name}",)).fetchone()
        assert definition is not None
        assert "bit_hamming_ops" in definition[0]
        entry = conn.execute("select graph from memory_search_indexes where user_id = %s", (owner,))
        assert entry.fetchone() == ("sketch",)
    assert tune_search(db_url, min_memories=1000, user_ids=[owner], dry_run=True).tuned == ()
    with Phase3Client.connect(db_url) as root:
        hits = root.as_user(user_id=owner).search.semantic(corpus["queries"][2], threshold=None)
    assert hits.method in ("hnsw", "hnsw+sketch")
    assert texts(hits) == exact_top(corpus, corpus["queries"][2], 10)


def test_an_index_is_dropped_when_its_user_shrinks_or_goes(db_url: str, corpus: dict[str, Any]) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        live = "user_id = %s and messages->0->>'content' not like 'deleted%%'"
        conn.execute(f"update conversations set is_deleted = true where {live}", (corpus["owner"],))
        planned = tune_search(db_url, min_memories=1000, user_ids=[corpus["owner"]], dry_run=True).tuned
        assert [(u.user_id, u.action) for u in planned] == [(corpus["owner"], "shrunk")]
        tune_search(db_url, min_memories=1000, user_ids=[corpus["owner"]])
        assert conn.execute(
            "select to_regclass(%s)", (f"public.{index_name(corpus['owner'])}",)
        ).fetchone() == (None,)
        conn.execute(f"update conversations set is_deleted = false where {live}", (corpus["owner"],))
    with Phase3Client.connect(db_url) as root:
        hits = root.as_user(user_id=corpus["owner"]).search.semantic(corpus["queries"][0], threshold=None)
        assert hits.method == "sketch"  # large again, but not indexed until the next tune
        assert texts(hits) == exact_top(corpus, corpus["queries"][0], 10)
