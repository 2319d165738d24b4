"""``client.synthesis_jobs``, ``client.patterns`` and ``client.recommendations``."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, overload
from uuid import UUID

from typing_extensions import Unpack

from ..._deprecation import warn_deprecated
from ..._flavour import async_sleep
from ..._rows_display import AsyncRows
from ...filters import JobFilters, PatternFilters, RecommendationFilters
from ...models import (
    Pattern,
    PatternCreate,
    PatternUpdate,
    Recommendation,
    RecommendationCreate,
    RecommendationStatus,
    RecommendationUpdate,
    SynthesisJob,
    SynthesisJobCreate,
    SynthesisType,
)
from ...models._base import as_uuid
from ...schema.query import DEFAULT_PAGE_SIZE, FilterSpec, Page
from ...schema.tables import PATTERNS, RECOMMENDATIONS, SYNTHESIS_JOBS
from ..transport import AsyncTransport
from ._base import AsyncTableResource, Impersonate, transport_for

if TYPE_CHECKING:
    from ...synthesis.jobs import StopSignal, WorkerReport
    from ...synthesis.jobs.run import AnalyzerFactory

#: ``wait`` polls quickly at first, then backs off to this interval.
WAIT_FIRST_POLL = 0.2
WAIT_MAX_POLL = 2.0
#: The queue defaults, repeated here so that importing the client does not import the analyzers.
_LEASE_SECONDS = 60
_POLL_INTERVAL = 1.0


class AsyncSynthesisJobs(AsyncTableResource[SynthesisJob]):
    """Memory synthesis jobs: queued analyses of a user's memories."""

    table = SYNTHESIS_JOBS
    filter_type = JobFilters
    filters: ClassVar = {
        "synthesis_type": FilterSpec("synthesis_type", "eq"),
        "status": FilterSpec("status", "eq"),
        "is_recurring": FilterSpec("is_recurring", "eq"),
        "since": FilterSpec("created_at", "gte"),
        "until": FilterSpec("created_at", "lt"),
        "created_after": FilterSpec("created_at", "gt"),  # deprecated: since
        "created_before": FilterSpec("created_at", "lt"),  # deprecated: until
    }

    def __init__(
        self, transport: AsyncTransport, impersonate: Callable[[UUID], AsyncTransport] | None = None
    ) -> None:
        super().__init__(transport)
        # How to act for a job's user: the client supplies it, since over REST that means minting a token.
        self._impersonate = impersonate

    async def create(self, *, user_id: UUID | str | None = None, **fields: Any) -> SynthesisJob:
        """Deprecated (use :meth:`submit`): queue a job from the fields of
        :class:`~phase3_sdk.models.SynthesisJobCreate`."""
        warn_deprecated("synthesis_jobs.create()", "synthesis_jobs.submit()")
        return await self._create(SynthesisJobCreate, fields, user_id)

    @overload
    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        columns: None = None,
        **filters: Unpack[JobFilters],
    ) -> AsyncRows[SynthesisJob]: ...
    @overload
    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        columns: Sequence[str],
        **filters: Unpack[JobFilters],
    ) -> AsyncRows[dict[str, Any]]: ...
    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        columns: Sequence[str] | None = None,
        **filters: Unpack[JobFilters],
    ) -> AsyncRows[SynthesisJob] | AsyncRows[dict[str, Any]]:
        """Jobs matching the filters, newest first by default.

        ``columns=[...]`` reads only those columns; each row is then a dict of them.
        """
        if columns is not None:
            return self._list_columns(filters, columns, order=order, page_size=page_size, limit=limit)
        return self._list(filters, order=order, page_size=page_size, limit=limit)

    async def page(
        self,
        page_size: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
        *,
        order: str | None = None,
        limit: int | None = None,
        **filters: Unpack[JobFilters],
    ) -> Page[SynthesisJob]:
        """One page of jobs."""
        return await self._page(filters, page_size=page_size, limit=limit, cursor=cursor, order=order)

    async def count(self, **filters: Unpack[JobFilters]) -> int:
        """How many jobs match the filters."""
        return await self._count(filters)

    # -- the queue ---------------------------------------------------------------------------------

    async def submit(
        self,
        synthesis_type: SynthesisType,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        cron: str | None = None,
        max_attempts: int = 3,
        user_id: UUID | str | None = None,
    ) -> SynthesisJob:
        """Queue a job over the memories created in ``[since, until)`` (open ends: all of them).

        With ``cron`` (5 fields, UTC, e.g. ``"0 3 * * *"``) the job is recurring: it first runs at the next
        time the schedule matches, and after every run the same row is re-queued for the following one
        (``last_run`` says when it last ran; ``insights`` holds the latest run's summary). A worker retries a
        run that raises, with backoff, up to ``max_attempts`` times. A user-scoped client queues for its
        user; the service role must name ``user_id``.
        """
        from ...synthesis.jobs import check_cron, next_cron_run

        fields: dict[str, Any] = {
            "synthesis_type": synthesis_type,
            "time_range_start": since,
            "time_range_end": until,
            "max_attempts": max_attempts,
        }
        if cron is not None:
            fields.update(
                is_recurring=True,
                cron_schedule=check_cron(cron),
                next_run=next_cron_run(cron, datetime.now(UTC)),
            )
        return await self._create(SynthesisJobCreate, fields, user_id)

    async def wait(
        self,
        job_id: UUID | str,
        *,
        timeout: float = 60.0,  # noqa: ASYNC109 (the documented API, same in the blocking twin)
        progress: bool = True,
        poll_interval: float = WAIT_FIRST_POLL,
    ) -> SynthesisJob:
        """Wait for a job to finish and return it as it ended.

        "Finished" is ``completed`` or ``failed``; a failed job is returned, not raised: read its ``status``
        and ``error_message`` (its analysis failing is an outcome of the job, not an error of this call).
        A recurring job never ends, so for one this waits until its next run is over (``last_run`` moves)
        and returns it re-queued. Polls from ``poll_interval`` seconds, backing off to 2 s. With
        ``progress`` and a terminal or notebook, shows a progress bar. Raises
        :class:`~phase3_sdk.errors.SynthesisTimeoutError` (a ``TimeoutError``) after ``timeout``
        seconds; the job itself carries on.
        """
        from ..._progress import ProgressBar
        from ...errors import SynthesisTimeoutError
        from ...synthesis.jobs.run import job_label

        key = as_uuid(job_id, "job_id")
        deadline = time.monotonic() + timeout
        job = await self.get(key)
        baseline = job.last_run
        bar = ProgressBar(job_label(job), enabled=progress)
        delay = poll_interval
        try:
            while True:
                bar.update(1.0 if job.status == "completed" else job.progress, description=job_label(job))
                if job.status in ("completed", "failed"):
                    return job
                if job.is_recurring and job.last_run != baseline and job.status != "running":
                    return job
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SynthesisTimeoutError(
                        f"synthesis job {key} is still {job.status} after {timeout:g} s "
                        f"(progress {job.progress:.0%}, attempt {job.attempts} of {job.max_attempts})"
                    )
                await async_sleep(min(delay, left))
                delay = min(delay * 1.5, WAIT_MAX_POLL)
                job = await self.get(key)
        finally:
            bar.close()

    async def run_worker(
        self,
        *,
        concurrency: int = 2,
        once: bool = False,
        worker_id: str | None = None,
        lease_seconds: int = _LEASE_SECONDS,
        poll_interval: float = _POLL_INTERVAL,
        stop_event: StopSignal | None = None,
        analyzers: AnalyzerFactory | None = None,
        heartbeat_interval: float | None = None,
        retry_base: float | None = None,
        retry_cap: float | None = None,
        impersonate: Impersonate | None = None,
    ) -> WorkerReport:
        """Run a synthesis worker in this process until ``stop_event`` is set (``once``: until no job is due).

        Call it on a service-role client. It claims due jobs (and jobs whose worker died) through
        ``claim_synthesis_jobs``, ``concurrency`` at a time, and runs each impersonating the job's user, so
        only that user's non-deleted memories are read. A running job heartbeats its lease every third of
        ``lease_seconds`` and reports its progress; if the lease is lost it stops and keeps nothing. Results
        are merged (a pattern seen again bumps ``observation_count``; confirmed patterns and recommendation
        statuses are kept) and the job completed in one transaction. A run that raises is retried after
        ``retry_base * 2**(attempt-1)`` seconds (jittered, at most ``retry_cap``) until ``max_attempts``, then
        the job is ``failed`` with the reason. ``analyzers`` maps a synthesis type to the analyzers to run
        (default: the built-in ones). ``impersonate`` maps a user id to a client acting for them, e.g.
        ``lambda uid: client.as_user(user_id=uid)`` (default:
        :meth:`~phase3_sdk.identity.Identity.for_user` on this client's backend). Returns what it did.
        """
        from ...synthesis import jobs as jobqueue
        from ..synthesis.worker import AsyncSynthesisWorker

        worker = AsyncSynthesisWorker(
            self._transport,
            concurrency=concurrency,
            worker_id=worker_id,
            lease_seconds=lease_seconds,
            poll_interval=poll_interval,
            heartbeat_interval=heartbeat_interval,
            analyzers=analyzers,
            impersonate=(
                (lambda uid: transport_for(impersonate, uid))
                if impersonate is not None
                else self._impersonate
            ),
            retry_base=jobqueue.DEFAULT_RETRY_BASE if retry_base is None else retry_base,
            retry_cap=jobqueue.DEFAULT_RETRY_CAP if retry_cap is None else retry_cap,
        )
        return await worker.run(once=once, stop_event=stop_event)


class AsyncPatterns(AsyncTableResource[Pattern]):
    """Patterns detected in a user's memories."""

    table = PATTERNS
    filter_type = PatternFilters
    filters: ClassVar = {
        "layer": FilterSpec("layer", "eq"),
        "pattern_type": FilterSpec("pattern_type", "eq"),
        "min_confidence": FilterSpec("confidence", "gte"),
        "user_confirmed": FilterSpec("user_confirmed", "eq"),
        "source_job_id": FilterSpec("source_job_id", "eq"),
        "observed_since": FilterSpec("last_observed", "gte"),
    }

    async def create(self, *, user_id: UUID | str | None = None, **fields: Any) -> Pattern:
        """Store a pattern (fields of :class:`~phase3_sdk.models.PatternCreate`)."""
        return await self._create(PatternCreate, fields, user_id)

    async def update(self, id: UUID | str, **fields: Any) -> Pattern:
        """Change the given fields of a pattern."""
        return await self._update(id, PatternUpdate, fields)

    async def confirm(self, id: UUID | str, *, notes: str | None = None, confirmed: bool = True) -> Pattern:
        """Mark a pattern as recognised by its user (synthesis never overwrites a confirmed pattern)."""
        fields: dict[str, Any] = {"user_confirmed": confirmed}
        if notes is not None:
            fields["user_notes"] = notes
        return await self._update(as_uuid(id), PatternUpdate, fields)

    @overload
    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        columns: None = None,
        **filters: Unpack[PatternFilters],
    ) -> AsyncRows[Pattern]: ...
    @overload
    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        columns: Sequence[str],
        **filters: Unpack[PatternFilters],
    ) -> AsyncRows[dict[str, Any]]: ...
    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        columns: Sequence[str] | None = None,
        **filters: Unpack[PatternFilters],
    ) -> AsyncRows[Pattern] | AsyncRows[dict[str, Any]]:
        """Patterns matching the filters (``min_confidence`` is inclusive).

        ``columns=[...]`` reads only those columns; each row is then a dict of them.
        """
        if columns is not None:
            return self._list_columns(filters, columns, order=order, page_size=page_size, limit=limit)
        return self._list(filters, order=order, page_size=page_size, limit=limit)

    async def page(
        self,
        page_size: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
        *,
        order: str | None = None,
        limit: int | None = None,
        **filters: Unpack[PatternFilters],
    ) -> Page[Pattern]:
        """One page of patterns."""
        return await self._page(filters, page_size=page_size, limit=limit, cursor=cursor, order=order)

    async def count(self, **filters: Unpack[PatternFilters]) -> int:
        """How many patterns match the filters."""
        return await self._count(filters)


class AsyncRecommendations(AsyncTableResource[Recommendation]):
    """Recommendations derived from patterns, with a status the user moves along."""

    table = RECOMMENDATIONS
    filter_type = RecommendationFilters
    filters: ClassVar = {
        "status": FilterSpec("status", "eq"),
        "priority": FilterSpec("priority", "eq"),
        "category": FilterSpec("category", "eq"),
        "pattern_id": FilterSpec("pattern_id", "eq"),
    }

    async def create(self, *, user_id: UUID | str | None = None, **fields: Any) -> Recommendation:
        """Store a recommendation (fields of :class:`~phase3_sdk.models.RecommendationCreate`)."""
        return await self._create(RecommendationCreate, fields, user_id)

    async def update(self, id: UUID | str, **fields: Any) -> Recommendation:
        """Change the given fields of a recommendation."""
        return await self._update(id, RecommendationUpdate, fields)

    async def update_status(self, id: UUID | str, status: RecommendationStatus) -> Recommendation:
        """Move a recommendation along pending -> acknowledged -> working_on -> completed."""
        return await self._update(id, RecommendationUpdate, {"status": status})

    @overload
    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        columns: None = None,
        **filters: Unpack[RecommendationFilters],
    ) -> AsyncRows[Recommendation]: ...
    @overload
    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        columns: Sequence[str],
        **filters: Unpack[RecommendationFilters],
    ) -> AsyncRows[dict[str, Any]]: ...
    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        columns: Sequence[str] | None = None,
        **filters: Unpack[RecommendationFilters],
    ) -> AsyncRows[Recommendation] | AsyncRows[dict[str, Any]]:
        """Recommendations matching the filters.

        ``columns=[...]`` reads only those columns; each row is then a dict of them.
        """
        if columns is not None:
            return self._list_columns(filters, columns, order=order, page_size=page_size, limit=limit)
        return self._list(filters, order=order, page_size=page_size, limit=limit)

    async def page(
        self,
        page_size: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
        *,
        order: str | None = None,
        limit: int | None = None,
        **filters: Unpack[RecommendationFilters],
    ) -> Page[Recommendation]:
        """One page of recommendations."""
        return await self._page(filters, page_size=page_size, limit=limit, cursor=cursor, order=order)

    async def count(self, **filters: Unpack[RecommendationFilters]) -> int:
        """How many recommendations match the filters."""
        return await self._count(filters)
