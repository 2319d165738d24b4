"""The registry of built-in analyzers per synthesis type, and a runner over them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo

from phase3_sdk.errors import InvalidInputError
from phase3_sdk.synthesis.analyzers.base import Analyzer
from phase3_sdk.synthesis.analyzers.emotional import EmotionalPatternsAnalyzer
from phase3_sdk.synthesis.analyzers.integration import IntegrationAnalyzer
from phase3_sdk.synthesis.analyzers.narrative import NarrativeCoherenceAnalyzer
from phase3_sdk.synthesis.analyzers.prospective import ProspectiveSelfAnalyzer
from phase3_sdk.synthesis.analyzers.relational import RelationalMemoryAnalyzer
from phase3_sdk.synthesis.types import SYNTHESIS_TYPES, DetectedPattern, MemoryRecord, SynthesisType


def analyzers_for(synthesis_type: SynthesisType, *, tz: tzinfo | None = None) -> list[Analyzer]:
    """The built-in analyzers a job of ``synthesis_type`` runs.

    ``full_synthesis`` runs the four single-layer analyzers plus the integration analyzer (layers
    5-7). ``tz`` is the user's time zone: weekday and time-of-day patterns are computed in it
    (default: whatever zone ``created_at`` carries, UTC for database rows).
    """
    single: dict[str, Analyzer] = {
        "emotional_patterns": EmotionalPatternsAnalyzer(tz=tz),
        "narrative_coherence": NarrativeCoherenceAnalyzer(tz=tz),
        "relational_memory": RelationalMemoryAnalyzer(tz=tz),
        "prospective_self": ProspectiveSelfAnalyzer(tz=tz),
    }
    if synthesis_type == "full_synthesis":
        return [*single.values(), IntegrationAnalyzer(tz=tz)]
    if synthesis_type not in single:
        raise InvalidInputError(
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
