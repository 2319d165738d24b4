"""Memory synthesis, the pure half: analyzers that find patterns in memories, and recommendations."""

from __future__ import annotations

import warnings
from typing import Any

from phase3_sdk.synthesis.analyzers import (
    Analyzer,
    EmotionalPatternsAnalyzer,
    IntegrationAnalyzer,
    NarrativeCoherenceAnalyzer,
    ProspectiveSelfAnalyzer,
    RelationalMemoryAnalyzer,
    analyzers_for,
    run_analyzers,
)
from phase3_sdk.synthesis.llm import LLMAnalyzer, LLMAnswer, LLMPattern
from phase3_sdk.synthesis.recommend import recommend
from phase3_sdk.synthesis.types import (
    LAYER_NAMES,
    LAYERS_BY_TYPE,
    SYNTHESIS_TYPES,
    DetectedPattern,
    MemoryRecord,
    RecommendationDraft,
    SynthesisType,
)

__all__ = [
    "LAYERS_BY_TYPE",
    "LAYER_NAMES",
    "SYNTHESIS_TYPES",
    "Analyzer",
    "DetectedPattern",
    "EmotionalPatternsAnalyzer",
    "IntegrationAnalyzer",
    "LLMAnalyzer",
    "LLMAnswer",
    "LLMPattern",
    "MemoryRecord",
    "NarrativeCoherenceAnalyzer",
    "ProspectiveSelfAnalyzer",
    "RecommendationDraft",
    "RelationalMemoryAnalyzer",
    "SynthesisType",
    "analyzers_for",
    "recommend",
    "run_analyzers",
]

# Seeded demo histories moved to phase3_sdk.testing.seed; the old names still resolve here, with a warning.
_MOVED_TO_TESTING = ("PLANTED_KINDS", "generate_history", "generate_history_with_truth")


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_TESTING:
        from phase3_sdk.testing import seed

        warnings.warn(
            f"phase3_sdk.synthesis.{name} moved to phase3_sdk.testing.seed.{name}; import it from there",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(seed, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
