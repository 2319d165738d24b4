"""Built-in, deterministic analyzers: one module per synthesis type, plus the protocol in ``base``."""

from phase3_sdk.synthesis.analyzers.base import MAX_EVIDENCE_IDS, Analyzer, analyzers_for, run_analyzers
from phase3_sdk.synthesis.analyzers.emotional import EmotionalPatternsAnalyzer
from phase3_sdk.synthesis.analyzers.integration import IntegrationAnalyzer
from phase3_sdk.synthesis.analyzers.narrative import NarrativeCoherenceAnalyzer
from phase3_sdk.synthesis.analyzers.prospective import ProspectiveSelfAnalyzer
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
