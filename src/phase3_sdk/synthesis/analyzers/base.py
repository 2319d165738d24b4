"""What every analyzer shares: the :class:`Analyzer` protocol and the cap on evidence ids.

The registry of built-in analyzers per synthesis type is :mod:`.registry`; this module imports no analyzer,
so each analyzer can import it without a cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from phase3_sdk.synthesis.types import DetectedPattern, MemoryRecord, SynthesisType

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
