"""What a finished synthesis job writes back: one payload per pattern and the job's ``insights`` summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..types import DetectedPattern, RecommendationDraft

#: Patterns listed by name in a job's ``insights``.
TOP_PATTERNS = 5


def pattern_payload(pattern: DetectedPattern, draft: RecommendationDraft | None) -> dict[str, Any]:
    """One element of ``finish_synthesis_job``'s ``p_patterns``."""
    return {
        "pattern_key": pattern.key,
        "pattern_type": pattern.pattern_type,
        "layer": pattern.layer,
        "description": pattern.description,
        "evidence": pattern.evidence,
        "confidence": pattern.confidence,
        "recommendation": None
        if draft is None
        else {"recommendation": draft.recommendation, "category": draft.category, "priority": draft.priority},
    }


def best_per_key(patterns: Sequence[DetectedPattern]) -> list[DetectedPattern]:
    """One pattern per key (the most confident), ordered by layer, then confidence (highest first)."""
    best: dict[str, DetectedPattern] = {}
    for p in patterns:
        if p.key not in best or p.confidence > best[p.key].confidence:
            best[p.key] = p
    return sorted(best.values(), key=lambda p: (p.layer, -p.confidence, p.key))


def job_summary(
    *,
    synthesis_type: str,
    patterns: Sequence[DetectedPattern],
    memories: int,
    first_memory: datetime | None,
    last_memory: datetime | None,
    analyzers: Sequence[str],
    seconds: float,
) -> dict[str, Any]:
    """A job's ``insights``: what was read, what was found, and the strongest findings in words.

    ``finish_synthesis_job`` adds ``patterns_new``, ``patterns_merged`` and ``recommendations_written``.
    """
    by_layer = Counter(p.layer for p in patterns)
    strongest = sorted(patterns, key=lambda p: -p.confidence)[:TOP_PATTERNS]
    return {
        "synthesis_type": synthesis_type,
        "memories_analyzed": memories,
        "memory_range": {
            "first": first_memory.isoformat() if first_memory else None,
            "last": last_memory.isoformat() if last_memory else None,
        },
        "patterns_found": len(patterns),
        "patterns_by_layer": {str(layer): n for layer, n in sorted(by_layer.items())},
        "top_patterns": [
            {
                "key": p.key,
                "layer": p.layer,
                "description": p.description,
                "confidence": round(p.confidence, 4),
            }
            for p in strongest
        ],
        "analyzers": list(analyzers),
        "duration_seconds": round(seconds, 3),
    }
