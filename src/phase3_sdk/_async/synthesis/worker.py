"""The synthesis worker: N lanes that claim jobs, run them under a heartbeated lease, and retry failures.

Correctness rests on the database, not on this process: ``claim_synthesis_jobs`` hands a job to one worker
at a time (``FOR UPDATE SKIP LOCKED`` plus a lease), and every write of a run (``finish_synthesis_job``,
``fail_synthesis_job``) first checks, under a row lock, that the lease is still this worker's. So a worker
that stalls, loses its network or is killed can at worst waste its own work; the job is reclaimed when
the lease expires, and only one run's results are ever merged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

from ..._flavour import AsyncEvent, AsyncTaskGroup, async_sleep
from ...errors import ConfigurationError, LeaseLostError, Phase3Error
from ...identity import Identity
from ...models import SynthesisJob
from ...synthesis import jobs as jobqueue
from ...synthesis.analyzers.registry import analyzers_for
from ...synthesis.jobs.run import AnalyzerFactory, JobState, error_text
from ...synthesis.jobs.worker_options import default_worker_id
from ..transport import AsyncTransport
from .queue import AsyncJobQueue
from .runner import AsyncJobRunner

log = logging.getLogger("phase3_sdk.synthesis.worker")

#: How often an idle lane looks at the stop signal while it waits.
_STOP_TICK = 0.05


class AsyncSynthesisWorker:
    """Claims and runs synthesis jobs; see :meth:`run`. Made by ``client.synthesis_jobs.run_worker(...)``."""

    def __init__(
        self,
        transport: AsyncTransport,
        *,
        concurrency: int = 2,
        worker_id: str | None = None,
        lease_seconds: int = jobqueue.DEFAULT_LEASE_SECONDS,
        poll_interval: float = jobqueue.DEFAULT_POLL_INTERVAL,
        heartbeat_interval: float | None = None,
        analyzers: AnalyzerFactory | None = None,
        impersonate: Callable[[UUID], AsyncTransport] | None = None,
        retry_base: float = jobqueue.DEFAULT_RETRY_BASE,
        retry_cap: float = jobqueue.DEFAULT_RETRY_CAP,
    ) -> None:
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigurationError(f"concurrency must be a positive integer, got {concurrency!r}")
        if not isinstance(lease_seconds, int) or lease_seconds < 1:
            raise ConfigurationError(f"lease_seconds must be a positive integer, got {lease_seconds!r}")
        if poll_interval <= 0:
            raise ConfigurationError(f"poll_interval must be positive, got {poll_interval!r}")
        self.worker_id = worker_id or default_worker_id()
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        # Three beats per lease: one lost or slow heartbeat never costs the lease.
        self.heartbeat_interval = heartbeat_interval if heartbeat_interval is not None else lease_seconds / 3
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self._transport = transport
        self._queue = AsyncJobQueue(transport)
        self._runner = AsyncJobRunner(
            self.worker_id, impersonate or self._impersonate, analyzers or analyzers_for
        )

    def _impersonate(self, user_id: UUID) -> AsyncTransport:
        """A transport acting for the job's user, so RLS lets the run see that user's memories only."""
        identity = self._transport.identity
        if identity.user_id is not None:
            # A user running their own worker: RLS already limits the claim to their jobs; keep their token.
            if identity.user_id != user_id:
                raise LeaseLostError(
                    f"a worker acting for user {identity.user_id} claimed a job of user {user_id}"
                )
            return self._transport
        if self._transport.identity.role != "service_role":
            raise ConfigurationError("run_worker needs a service-role client (or a user-scoped one)")
        return self._transport.with_identity(Identity.for_user(user_id))

    async def run(
        self, *, once: bool = False, stop_event: jobqueue.StopSignal | None = None
    ) -> jobqueue.WorkerReport:
        """Run jobs in ``concurrency`` lanes until ``stop_event`` is set (``once``: until none is due).

        Each lane claims one job at a time, so at most ``concurrency`` jobs run at once in this worker.
        A stop request lets running jobs finish (their results are kept) and takes no new ones.
        """
        report = jobqueue.WorkerReport(self.worker_id)
        log.info(
            "synthesis worker %s: %d lane(s), lease %ds", self.worker_id, self.concurrency, self.lease_seconds
        )
        async with AsyncTaskGroup() as lanes:
            for _ in range(self.concurrency):
                lanes.start(self._lane, once, stop_event, report)
        return report

    async def _idle(self, seconds: float, stop: jobqueue.StopSignal | None) -> None:
        deadline = time.monotonic() + seconds
        while not (stop is not None and stop.is_set()):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            await async_sleep(min(left, _STOP_TICK))

    async def _lane(
        self,
        once: bool,  # noqa: FBT001 (lanes.start passes its arguments positionally)
        stop: jobqueue.StopSignal | None,
        report: jobqueue.WorkerReport,
    ) -> None:
        while not (stop is not None and stop.is_set()):
            began = time.perf_counter()
            try:
                jobs = await self._queue.claim(self.worker_id, 1, self.lease_seconds)
            except Phase3Error as exc:
                if once:
                    # One pass was asked for and could not be made: that is the caller's error to see, not
                    # something to wait out forever.
                    raise
                # A long-running worker rides out an unreachable or overloaded database and tries again.
                log.warning("synthesis worker %s: claim failed: %s", self.worker_id, exc)
                await self._idle(self.poll_interval, stop)
                continue
            took = time.perf_counter() - began
            if not jobs:
                report.record_claim(took)
                if once:
                    return
                await self._idle(self.poll_interval, stop)
                continue
            for job in jobs:
                report.record_start(job.id, took)
                await self._process(job, report)

    async def _process(self, job: SynthesisJob, report: jobqueue.WorkerReport) -> None:
        log.info(
            "job %s (%s, user %s): attempt %d of %d",
            job.id,
            job.synthesis_type,
            job.user_id,
            job.attempts,
            job.max_attempts,
        )
        state = JobState()
        done = AsyncEvent()
        async with AsyncTaskGroup() as beats:
            beats.start(self._heartbeat, job, state, done)
            try:
                result = await self._runner.run(job, state)
            except LeaseLostError as exc:
                log.warning("job %s: %s", job.id, exc)
                report.record_end(job.id, "lost")
            except Exception as exc:
                await self._fail(job, exc, report)
            else:
                log.info(
                    "job %s: %s, %d memories, %d patterns",
                    job.id,
                    result.job.status,
                    result.memories_analyzed,
                    result.patterns_detected,
                )
                report.record_end(
                    job.id, "completed", memories=result.memories_analyzed, patterns=result.patterns_detected
                )
            finally:
                done.set()

    async def _heartbeat(self, job: SynthesisJob, state: JobState, done: AsyncEvent) -> None:
        while not await done.wait(self.heartbeat_interval):
            try:
                ok = await self._queue.heartbeat(job.id, self.worker_id, state.progress, self.lease_seconds)
            except Phase3Error as exc:
                # One missed beat is fine (the lease spans three); the next one tries again.
                log.warning("job %s: heartbeat failed: %s", job.id, exc)
                continue
            if not ok:
                state.lost = True
                return

    async def _fail(self, job: SynthesisJob, exc: Exception, report: jobqueue.WorkerReport) -> None:
        error = error_text(exc)
        log.warning(
            "job %s: attempt %d of %d raised %s",
            job.id,
            job.attempts,
            job.max_attempts,
            error,
            exc_info=log.isEnabledFor(logging.DEBUG),
        )
        next_run = (
            jobqueue.next_cron_run(job.cron_schedule, datetime.now(UTC))
            if job.is_recurring and job.cron_schedule
            else None
        )
        delay = jobqueue.retry_delay(job.attempts, base=self.retry_base, cap=self.retry_cap)
        try:
            row = await self._queue.fail(
                job.id, self.worker_id, error=error, retry_in=delay, next_run=next_run
            )
        except Phase3Error as db_exc:
            # Could not record it: the lease runs out and the job is reclaimed, counting this attempt.
            log.warning("job %s: could not record the failure: %s", job.id, db_exc)
            report.record_end(job.id, "retried")
            return
        if row is None:
            report.record_end(job.id, "lost")
        elif job.attempts >= job.max_attempts:
            report.record_end(job.id, "failed")
        else:
            report.record_end(job.id, "retried")
