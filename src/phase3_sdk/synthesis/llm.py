"""An analyzer backed by a user-supplied LLM completion function, with strict answer validation.

The model sees a bounded digest of the memories (each line carries the memory id) and must answer
with JSON matching :class:`LLMAnswer`. Anything else (prose, a wrong shape, a cited id that was not
in the digest, a confidence outside 0..1, a layer the synthesis type may not write) raises
:class:`~phase3_sdk.errors.InvalidInputError` saying why, so a bad answer is never stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from phase3_sdk.errors import InvalidInputError
from phase3_sdk.synthesis.types import (
    LAYER_NAMES,
    LAYERS_BY_TYPE,
    DetectedPattern,
    MemoryRecord,
    SynthesisType,
    slug,
)

_FOCUS: dict[SynthesisType, str] = {
    "emotional_patterns": (
        "Find recurring emotional patterns (layer 2): emotions that recur on a weekday or time of day, "
        "recurring primary emotions, and trends in valence, arousal or dominance."
    ),
    "narrative_coherence": (
        "Find narrative patterns (layer 1): recurring topics, topics that return on a regular schedule, "
        "and how consistent the user's story is over time."
    ),
    "relational_memory": (
        "Find relational patterns (layer 3): people who recur, and how the warmth (valence) of memories "
        "about each person changes over time."
    ),
    "prospective_self": (
        "Find prospective-self patterns (layer 4): goals and aspirations the user states repeatedly, and "
        "whether later memories show action on them."
    ),
    "full_synthesis": (
        "Find patterns on every layer: 1 narrative coherence, 2 emotional patterns, 3 relational memory, "
        "4 prospective self, 5 cross-layer links (e.g. an emotion tied to a person or topic), 6 emotion and "
        "aspiration, 7 core themes."
    ),
}

_SCHEMA_TEXT = """Answer with ONLY a JSON object, no prose and no code fence, of this exact shape:
{"patterns": [{"pattern_type": "snake_case_name", "subject": "short noun phrase the pattern is about",
  "layer": <int>, "description": "one sentence a user would understand",
  "evidence": {"memory_ids": ["<ids copied from the digest>"]}, "confidence": <number 0..1>}]}
Cite only ids that appear in the digest. Return {"patterns": []} if nothing recurs."""


class LLMEvidence(BaseModel):
    """The evidence of one pattern in an LLM answer: at least one cited memory id."""

    model_config = ConfigDict(extra="forbid", strict=True)

    memory_ids: list[str] = Field(min_length=1, max_length=500)


class LLMPattern(BaseModel):
    """One pattern in an LLM answer."""

    model_config = ConfigDict(extra="forbid", strict=True)

    pattern_type: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    subject: str = Field(min_length=1, max_length=80)
    layer: int = Field(ge=1, le=7)
    description: str = Field(min_length=1, max_length=1000)
    evidence: LLMEvidence
    confidence: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)


class LLMAnswer(BaseModel):
    """The complete JSON answer the model must give."""

    model_config = ConfigDict(extra="forbid", strict=True)

    patterns: list[LLMPattern] = Field(max_length=50)


_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


class LLMAnalyzer:
    """Asks an LLM for patterns of one synthesis type; deterministic apart from the model itself.

    ``complete`` is any ``prompt -> text`` function (an SDK call, a local model, a fake in tests).
    The digest shows at most ``max_memories`` memories (the most emotionally salient, then listed in
    time order), each truncated to ``max_chars`` characters, so the prompt stays bounded whatever the
    history size. Confidence is the model's own 0..1 estimate, validated but not recalibrated.
    """

    def __init__(
        self,
        complete: Callable[[str], str],
        synthesis_type: SynthesisType,
        *,
        max_memories: int = 150,
        max_chars: int = 200,
    ) -> None:
        if synthesis_type not in _FOCUS:
            raise InvalidInputError(f"unknown synthesis type {synthesis_type!r}", field="synthesis_type")
        self.complete = complete
        self.synthesis_type = synthesis_type
        self.max_memories = max_memories
        self.max_chars = max_chars

    def select(self, memories: Sequence[MemoryRecord]) -> list[MemoryRecord]:
        """The memories the digest shows: the most salient ``max_memories``, in time order."""
        chosen = sorted(
            memories,
            key=lambda m: (not m.user_marked_important, -m.emotional_salience, m.created_at, str(m.id)),
        )[: self.max_memories]
        return sorted(chosen, key=lambda m: (m.created_at, str(m.id)))

    def digest(self, memories: Sequence[MemoryRecord]) -> str:
        """One line per memory: id, local time, emotion and affect, topics, context and truncated text."""
        lines = []
        for m in memories:
            text = " ".join(m.user_text.split())
            if len(text) > self.max_chars:
                text = text[: self.max_chars - 1] + "…"
            extras = []
            if m.extracted_topics:
                extras.append("topics=" + ",".join(m.extracted_topics[:5]))
            if m.attachment_context:
                extras.append("people=" + m.attachment_context[:60])
            if m.prospective_self_context:
                extras.append("future=" + m.prospective_self_context[:60])
            lines.append(
                f"{m.id} | {m.created_at:%Y-%m-%d %a %H:%M} | {m.primary_emotion or '-'} v={m.valence:+.2f} "
                f"a={m.arousal:.2f} d={m.dominance:.2f} | {' | '.join(extras)} | {text}"
            )
        return "\n".join(lines)

    def prompt(self, memories: Sequence[MemoryRecord]) -> str:
        """The full prompt for ``memories``: task, allowed layers, digest and answer schema."""
        shown = self.select(memories)
        layers = ", ".join(f"{n} = {LAYER_NAMES[n]}" for n in sorted(LAYERS_BY_TYPE[self.synthesis_type]))
        return (
            "You analyse a person's conversation memories to find patterns that recur over time.\n"
            f"{_FOCUS[self.synthesis_type]}\nAllowed layers: {layers}.\n"
            "Report only patterns supported by several memories; confidence is your probability that the "
            "pattern is real.\n\n"
            f"Memories ({len(shown)} of {len(memories)}; id | time | emotion and valence/arousal/dominance | "
            f"context | text):\n{self.digest(shown)}\n\n{_SCHEMA_TEXT}\n"
        )

    def analyze(self, memories: Sequence[MemoryRecord]) -> list[DetectedPattern]:
        """Prompt the model and return its validated patterns (``InvalidInputError`` on a bad answer)."""
        if not memories:
            return []
        answer = self.complete(self.prompt(memories))
        return self.parse(answer, self.select(memories))

    async def aanalyze(
        self, memories: Sequence[MemoryRecord], acomplete: Callable[[str], Awaitable[str]]
    ) -> list[DetectedPattern]:
        """Like :meth:`analyze`, with an async completion function."""
        if not memories:
            return []
        answer = await acomplete(self.prompt(memories))
        return self.parse(answer, self.select(memories))

    def parse(self, answer: str, shown: Sequence[MemoryRecord]) -> list[DetectedPattern]:
        """Validate a raw model answer against the schema and the memories that were shown."""
        if not isinstance(answer, str):
            raise InvalidInputError(
                f"the LLM answer must be text, got {type(answer).__name__}", field="answer"
            )
        text = answer.strip()
        fenced = _FENCE.match(text)
        if fenced:
            # A single surrounding ```json fence is the one liberty models take even when told not
            # to; it changes nothing about the content, so it is unwrapped rather than rejected.
            text = fenced.group(1)
        try:
            raw: Any = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(
                f"the LLM answer is not JSON ({exc.msg} at position {exc.pos}): {text[:80]!r}", field="answer"
            ) from exc
        try:
            parsed = LLMAnswer.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'answer'}: {err['msg']}"
                for err in exc.errors()[:5]
            )
            raise InvalidInputError(
                f"the LLM answer does not match the schema: {problems}", field="answer"
            ) from exc
        known = {str(m.id) for m in shown}
        allowed = LAYERS_BY_TYPE[self.synthesis_type]
        patterns = []
        for i, item in enumerate(parsed.patterns):
            unknown = [mid for mid in item.evidence.memory_ids if mid not in known]
            if unknown:
                raise InvalidInputError(
                    f"pattern {i} ({item.pattern_type}) cites memory ids that were not in the input: "
                    f"{', '.join(unknown[:3])}",
                    field=f"patterns.{i}.evidence.memory_ids",
                )
            if item.layer not in allowed:
                raise InvalidInputError(
                    f"pattern {i} ({item.pattern_type}) is on layer {item.layer}, but a "
                    f"{self.synthesis_type} "
                    f"job may only write layers {sorted(allowed)}",
                    field=f"patterns.{i}.layer",
                )
            ids = list(dict.fromkeys(item.evidence.memory_ids))
            patterns.append(
                DetectedPattern(
                    pattern_type=item.pattern_type,
                    layer=item.layer,
                    description=item.description,
                    evidence={
                        "memory_ids": ids,
                        "memory_count": len(ids),
                        "subject": item.subject,
                        "source": "llm",
                    },
                    confidence=item.confidence,
                    key=f"{item.pattern_type}:{slug(item.subject)}",
                )
            )
        return patterns
