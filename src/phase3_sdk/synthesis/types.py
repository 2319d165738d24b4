"""Value types shared by the synthesis analyzers: memories in, patterns and recommendation drafts out."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal, get_args
from uuid import UUID

from phase3_sdk._extras import missing_extra
from phase3_sdk.errors import InvalidInputError

try:
    import numpy as np
    import numpy.typing as npt
except ImportError as exc:
    raise missing_extra(exc, "memory synthesis", "synthesis") from None

#: The job types a synthesis run can have; ``full_synthesis`` runs every analyzer.
SynthesisType = Literal[
    "emotional_patterns", "prospective_self", "relational_memory", "narrative_coherence", "full_synthesis"
]
SYNTHESIS_TYPES: Final[tuple[SynthesisType, ...]] = get_args(SynthesisType)

#: ``memory_patterns.layer`` as the app numbers it.
LAYER_NAMES: Final[dict[int, str]] = {
    1: "narrative coherence",
    2: "emotional patterns",
    3: "relational memory",
    4: "prospective self",
    5: "cross-layer links",
    6: "emotion and aspiration",
    7: "core themes",
}

#: Which layers each synthesis type may write.
LAYERS_BY_TYPE: Final[dict[SynthesisType, frozenset[int]]] = {
    "narrative_coherence": frozenset({1}),
    "emotional_patterns": frozenset({2}),
    "relational_memory": frozenset({3}),
    "prospective_self": frozenset({4}),
    "full_synthesis": frozenset(LAYER_NAMES),
}

Priority = Literal["low", "medium", "high"]
SalienceTier = Literal["critical", "high", "medium", "low"]


def _as_tuple_of_str(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        # Postgres text[] can arrive as its literal, e.g. '{work,"team meeting"}', through some drivers.
        inner = value.strip().removeprefix("{").removesuffix("}")
        return tuple(part.strip().strip('"') for part in inner.split(",") if part.strip())
    return tuple(str(v) for v in value)


def parse_embedding(value: Any) -> npt.NDArray[np.float32] | None:
    """Turn an embedding as a driver returns it (list, numpy array, pgvector text) into a float32 array."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not (text.startswith("[") and text.endswith("]")):
            raise InvalidInputError(
                f"embedding text must look like '[0.1,0.2,...]', got {text[:40]!r}", field="embedding"
            )
        body = text[1:-1].strip()
        try:
            return np.array([float(x) for x in body.split(",")] if body else [], dtype=np.float32)
        except ValueError as exc:
            raise InvalidInputError(
                f"embedding text is not a list of numbers: {exc}", field="embedding"
            ) from exc
    if hasattr(value, "to_numpy"):  # pgvector.Vector
        value = value.to_numpy()
    return np.asarray(value, dtype=np.float32).reshape(-1)


def _float(row: Mapping[str, Any], name: str, default: float) -> float:
    value = row.get(name)
    if value is None:
        return default
    result = float(value)
    if not math.isfinite(result):
        raise InvalidInputError(f"{name} must be a finite number, got {value!r}", field=name)
    return result


@dataclass(frozen=True, slots=True)
class MemoryRecord:
    """One ``conversations`` row, reduced to what the analyzers read.

    Equality and hashing use ``id`` only, because two records of the same row are the same memory
    (and numpy arrays and dicts are not comparable or hashable anyway).
    """

    id: UUID
    created_at: datetime
    messages: tuple[Mapping[str, Any], ...] = field(default=(), compare=False)
    primary_emotion: str | None = field(default=None, compare=False)
    secondary_emotions: tuple[str, ...] = field(default=(), compare=False)
    valence: float = field(default=0.0, compare=False)
    arousal: float = field(default=0.5, compare=False)
    dominance: float = field(default=0.5, compare=False)
    novelty: float = field(default=0.5, compare=False)
    self_relevance: float = field(default=0.5, compare=False)
    emotional_salience: float = field(default=0.5, compare=False)
    salience_tier: str | None = field(default=None, compare=False)
    extracted_topics: tuple[str, ...] = field(default=(), compare=False)
    embedding: npt.NDArray[np.float32] | None = field(default=None, compare=False, repr=False)
    attachment_context: str | None = field(default=None, compare=False)
    prospective_self_context: str | None = field(default=None, compare=False)
    user_marked_important: bool = field(default=False, compare=False)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> MemoryRecord:
        """Build a record from a ``conversations`` row dict (REST JSON or a psycopg dict row).

        ``messages`` may be a list or its JSON text; ``embedding`` a list, a numpy array, a
        ``pgvector.Vector`` or pgvector's text form ``"[0.1,0.2]"``; ``created_at`` a datetime or
        ISO-8601 text. Missing affect scores take neutral defaults.
        """
        for required in ("id", "created_at"):
            if row.get(required) is None:
                raise InvalidInputError(f"conversation row is missing {required!r}", field=required)
        raw_id = row["id"]
        try:
            memory_id = raw_id if isinstance(raw_id, UUID) else UUID(str(raw_id))
        except ValueError as exc:
            raise InvalidInputError(f"id is not a UUID: {raw_id!r}", field="id") from exc
        created = row["created_at"]
        if isinstance(created, str):
            try:
                created = datetime.fromisoformat(created.replace("Z", "+00:00"))
            except ValueError as exc:
                raise InvalidInputError(
                    f"created_at is not ISO-8601: {created!r}", field="created_at"
                ) from exc
        if not isinstance(created, datetime):
            raise InvalidInputError(
                f"created_at must be a datetime, got {type(created).__name__}", field="created_at"
            )
        messages = row.get("messages") or []
        if isinstance(messages, str):
            messages = json.loads(messages)
        return cls(
            id=memory_id,
            created_at=created,
            messages=tuple(m for m in messages if isinstance(m, Mapping)),
            primary_emotion=(row.get("primary_emotion") or None),
            secondary_emotions=_as_tuple_of_str(row.get("secondary_emotions")),
            valence=_float(row, "valence", 0.0),
            arousal=_float(row, "arousal", 0.5),
            dominance=_float(row, "dominance", 0.5),
            novelty=_float(row, "novelty", 0.5),
            self_relevance=_float(row, "self_relevance", 0.5),
            emotional_salience=_float(row, "emotional_salience", 0.5),
            salience_tier=row.get("salience_tier"),
            extracted_topics=_as_tuple_of_str(row.get("extracted_topics")),
            embedding=parse_embedding(row.get("embedding")),
            attachment_context=row.get("attachment_context"),
            prospective_self_context=row.get("prospective_self_context"),
            user_marked_important=bool(row.get("user_marked_important") or False),
        )

    @property
    def text(self) -> str:
        """The message contents joined by newlines (user and assistant turns alike)."""
        return "\n".join(str(m.get("content", "")) for m in self.messages if m.get("content"))

    @property
    def user_text(self) -> str:
        """Only what the user said; statements like "I will ..." are about the user only here."""
        return "\n".join(
            str(m.get("content", ""))
            for m in self.messages
            if m.get("role", "user") == "user" and m.get("content")
        )


_SLUG = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """Normalise a subject for pattern keys: lowercase ASCII words joined by dashes."""
    return _SLUG.sub("-", text.lower()).strip("-")


def _check_json(value: Any, path: str) -> None:
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"evidence value at {path} is not finite", field="evidence")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_json(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for k, item in value.items():
            if not isinstance(k, str):
                raise InvalidInputError(f"evidence key at {path} is not a string: {k!r}", field="evidence")
            _check_json(item, f"{path}.{k}")
        return
    raise InvalidInputError(
        f"evidence value at {path} is not JSON-able: {type(value).__name__}", field="evidence"
    )


@dataclass(frozen=True)
class DetectedPattern:
    """A pattern an analyzer found, ready to become a ``memory_patterns`` row.

    ``evidence`` is JSON-able and always holds ``memory_ids`` (the memories behind the pattern, as
    strings) plus the figures the analyzer computed. ``key`` identifies the pattern across runs
    (``"<pattern_type>:<normalised subject>"``), so re-detecting "anxious before Monday meetings" next
    week updates the stored pattern instead of adding a second one, even though its figures moved.
    """

    pattern_type: str
    layer: int
    description: str
    evidence: dict[str, Any]
    confidence: float
    key: str

    def __post_init__(self) -> None:
        if self.layer not in LAYER_NAMES:
            raise InvalidInputError(f"layer must be 1..7, got {self.layer}", field="layer")
        if not (0.0 <= self.confidence <= 1.0) or math.isnan(self.confidence):
            raise InvalidInputError(
                f"confidence must be within 0..1, got {self.confidence}", field="confidence"
            )
        ids = self.evidence.get("memory_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise InvalidInputError(
                "evidence.memory_ids must be a non-empty list of id strings", field="evidence"
            )
        if not self.pattern_type or not self.description.strip() or not self.key:
            raise InvalidInputError(
                "pattern_type, description and key must not be empty", field="pattern_type"
            )
        _check_json(self.evidence, "evidence")

    @property
    def memory_ids(self) -> list[str]:
        """The ids in ``evidence.memory_ids``."""
        ids: list[str] = self.evidence["memory_ids"]
        return ids


@dataclass(frozen=True)
class RecommendationDraft:
    """A ``synthesis_recommendations`` row before it is linked to a job and stored."""

    recommendation: str
    category: str
    priority: Priority


def ids_of(memories: Sequence[MemoryRecord]) -> list[str]:
    """The ids of ``memories`` as strings, in order (the form ``evidence.memory_ids`` stores)."""
    return [str(m.id) for m in memories]
