"""The analyzer protocol, the registry of built-in analyzers per synthesis type, and a runner."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo
from typing import Protocol, runtime_checkable

from phase3_sdk.errors import InvalidInput
from phase3_sdk.synthesis.types import SYNTHESIS_TYPES, DetectedPattern, MemoryRecord, SynthesisType

#: Evidence lists are capped so one pattern over years of history stays a small jsonb value;
#: ``evidence["memory_count"]`` keeps the full count.
MAX_EVIDENCE_IDS = 200


@runtime_checkable
class Analyzer(Protocol):
    """Finds patterns of one synthesis type in a user's memories; pure, no database or network."""

    @property
    def synthesis_type(self) -> SynthesisType:
        """The job type this analyzer serves (read-only, so a ``Literal`` class attribute satisfies it)."""
        ...

    def analyze(self, memories: Sequence[MemoryRecord]) -> list[DetectedPattern]:
        """Return the patterns found in ``memories`` (any order in, any size; empty list if none)."""
        ...


def cap_ids(ids: Sequence[str]) -> list[str]:
    """At most :data:`MAX_EVIDENCE_IDS` ids, keeping the first ones (callers pass them best-first)."""
    return list(ids[:MAX_EVIDENCE_IDS])


def analyzers_for(synthesis_type: SynthesisType, *, tz: tzinfo | None = None) -> list[Analyzer]:
    """The built-in analyzers a job of ``synthesis_type`` runs.

    ``full_synthesis`` runs the four single-layer analyzers plus the integration analyzer (layers
    5-7). ``tz`` is the user's time zone: weekday and time-of-day patterns are computed in it
    (default: whatever zone ``created_at`` carries, UTC for database rows).
    """
    # Imported here because the analyzer modules import this one for the protocol helpers.
    from phase3_sdk.synthesis.analyzers.emotional import EmotionalPatternsAnalyzer
    from phase3_sdk.synthesis.analyzers.integration import IntegrationAnalyzer
    from phase3_sdk.synthesis.analyzers.narrative import NarrativeCoherenceAnalyzer
    from phase3_sdk.synthesis.analyzers.prospective import ProspectiveSelfAnalyzer
    from phase3_sdk.synthesis.analyzers.relational import RelationalMemoryAnalyzer

    single: dict[str, Analyzer] = {
        "emotional_patterns": EmotionalPatternsAnalyzer(tz=tz),
        "narrative_coherence": NarrativeCoherenceAnalyzer(tz=tz),
        "relational_memory": RelationalMemoryAnalyzer(tz=tz),
        "prospective_self": ProspectiveSelfAnalyzer(tz=tz),
    }
    if synthesis_type == "full_synthesis":
        return [*single.values(), IntegrationAnalyzer(tz=tz)]
    if synthesis_type not in single:
        raise InvalidInput(
            f"unknown synthesis type {synthesis_type!r}; expected one of {', '.join(SYNTHESIS_TYPES)}",
            field="synthesis_type",
        )
    return [single[synthesis_type]]


def run_analyzers(
    synthesis_type: SynthesisType, memories: Sequence[MemoryRecord], *, tz: tzinfo | None = None
) -> list[DetectedPattern]:
    """Run every built-in analyzer of ``synthesis_type``; one pattern per key (the most confident)."""
    best: dict[str, DetectedPattern] = {}
    for analyzer in analyzers_for(synthesis_type, tz=tz):
        for pattern in analyzer.analyze(memories):
            current = best.get(pattern.key)
            if current is None or pattern.confidence > current.confidence:
                best[pattern.key] = pattern
    return sorted(best.values(), key=lambda p: (p.layer, -p.confidence, p.key))
