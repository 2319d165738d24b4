"""What ``run_worker`` returns: which jobs it started and how each run ended, with totals and claim times."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

Outcome = Literal["completed", "retried", "failed", "lost"]


@dataclass
class WorkerReport:
    """What one ``run_worker`` call did. Safe to update from several lanes (threads or tasks) at once."""

    worker_id: str
    #: Every job this worker claimed, in claim order (a job reclaimed after a lost lease appears again).
    started: list[UUID] = field(default_factory=list)
    completed: list[UUID] = field(default_factory=list)
    #: Runs that raised and were put back for another attempt.
    retried: list[UUID] = field(default_factory=list)
    #: Runs that raised on their last attempt: the job is now ``failed``.
    failed: list[UUID] = field(default_factory=list)
    #: Runs abandoned because the lease was lost (another worker owns the job now).
    lost: list[UUID] = field(default_factory=list)
    memories_analyzed: int = 0
    patterns_detected: int = 0
    #: Seconds each claim call took (the benchmark's claim latency).
    claim_seconds: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record_start(self, job_id: UUID, claim_seconds: float) -> None:
        """A job was claimed."""
        with self._lock:
            self.started.append(job_id)
            self.claim_seconds.append(claim_seconds)

    def record_claim(self, claim_seconds: float) -> None:
        """A claim found nothing."""
        with self._lock:
            self.claim_seconds.append(claim_seconds)

    def record_end(self, job_id: UUID, outcome: Outcome, *, memories: int = 0, patterns: int = 0) -> None:
        """A run ended."""
        with self._lock:
            {"completed": self.completed, "retried": self.retried, "failed": self.failed, "lost": self.lost}[
                outcome
            ].append(job_id)
            self.memories_analyzed += memories
            self.patterns_detected += patterns
