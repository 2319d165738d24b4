"""The pure parts of the synthesis job queue: schedules, retry backoff, payloads, summaries, reports.

No I/O here. The worker itself (claiming, heartbeats, running jobs) is in ``_async/synthesis`` and its
generated twin; the database side is ``claim_synthesis_jobs``/``heartbeat_synthesis_job`` and
``finish_synthesis_job``/``fail_synthesis_job`` in ``supabase/migrations``.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol
from uuid import UUID

from cronsim import CronSim, CronSimError

from ..errors import InvalidInput
from ..retry import backoff_delay
from .types import DetectedPattern, RecommendationDraft

#: How long a claimed job stays a worker's without a heartbeat; heartbeats renew it every third of it.
DEFAULT_LEASE_SECONDS = 60
#: How long an idle worker waits before asking for work again.
DEFAULT_POLL_INTERVAL = 1.0
#: Retry backoff of a failed job: ``base * 2 ** (attempt - 1)`` seconds, capped, with jitter.
DEFAULT_RETRY_BASE = 5.0
DEFAULT_RETRY_CAP = 300.0
#: Memories read per request when a job loads its history.
MEMORY_PAGE_SIZE = 1000
#: Patterns listed by name in a job's ``insights``.
TOP_PATTERNS = 5


class StopSignal(Protocol):
    """What ``run_worker(stop_event=...)`` watches: a ``threading.Event`` or ``asyncio.Event`` both fit."""

    def is_set(self) -> bool:
        """True once the worker should stop taking jobs."""
        ...


def check_cron(expression: str) -> str:
    """``expression`` if it is a valid 5-field cron expression, else InvalidInput naming ``cron``."""
    try:
        CronSim(expression, datetime.now(UTC))
    except (CronSimError, ValueError, TypeError) as exc:
        raise InvalidInput(
            f"cron must be a 5-field cron expression, got {expression!r}: {exc}", field="cron"
        ) from None
    return expression


def next_cron_run(expression: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` that ``expression`` matches, in UTC (schedules are UTC)."""
    check_cron(expression)
    start = after.astimezone(UTC) if after.tzinfo else after.replace(tzinfo=UTC)
    result: datetime = next(CronSim(expression, start))
    return result


def retry_delay(
    attempt: int,
    *,
    base: float = DEFAULT_RETRY_BASE,
    cap: float = DEFAULT_RETRY_CAP,
    rng: random.Random | None = None,
) -> float:
    """Seconds before attempt ``attempt + 1`` of a failed job: exponential, capped, with "equal jitter".

    Half the delay is fixed and half random, so jobs that failed together (a database blip) do not all come
    back in the same second, yet none comes back sooner than half its due delay
    (:func:`phase3_sdk.retry.backoff_delay`).
    """
    return backoff_delay(attempt, base=base, cap=cap, rand=(rng or random).random)


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
