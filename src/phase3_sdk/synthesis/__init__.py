"""Memory synthesis, the pure half: analyzers that find patterns in memories, and recommendations."""

from __future__ import annotations

import importlib
import sys
import types
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Loaded on first use (PEP 562): the analyzers need numpy (the 'synthesis' extra), which code that
# only schedules jobs or reads patterns over REST should neither need nor pay for at import.
_EXPORTS = {
    "Analyzer": "phase3_sdk.synthesis.analyzers",
    "EmotionalPatternsAnalyzer": "phase3_sdk.synthesis.analyzers",
    "IntegrationAnalyzer": "phase3_sdk.synthesis.analyzers",
    "NarrativeCoherenceAnalyzer": "phase3_sdk.synthesis.analyzers",
    "ProspectiveSelfAnalyzer": "phase3_sdk.synthesis.analyzers",
    "RelationalMemoryAnalyzer": "phase3_sdk.synthesis.analyzers",
    "analyzers_for": "phase3_sdk.synthesis.analyzers",
    "run_analyzers": "phase3_sdk.synthesis.analyzers",
    "LLMAnalyzer": "phase3_sdk.synthesis.llm",
    "LLMAnswer": "phase3_sdk.synthesis.llm",
    "LLMPattern": "phase3_sdk.synthesis.llm",
    "recommend": "phase3_sdk.synthesis.recommend",
    "LAYER_NAMES": "phase3_sdk.synthesis.types",
    "LAYERS_BY_TYPE": "phase3_sdk.synthesis.types",
    "SYNTHESIS_TYPES": "phase3_sdk.synthesis.types",
    "DetectedPattern": "phase3_sdk.synthesis.types",
    "MemoryRecord": "phase3_sdk.synthesis.types",
    "RecommendationDraft": "phase3_sdk.synthesis.types",
    "SynthesisType": "phase3_sdk.synthesis.types",
}

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
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    if name in _MOVED_TO_TESTING:
        from phase3_sdk.testing import seed

        warnings.warn(
            f"phase3_sdk.synthesis.{name} moved to phase3_sdk.testing.seed.{name}; import it from there",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(seed, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Package(types.ModuleType):
    """This package, keeping the exported function ``recommend`` bound when its submodule of the same name
    loads: the import system sets a loaded submodule as an attribute of its package, so a plain
    ``import phase3_sdk.synthesis.recommend`` (the job runner does one) would otherwise turn
    ``from phase3_sdk.synthesis import recommend`` into the module."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "recommend" and isinstance(value, types.ModuleType):
            value = value.recommend
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
