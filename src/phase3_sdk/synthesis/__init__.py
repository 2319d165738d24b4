"""Memory synthesis, the pure half: analyzers that find patterns in memories, and recommendations."""

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
from phase3_sdk.synthesis.seed import PLANTED_KINDS, generate_history, generate_history_with_truth
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
    "PLANTED_KINDS",
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
    "generate_history",
    "generate_history_with_truth",
    "recommend",
    "run_analyzers",
]
