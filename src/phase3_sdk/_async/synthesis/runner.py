"""Running one claimed job: read the user's memories, analyze them off the loop, merge the results."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from ..._flavour import async_run_blocking
from ...errors import LeaseLostError
from ...models import SynthesisJob
from ...synthesis import jobs as jobqueue
from ...synthesis.jobs.run import AnalyzerFactory, JobState, RunResult, memory_records, pattern_drafts
from ...synthesis.types import DetectedPattern, MemoryRecord
from ..resources.conversations import AsyncConversations
from ..transport import AsyncTransport
from .queue import AsyncJobQueue

# Progress milestones: reading memories is about half the time of a job, analysis most of the rest.
_READ_DONE = 0.5
_ANALYSIS_DONE = 0.9


class AsyncJobRunner:
    """Runs claimed jobs, reading and writing as the job's user so that RLS shows it only their memories."""

    def __init__(
        self,
        worker_id: str,
        impersonate: Callable[[UUID], AsyncTransport],
        analyzers: AnalyzerFactory,
        *,
        page_size: int = jobqueue.MEMORY_PAGE_SIZE,
    ) -> None:
        self.worker_id = worker_id
        self._impersonate = impersonate
        self._analyzers = analyzers
        self._page_size = page_size

    async def _read(
        self, job: SynthesisJob, conversations: AsyncConversations, state: JobState
    ) -> list[MemoryRecord]:
        """The user's non-deleted memories in the job's time range (end exclusive), oldest first."""
        filters: dict[str, Any] = {"is_deleted": False}
        if job.time_range_start is not None:
            filters["since"] = job.time_range_start
        if job.time_range_end is not None:
            filters["until"] = job.time_range_end
        total = await conversations.count(**filters)
        records: list[MemoryRecord] = []
        cursor: str | None = None
        while True:
            state.check(job.id)
            page = await conversations.page(
                self._page_size, cursor, order="created_at", include_embedding=True, **filters
            )
            records.extend(await async_run_blocking(memory_records, page.items))
            state.progress = _READ_DONE * min(1.0, len(records) / max(total, 1))
            cursor = page.next_cursor
            if cursor is None:
                return records

    async def run(self, job: SynthesisJob, state: JobState) -> RunResult:
        """Run ``job`` (claimed by this worker) to its end; :class:`LeaseLostError` if it stops being ours."""
        started = time.perf_counter()
        as_user = self._impersonate(job.user_id)
        memories = await self._read(job, AsyncConversations(as_user), state)

        analyzers = list(self._analyzers(job.synthesis_type))
        found: list[DetectedPattern] = []
        for i, analyzer in enumerate(analyzers):
            state.check(job.id)
            # CPU-bound: off the event loop in the async worker (inline in the blocking twin).
            found.extend(await async_run_blocking(analyzer.analyze, memories))
            state.progress = _READ_DONE + (_ANALYSIS_DONE - _READ_DONE) * (i + 1) / max(len(analyzers), 1)
        patterns = jobqueue.best_per_key(found)
        payload = await async_run_blocking(pattern_drafts, patterns)

        insights = jobqueue.job_summary(
            synthesis_type=job.synthesis_type,
            patterns=patterns,
            memories=len(memories),
            first_memory=memories[0].created_at if memories else None,
            last_memory=memories[-1].created_at if memories else None,
            analyzers=[type(a).__name__ for a in analyzers],
            seconds=time.perf_counter() - started,
        )
        next_run = (
            jobqueue.next_cron_run(job.cron_schedule, datetime.now(UTC))
            if job.is_recurring and job.cron_schedule
            else None
        )
        state.check(job.id)
        finished = await AsyncJobQueue(as_user).finish(
            job.id,
            self.worker_id,
            patterns=payload,
            insights=insights,
            memories_analyzed=len(memories),
            next_run=next_run,
        )
        if finished is None:
            raise LeaseLostError(
                f"synthesis job {job.id} was reclaimed by another worker before it could finish"
            )
        return RunResult(finished, len(memories), finished.patterns_detected)
