from __future__ import annotations

import json
from typing import Any

import pytest

from phase3_sdk.errors import InvalidInputError
from phase3_sdk.synthesis import LLMAnalyzer, MemoryRecord

from .conftest import History


def answer(ids: list[str], **overrides: Any) -> str:
    pattern: dict[str, Any] = {
        "pattern_type": "weekly_emotion_rhythm",
        "subject": "Monday meetings",
        "layer": 2,
        "description": "Anxiety before Monday meetings",
        "evidence": {"memory_ids": ids},
        "confidence": 0.8,
    }
    pattern.update(overrides)
    return json.dumps({"patterns": [pattern]})


@pytest.fixture
def memories(planted: History) -> list[MemoryRecord]:
    return planted.memories[:300]


def cited(analyzer: LLMAnalyzer, memories: list[MemoryRecord]) -> list[str]:
    return [str(m.id) for m in analyzer.select(memories)[:3]]


def test_valid_answer_becomes_patterns(memories: list[MemoryRecord]) -> None:
    prompts: list[str] = []

    def complete(prompt: str) -> str:
        prompts.append(prompt)
        return answer(ids)

    analyzer = LLMAnalyzer(complete, "emotional_patterns", max_memories=40)
    ids = cited(analyzer, memories)
    [pattern] = analyzer.analyze(memories)
    assert pattern.memory_ids == ids
    assert pattern.key == "weekly_emotion_rhythm:monday-meetings"
    assert pattern.confidence == 0.8
    assert all(i in prompts[0] for i in ids)
    assert "2 = emotional patterns" in prompts[0]


def test_prompt_is_bounded(memories: list[MemoryRecord]) -> None:
    analyzer = LLMAnalyzer(lambda p: "{}", "full_synthesis", max_memories=50, max_chars=80)
    prompt = analyzer.prompt(memories * 10)
    assert prompt.count("\n") < 80
    assert len(prompt) < 50 * 300 + 3000


def test_fenced_json_is_accepted(memories: list[MemoryRecord]) -> None:
    analyzer = LLMAnalyzer(
        lambda p: "```json\n" + answer(cited(analyzer, memories)) + "\n```", "emotional_patterns"
    )
    assert len(analyzer.analyze(memories)) == 1


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda ids: "Sure! Here are the patterns: anxiety on Mondays.", "not JSON"),
        (lambda ids: json.dumps({"items": []}), "schema"),
        (lambda ids: answer(ids, confidence=1.5), "confidence"),
        (lambda ids: answer(ids, confidence="0.8"), "confidence"),
        (lambda ids: answer(ids, extra="x"), "extra"),
        (lambda ids: answer([]), "memory_ids"),
        (lambda ids: answer([*ids, "00000000-0000-4000-8000-000000000000"]), "not in the input"),
        (lambda ids: answer(ids, layer=3), "may only write layers"),
        (lambda ids: answer(ids, layer=9), "layer"),
    ],
)
def test_invalid_answers_are_rejected(memories: list[MemoryRecord], make: Any, reason: str) -> None:
    analyzer = LLMAnalyzer(lambda p: make(cited(analyzer, memories)), "emotional_patterns", max_memories=40)
    with pytest.raises(InvalidInputError, match=reason):
        analyzer.analyze(memories)


def test_ids_outside_the_digest_are_rejected(memories: list[MemoryRecord]) -> None:
    analyzer = LLMAnalyzer(lambda p: answer([hidden]), "emotional_patterns", max_memories=10)
    shown = {str(m.id) for m in analyzer.select(memories)}
    hidden = next(str(m.id) for m in memories if str(m.id) not in shown)
    with pytest.raises(InvalidInputError, match="not in the input"):
        analyzer.analyze(memories)


async def test_async_completion(memories: list[MemoryRecord]) -> None:
    analyzer = LLMAnalyzer(lambda p: "unused", "full_synthesis")

    async def acomplete(prompt: str) -> str:
        return answer(cited(analyzer, memories), layer=5, pattern_type="emotion_link")

    [pattern] = await analyzer.aanalyze(memories, acomplete)
    assert pattern.layer == 5
