from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import numpy as np
import pytest

from phase3_sdk.errors import InvalidInputError
from phase3_sdk.synthesis import DetectedPattern, MemoryRecord
from phase3_sdk.testing.seed import PLANTED_KINDS, generate_history, generate_history_with_truth

from .conftest import START


def row(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": str(uuid4()),
        "created_at": "2024-03-04T08:30:00Z",
        "messages": [
            {"role": "user", "content": "I dread the meeting"},
            {"role": "assistant", "content": "Why?"},
        ],
        "primary_emotion": "anxious",
        "valence": -0.6,
        "extracted_topics": ["work"],
    }
    base.update(overrides)
    return base


@pytest.mark.parametrize(
    "embedding", [[0.5, 0.25, 0.0], np.array([0.5, 0.25, 0.0]), "[0.5,0.25,0]", " [0.5, 0.25, 0.0] "]
)
def test_from_row_accepts_every_embedding_form(embedding: object) -> None:
    record = MemoryRecord.from_row(row(embedding=embedding))
    assert record.embedding is not None
    assert record.embedding.tolist() == [0.5, 0.25, 0.0]


def test_from_row_parses_text_columns_and_defaults() -> None:
    record = MemoryRecord.from_row(
        row(messages=json.dumps([{"role": "user", "content": "hi"}]), valence=None)
    )
    assert record.created_at == datetime(2024, 3, 4, 8, 30, tzinfo=UTC)
    assert record.text == "hi"
    assert record.valence == 0.0
    assert record.embedding is None
    assert MemoryRecord.from_row(row()).text == "I dread the meeting\nWhy?"
    assert MemoryRecord.from_row(row()).user_text == "I dread the meeting"
    assert MemoryRecord.from_row(row(extracted_topics='{work,"team meeting"}')).extracted_topics == (
        "work",
        "team meeting",
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"id": "nope"}, "id"), ({"created_at": None}, "created_at"), ({"embedding": "0.1,0.2"}, "embedding"),
     ({"valence": float("nan")}, "valence")],
)  # fmt: skip
def test_from_row_rejects_bad_rows(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        MemoryRecord.from_row(row(**overrides))
    assert info.value.field == field


def test_records_compare_by_id() -> None:
    data = row(embedding=[0.1, 0.2])
    assert MemoryRecord.from_row(data) == MemoryRecord.from_row({**data, "valence": 0.9})


def test_detected_pattern_validates() -> None:
    good = {"memory_ids": ["a"], "n": 1}
    DetectedPattern("x", 1, "d", good, 0.5, "x:y")
    with pytest.raises(InvalidInputError, match="memory_ids"):
        DetectedPattern("x", 1, "d", {"n": 1}, 0.5, "x:y")
    with pytest.raises(InvalidInputError, match="confidence"):
        DetectedPattern("x", 1, "d", good, 1.5, "x:y")
    with pytest.raises(InvalidInputError, match="layer"):
        DetectedPattern("x", 8, "d", good, 0.5, "x:y")
    with pytest.raises(InvalidInputError, match="JSON"):
        DetectedPattern("x", 1, "d", {"memory_ids": ["a"], "when": datetime.now()}, 0.5, "x:y")


def test_generation_is_deterministic_and_seed_dependent() -> None:
    a, truth_a = generate_history_with_truth(n=500, seed=1, start=START)
    b, truth_b = generate_history_with_truth(n=500, seed=1, start=START)
    c = generate_history(n=500, seed=2, start=START)
    assert [r["id"] for r in a] == [r["id"] for r in b]
    assert truth_a == truth_b
    assert np.array_equal(a[10]["embedding"], b[10]["embedding"])
    assert [r["id"] for r in a] != [r["id"] for r in c]


def test_generated_rows_look_like_conversations() -> None:
    rows, truth = generate_history_with_truth(n=800, seed=3, start=START)
    assert len(rows) == 800
    assert set(truth) == set(PLANTED_KINDS)
    times = [r["created_at"] for r in rows]
    assert times == sorted(times)
    assert times[0] >= START
    assert times[-1] < START + timedelta(days=201)
    for r in rows[:50]:
        assert -1.0 <= r["valence"] <= 1.0
        assert 0.0 <= r["arousal"] <= 1.0
        assert r["salience_tier"] in {"critical", "high", "medium", "low"}
        assert r["embedding"].shape == (768,)
        assert r["messages"][0]["role"] == "user"
        assert "user_id" not in r
    ids = {r["id"] for r in rows}
    assert all(set(v) <= ids for v in truth.values())
    monday = [r for r in rows if r["id"] in set(truth["monday_anxiety"])]
    assert all(r["created_at"].weekday() in (6, 0) and r["primary_emotion"] == "anxious" for r in monday)


def test_noise_history_has_no_truth_and_no_planted_subjects() -> None:
    rows, truth = generate_history_with_truth(n=1000, seed=4, start=START, planted=False)
    assert truth == {}
    text = " ".join(r["messages"][0]["content"] for r in rows).lower()
    assert "maya" not in text
    assert "climbing" not in text


def test_too_small_n_for_planting_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="too small") as info:
        generate_history(n=20, seed=1, start=START)
    assert info.value.field == "n"


def test_the_old_seed_paths_still_work_and_warn() -> None:
    import importlib
    import sys

    import phase3_sdk.synthesis
    from phase3_sdk.testing import seed

    sys.modules.pop("phase3_sdk.synthesis.seed", None)
    with pytest.warns(DeprecationWarning, match=r"phase3_sdk\.testing\.seed"):
        old = importlib.import_module("phase3_sdk.synthesis.seed")
    assert old.generate_history is seed.generate_history
    for name in ("PLANTED_KINDS", "generate_history", "generate_history_with_truth"):
        with pytest.warns(DeprecationWarning, match=rf"phase3_sdk\.testing\.seed\.{name}"):
            assert getattr(phase3_sdk.synthesis, name) is getattr(seed, name)
    with pytest.raises(AttributeError):
        _ = phase3_sdk.synthesis.no_such_name
