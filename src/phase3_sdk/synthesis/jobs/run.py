"""One run of a synthesis job, the pure half: what the run shares with its heartbeat, what it hands back,
how it names and reports a job, and the conversions it does off the event loop. The reading, analyzing
and writing is ``_async/synthesis/runner.py`` and ``worker.py``; both flavours share this one copy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias
from uuid import UUID

from ...errors import LeaseLostError
from ...models import Conversation, SynthesisJob
from ..recommendations import recommend
from ..types import DetectedPattern, MemoryRecord, SynthesisType
from .results import pattern_payload

if TYPE_CHECKING:
    # Only named here: the analyzers need numpy (the 'synthesis' extra), which synthesis.wait() (it
    # imports job_label) must not.
    from ..analyzers.base import Analyzer

#: Which analyzers a job of a given type runs (default: the built-in ``analyzers_for``).
AnalyzerFactory: TypeAlias = "Callable[[SynthesisType], Sequence[Analyzer]]"


class JobState:
    """What a running job shares with its heartbeat: progress so far, and whether the lease was lost."""

    __slots__ = ("lost", "progress")

    def __init__(self) -> None:
        self.progress = 0.0
        self.lost = False

    def check(self, job_id: UUID) -> None:
        """Stop the job (raise :class:`LeaseLostError`) once its heartbeat found the lease gone."""
        if self.lost:
            raise LeaseLostError(f"the lease on synthesis job {job_id} was lost; another worker owns it now")


@dataclass(frozen=True)
class RunResult:
    """A finished run: the job row as it is now and what the run did."""

    job: SynthesisJob
    memories_analyzed: int
    patterns_detected: int


def memory_records(rows: Sequence[Conversation]) -> list[MemoryRecord]:
    """The analyzers' view of memory rows."""
    # A pydantic model's __dict__ is its field values: no copy of the 768-float embeddings.
    return [MemoryRecord.from_row(vars(row)) for row in rows]


def pattern_drafts(patterns: Sequence[DetectedPattern]) -> list[dict[str, Any]]:
    """``finish_synthesis_job``'s patterns payload: each pattern with its recommendation draft."""
    return [pattern_payload(p, recommend(p)) for p in patterns]


def error_text(exc: BaseException) -> str:
    """How a failed run's error is stored on the job: the class name, then the message if there is one."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def job_label(job: SynthesisJob) -> str:
    """A job as its progress bar names it: its type and status."""
    return f"{job.synthesis_type} [{job.status}]"
