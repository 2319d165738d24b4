"""The pure parts of the synthesis job queue, one module per idea; this package re-exports them all.

* :mod:`.schedule`: cron expressions of recurring jobs (``check_cron``, ``next_cron_run``).
* :mod:`.backoff`: the delay before a failed job is tried again (``retry_delay``).
* :mod:`.results`: what a finished job writes back (``pattern_payload``, ``best_per_key``, ``job_summary``).
* :mod:`.run`: one job's run (``JobState``, ``RunResult``, ``AnalyzerFactory``, ``memory_records``,
  ``pattern_drafts``, ``error_text``, ``job_label``).
* :mod:`.worker_options`: ``run_worker``'s defaults (``default_worker_id``) and the ``StopSignal`` it watches.
* :mod:`.worker_report`: the ``WorkerReport`` it returns.

No I/O here. The worker itself (claiming, heartbeats, running jobs) is in ``_async/synthesis`` and its
generated twin; the database side is ``claim_synthesis_jobs``/``heartbeat_synthesis_job`` and
``finish_synthesis_job``/``fail_synthesis_job`` in ``supabase/migrations``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backoff import DEFAULT_RETRY_BASE, DEFAULT_RETRY_CAP, retry_delay
    from .results import TOP_PATTERNS, best_per_key, job_summary, pattern_payload
    from .run import (
        AnalyzerFactory,
        JobState,
        RunResult,
        error_text,
        job_label,
        memory_records,
        pattern_drafts,
    )
    from .schedule import check_cron, next_cron_run
    from .worker_options import (
        DEFAULT_LEASE_SECONDS,
        DEFAULT_POLL_INTERVAL,
        MEMORY_PAGE_SIZE,
        StopSignal,
        default_worker_id,
    )
    from .worker_report import Outcome, WorkerReport

# Loaded on first use (PEP 562): the analyzers need numpy (the 'synthesis' extra), which code that
# only schedules jobs or reads patterns over REST should neither need nor pay for at import.
_EXPORTS = {
    "DEFAULT_RETRY_BASE": ".backoff",
    "DEFAULT_RETRY_CAP": ".backoff",
    "retry_delay": ".backoff",
    "TOP_PATTERNS": ".results",
    "best_per_key": ".results",
    "job_summary": ".results",
    "pattern_payload": ".results",
    "AnalyzerFactory": ".run",
    "JobState": ".run",
    "RunResult": ".run",
    "error_text": ".run",
    "job_label": ".run",
    "memory_records": ".run",
    "pattern_drafts": ".run",
    "check_cron": ".schedule",
    "next_cron_run": ".schedule",
    "DEFAULT_LEASE_SECONDS": ".worker_options",
    "DEFAULT_POLL_INTERVAL": ".worker_options",
    "MEMORY_PAGE_SIZE": ".worker_options",
    "StopSignal": ".worker_options",
    "default_worker_id": ".worker_options",
    "Outcome": ".worker_report",
    "WorkerReport": ".worker_report",
}

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_RETRY_BASE",
    "DEFAULT_RETRY_CAP",
    "MEMORY_PAGE_SIZE",
    "TOP_PATTERNS",
    "AnalyzerFactory",
    "JobState",
    "Outcome",
    "RunResult",
    "StopSignal",
    "WorkerReport",
    "best_per_key",
    "check_cron",
    "default_worker_id",
    "error_text",
    "job_label",
    "job_summary",
    "memory_records",
    "next_cron_run",
    "pattern_drafts",
    "pattern_payload",
    "retry_delay",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
