"""Built-in, deterministic analyzers: one module per synthesis type, the protocol in ``base``, the
registry of analyzers per synthesis type in ``registry``."""

from phase3_sdk._extras import missing_extra

try:
    import numpy  # noqa: F401
except ImportError as exc:
    raise missing_extra(exc, "the synthesis analyzers", "synthesis") from None

from phase3_sdk.synthesis.analyzers.base import MAX_EVIDENCE_IDS, Analyzer
from phase3_sdk.synthesis.analyzers.emotional import EmotionalPatternsAnalyzer
from phase3_sdk.synthesis.analyzers.integration import IntegrationAnalyzer
from phase3_sdk.synthesis.analyzers.narrative import NarrativeCoherenceAnalyzer
from phase3_sdk.synthesis.analyzers.prospective import ProspectiveSelfAnalyzer
from phase3_sdk.synthesis.analyzers.registry import analyzers_for, run_analyzers
from phase3_sdk.synthesis.analyzers.relational import RelationalMemoryAnalyzer

__all__ = [
    "MAX_EVIDENCE_IDS",
    "Analyzer",
    "EmotionalPatternsAnalyzer",
    "IntegrationAnalyzer",
    "NarrativeCoherenceAnalyzer",
    "ProspectiveSelfAnalyzer",
    "RelationalMemoryAnalyzer",
    "analyzers_for",
    "run_analyzers",
]
