"""Search over memories on the embedded database: semantic, full-text, hybrid, and bulk ingest."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest

from phase3_sdk import Phase3Client
from phase3_sdk.backends.sql import SET_IDENTITY, identity_params
from phase3_sdk.embeddings import HashingEmbedder, vector_text
from phase3_sdk.errors import ConfigurationError, InvalidInputError
from phase3_sdk.identity import Identity

MakeUser = Callable[..., uuid.UUID]
EMBED = HashingEmbedder()
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def memory(text: str, *, topics: list[str] | None = None, days: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": text}],
        "extracted_topics": topics or [],
        "embedding": EMBED.embed([text])[0],
        "created_at": T0 + timedelta(days=days),
        **extra,
    }


FILLER = [
    "Tried a new curry recipe tonight with lots of garlic",
    "The train was late again and the carriage was packed",
    "Planted tomatoes on the balcony, the soil was dry",
    "Watched a documentary about octopuses and their camouflage",
    "Paid the rent and sorted out the electricity bill",
    "Practised guitar chords for an hour before dinner",
]


@pytest.fixture(scope="module")
def root(db_url: str) -> Iterator[Phase3Client]:
    with Phase3Client.connect(db_url) as client:
        yield client


@pytest.fixture(scope="module")
def people(root: Phase3Client, db_url: str) -> dict[str, Any]:
    """Alice with filler, a planted memory, a deleted one and tiers; Bob with a near-copy of her plant."""
    from phase3_sdk.db.embedded import create_auth_user

    alice = root.as_user(user_id=create_auth_user(db_url, "alice@example.test"))
    bob = root.as_user(user_id=create_auth_user(db_url, "bob@example.test"))
    rows = [memory(t, days=i, salience_tier="low") for i, t in enumerate(FILLER)]
    rows.append(
        memory(
            "Deadline stress at work: the quarterly report is due Friday and I cannot sleep",
            topics=["work", "deadline"],
            days=10,
            salience_tier="critical",
        )
    )
    # Matches "deadline stress" by words only: its embedding is of unrelated text.
    words_only = memory("The deadline stress is back", topics=["deadline"], days=11, salience_tier="high")
    words_only["embedding"] = EMBED.embed(["octopus camouflage documentary ocean"])[0]
    rows.append(words_only)
    rows.append(memory("Deleted: deadline stress and the quarterly report again", days=12, is_deleted=True))
    stored = alice.conversations.bulk_create(rows)
    assert stored == len(rows)
    bob.conversations.bulk_create([memory("Deadline stress at work: the quarterly report is due Friday")])
    return {"alice": alice, "bob": bob}


def texts(hits: list[Any]) -> list[str]:
    return [h.messages[0]["content"] for h in hits]


def test_semantic_finds_planted_memory_by_embedding_and_by_text(people: dict[str, Any]) -> None:
    alice = people["alice"]
    query = EMBED.embed(["quarterly report deadline at work, cannot sleep"])[0]
    by_vector = alice.search.semantic(query, match_count=3)
    assert texts(by_vector)[0].startswith("Deadline stress at work")
    by_text = alice.search.semantic("quarterly report deadline at work, cannot sleep", match_count=3)
    assert [h.id for h in by_text] == [h.id for h in by_vector]
    sims = [h.similarity for h in by_vector]
    assert all(s is not None for s in sims)
    assert sims == sorted(sims, reverse=True)


def test_semantic_threshold_filters_and_deleted(people: dict[str, Any]) -> None:
    alice = people["alice"]
    query = "deadline stress quarterly report"
    everything = alice.search.semantic(query, match_count=50, threshold=None)
    assert len(everything) == len(FILLER) + 2  # the deleted one is skipped
    assert all(not h.is_deleted for h in everything)
    with_deleted = alice.search.semantic(query, match_count=50, threshold=None, include_deleted=True)
    assert any(h.is_deleted for h in with_deleted)
    strict = alice.search.semantic(query, match_count=50, threshold=0.3)
    assert strict
    assert all(h.similarity is not None and h.similarity >= 0.3 for h in strict)
    assert len(strict) < len(everything)
    critical = alice.search.semantic(query, match_count=50, threshold=None, salience_tier="critical")
    assert [h.salience_tier for h in critical] == ["critical"]
    recent = alice.search.semantic(query, match_count=50, threshold=None, since=T0 + timedelta(days=10))
    assert {h.created_at for h in recent} == {T0 + timedelta(days=10), T0 + timedelta(days=11)}


def test_exact_ranking_computes_each_distance_once(people: dict[str, Any], db_url: str) -> None:
    """Each memory the exact path ranks costs one cosine distance: the sort key is the selected distance.

    Sorting by an expression the query also selects, written twice, computed every distance twice
    (20260202002400_search_exact_distance_once.sql). pgvector's ``cosine_distance`` is counted as it is
    called, in this transaction only.
    """
    alice = people["alice"]
    query = EMBED.embed(["deadline stress quarterly report"])[0]
    with psycopg.connect(db_url) as conn:
        conn.execute("set local track_functions = 'all'")
        conn.execute(SET_IDENTITY, identity_params(Identity.for_user(alice.user_id)))
        hits = conn.execute(
            "select search_method from public.semantic_search(%s::extensions.vector, 50)",
            (vector_text(query),),
        ).fetchall()
        conn.execute("reset role")
        (calls,) = conn.execute(
            "select coalesce(sum(calls), 0) from pg_catalog.pg_stat_xact_user_functions"
            " where schemaname = 'extensions' and funcname = 'cosine_distance'"
        ).fetchone() or (None,)
    # Alice's memories with an embedding, less the deleted one: each ranked, each distance computed once.
    assert {m for (m,) in hits} == {"exact"}
    assert len(hits) == len(FILLER) + 2
    assert calls == len(FILLER) + 2


def test_another_users_memories_never_appear(people: dict[str, Any]) -> None:
    alice, bob = people["alice"], people["bob"]
    for hits in (
        alice.search.semantic("deadline stress quarterly report", match_count=100, threshold=None),
        alice.search.text("deadline stress", match_count=100),
        alice.search.hybrid("deadline stress", match_count=100),
    ):
        assert hits
        assert {h.user_id for h in hits} == {alice.user_id}
    assert {h.user_id for h in bob.search.hybrid("deadline stress", match_count=100)} == {bob.user_id}


def test_text_search_by_words_without_embeddings(
    people: dict[str, Any], root: Phase3Client, db_url: str
) -> None:
    from phase3_sdk.db.embedded import create_auth_user

    carol = root.as_user(user_id=create_auth_user(db_url, "carol@example.test"))
    carol.conversations.bulk_create(
        [{"messages": [{"role": "user", "content": "Climbing at the bouldering gym tonight"}]}]
        + [{"messages": [{"role": "user", "content": t}]} for t in FILLER]
    )
    hits = carol.search.text("climbing gym")
    assert texts(hits) == ["Climbing at the bouldering gym tonight"]
    assert hits[0].rank is not None
    assert hits[0].rank > 0
    assert carol.search.semantic("climbing gym") == []  # nothing has an embedding
    assert people["alice"].search.text("octopuses")[0].messages[0]["content"].startswith("Watched")


def test_hybrid_ranks_both_ways_above_one_way(people: dict[str, Any]) -> None:
    hits = people["alice"].search.hybrid("deadline stress", match_count=5)
    assert texts(hits)[0].startswith("Deadline stress at work")  # matches by words and by meaning
    top = hits[0]
    assert top.similarity is not None
    assert top.rank is not None
    assert top.score is not None
    words_only = next(h for h in hits if texts([h])[0] == "The deadline stress is back")
    assert words_only.score is not None
    assert words_only.score < top.score
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]


def test_bad_queries_fail_before_any_request(people: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    alice = people["alice"]

    def no_request(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a request was made")

    monkeypatch.setattr(type(alice._transport.backend), "rpc", no_request)
    with pytest.raises(InvalidInputError) as err:
        alice.search.semantic([0.1] * 767)
    assert err.value.field == "query"
    with pytest.raises(InvalidInputError):
        alice.search.semantic([float("nan")] * 768)
    with pytest.raises(InvalidInputError) as err:
        alice.search.semantic("x", match_count=0)
    assert err.value.field == "match_count"
    with pytest.raises(InvalidInputError) as err:
        alice.search.text("  ")
    with pytest.raises(InvalidInputError) as err:
        alice.search.semantic("x", salience_tier="urgent")  # type: ignore[arg-type]
    assert err.value.field == "salience_tier"
    with pytest.raises(InvalidInputError) as err:
        alice.search.hybrid("x", embedding=[0.0] * 767)
    assert err.value.field == "embedding"


def test_embedder_of_wrong_dimension_is_a_clear_error(db_url: str) -> None:
    with pytest.raises(ConfigurationError, match="384-dimension"):
        Phase3Client.connect(db_url, embedder=HashingEmbedder(384)).search  # noqa: B018


def test_bulk_create_round_trips_rows_exactly_and_retries_do_not_duplicate(
    root: Phase3Client, make_user: MakeUser
) -> None:
    me = root.as_user(user_id=make_user())
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(1200, 768)).astype(np.float32)
    rows = [
        {
            "id": uuid.uuid4(),
            "messages": [
                {"role": "user", "content": f"memory {i}", "timestamp": (T0 + timedelta(hours=i)).isoformat()}
            ],
            "extracted_topics": ["a", f"t{i % 7}"],
            "secondary_emotions": ["calm"],
            "valence": -0.25,
            "salience_tier": "medium",
            "embedding": vectors[i] if i % 2 else vectors[i].tolist(),
            "created_at": T0 + timedelta(hours=i),
            **({"is_deleted": True} if i == 5 else {}),
        }
        for i in range(1200)
    ]
    rows.append(
        {"id": uuid.uuid4(), "messages": [{"role": "user", "content": "no embedding, database defaults"}]}
    )
    assert me.conversations.bulk_create(rows, batch_size=500) == 1201
    # A retried batch (its reply lost after commit) and a whole re-run store nothing twice.
    assert me.conversations.bulk_create(rows[:500], batch_size=500) == 500
    assert me.conversations.bulk_create(rows, batch_size=300) == 1201
    assert me.conversations.count() == 1201

    stored = {c.id: c for c in me.conversations.list(include_embedding=True, page_size=1000)}
    for i in (0, 1, 5, 1199):
        row, got = rows[i], stored[rows[i]["id"]]
        assert got.embedding is not None
        assert np.array_equal(np.asarray(got.embedding, dtype=np.float32), vectors[i])  # exact float32 values
        assert got.messages[0]["content"] == f"memory {i}"
        assert got.extracted_topics == row["extracted_topics"]
        assert got.secondary_emotions == ["calm"]
        assert got.created_at == row["created_at"]
        assert got.valence == -0.25
        assert got.user_id == me.user_id
        assert got.is_deleted == (i == 5)
    plain = next(c for c in stored.values() if c.messages[0]["content"].startswith("no embedding"))
    assert plain.embedding is None
    assert plain.extracted_topics == []
    assert plain.created_at is not None


def test_bulk_create_validates_every_row_first(root: Phase3Client, make_user: MakeUser, db_url: str) -> None:
    me = root.as_user(user_id=make_user())
    good = {"messages": [{"role": "user", "content": "fine"}]}
    with pytest.raises(InvalidInputError, match=r"rows\[1\]\.embedding"):
        me.conversations.bulk_create([good, {**good, "embedding": [0.0] * 767}])
    with pytest.raises(InvalidInputError, match=r"rows\[0\]"):
        me.conversations.bulk_create([{**good, "colour": "red"}])
    assert me.conversations.count() == 0


def test_large_user_takes_the_sketch_path_with_exact_top_hits(
    root: Phase3Client, make_user: MakeUser, db_url: str
) -> None:
    """Above 2,000 memories semantic_search ranks by 2-bit sketch, then re-ranks exactly.

    Planted: for each query, ten memories just around it (cosine ~0.9) among 3,000 clustered others, and
    a deleted and a 'low'-tier copy of the query itself. The sketch path must return the exact top 10 in
    exact order, skip the deleted copy unless asked, and apply the tier filter before ranking (so a tier
    filter returns that tier's best, not the overall best filtered afterwards).
    """
    me = root.as_user(user_id=make_user())
    rng = np.random.default_rng(11)
    centres = rng.normal(size=(40, 768))
    vectors = centres[rng.integers(0, 40, 3000)] + rng.normal(scale=0.9, size=(3000, 768))
    queries = rng.normal(size=(3, 768))
    planted = np.concatenate([q + rng.normal(scale=0.35, size=(10, 768)) for q in queries])
    vectors = np.concatenate([vectors, planted])
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    tiers = ["medium", "high"] * (len(vectors) // 2)
    rows = [
        {"messages": [{"role": "user", "content": f"m{i}"}], "embedding": v, "salience_tier": t}
        for i, (v, t) in enumerate(zip(vectors, tiers, strict=True))
    ]
    rows += [
        {"messages": [{"role": "user", "content": f"deleted{j}"}], "embedding": q, "is_deleted": True}
        for j, q in enumerate(queries)
    ]
    rows += [
        {"messages": [{"role": "user", "content": f"low{j}"}], "embedding": q, "salience_tier": "low"}
        for j, q in enumerate(queries)
    ]
    me.conversations.bulk_create(rows, batch_size=1500)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("vacuum analyze public.conversations")  # index-only scans need the visibility map
    for j, q in enumerate(queries):
        sims = vectors @ q
        exact = [f"m{i}" for i in np.argsort(-sims)[:10]]
        hits = me.search.semantic(q, match_count=11, threshold=None)
        assert texts(hits) == [f"low{j}", *exact]  # the deleted copy is skipped, the rest in exact order
        assert hits[1].similarity == pytest.approx(float(sims[np.argsort(-sims)[0]]), abs=1e-5)
        with_deleted = me.search.semantic(q, match_count=2, threshold=None, include_deleted=True)
        assert sorted(texts(with_deleted)) == sorted([f"deleted{j}", f"low{j}"])
        high = np.flatnonzero(np.array(tiers) == "high")
        best_high = [f"m{i}" for i in high[np.argsort(-sims[high])[:5]]]
        assert texts(me.search.semantic(q, match_count=5, threshold=None, salience_tier="high")) == best_high
        strict = me.search.semantic(q, match_count=50, threshold=0.5)
        assert texts(strict) == [f"low{j}", *[f"m{i}" for i in np.argsort(-sims) if sims[i] >= 0.5]]
