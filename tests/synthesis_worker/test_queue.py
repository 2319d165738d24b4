"""The queue: retries and failure, recurring jobs, wait(), the lease guard, and the blocking twin."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from phase3_sdk._async.client import AsyncPhase3Client
from phase3_sdk._async.synthesis import AsyncJobQueue
from phase3_sdk._sync.client import Phase3Client
from phase3_sdk.errors import InvalidInputError, SynthesisTimeoutError, TransientError
from phase3_sdk.synthesis import analyzers_for
from phase3_sdk.synthesis import jobs as jobqueue
from phase3_sdk.synthesis.analyzers.base import Analyzer
from phase3_sdk.synthesis.jobs.run import AnalyzerFactory
from phase3_sdk.synthesis.types import DetectedPattern, MemoryRecord, SynthesisType

from .helpers import seed


@pytest.fixture(scope="module")
async def admin(db_url: str) -> AsyncIterator[AsyncPhase3Client]:
    async with AsyncPhase3Client.connect(db_url) as client:
        yield client


@pytest.fixture(scope="module")
async def user(db_url: str, admin: AsyncPhase3Client) -> AsyncPhase3Client:
    from phase3_sdk.db.embedded import create_auth_user

    user_id = create_auth_user(db_url, "queue@example.test", None)
    await seed(admin, user_id, n=200, seed=5, planted=False)
    return admin.as_user(user_id=user_id)


class Exploding:
    """An analyzer that raises on its first ``failures`` calls, then behaves."""

    synthesis_type: SynthesisType = "emotional_patterns"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def analyze(self, memories: Sequence[MemoryRecord]) -> list[DetectedPattern]:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError(f"boom on call {self.calls}")
        return analyzers_for("emotional_patterns")[0].analyze(memories)


def using(analyzer: Analyzer) -> AnalyzerFactory:
    return lambda kind: [analyzer]


async def test_a_job_failing_every_attempt_ends_failed_with_the_reason(
    admin: AsyncPhase3Client, user: AsyncPhase3Client
) -> None:
    job = await user.synthesis_jobs.submit("emotional_patterns", max_attempts=3)
    analyzer = Exploding(failures=99)
    report = await admin.synthesis_jobs.run_worker(once=True, analyzers=using(analyzer), retry_base=0)
    job = await user.synthesis_jobs.get(job.id)
    assert job.status == "failed"
    assert job.attempts == 3
    assert job.error_message == "RuntimeError: boom on call 3"
    assert (report.retried, report.failed) == ([job.id, job.id], [job.id])
    assert analyzer.calls == 3
    assert job.lease_owner is None


async def test_a_job_failing_once_is_retried_after_a_backoff_and_completes(
    db_url: str, admin: AsyncPhase3Client, user: AsyncPhase3Client
) -> None:
    job = await user.synthesis_jobs.submit("emotional_patterns", max_attempts=3)
    analyzer = Exploding(failures=1)
    report = await admin.synthesis_jobs.run_worker(once=True, analyzers=using(analyzer), retry_base=30)
    job = await user.synthesis_jobs.get(job.id)
    # Not due again yet: pending with next_run 15..30 s out (equal jitter), and the reason kept meanwhile.
    assert (job.status, job.attempts, report.retried) == ("pending", 1, [job.id])
    assert job.error_message == "RuntimeError: boom on call 1"
    assert job.next_run is not None
    assert timedelta(seconds=14) < job.next_run - datetime.now(UTC) <= timedelta(seconds=30)

    await _make_due(db_url, job.id)
    await admin.synthesis_jobs.run_worker(once=True, analyzers=using(analyzer))
    job = await user.synthesis_jobs.get(job.id)
    assert (job.status, job.attempts, job.error_message) == ("completed", 2, None)


async def _make_due(db_url: str, job_id: uuid.UUID) -> None:
    # The jobs resource has no update (jobs are the worker's to change); tests move the clock by SQL.
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        await conn.execute(
            "update public.memory_synthesis_jobs set next_run = now() - interval '1 second' where id = %s",
            (job_id,),
        )


async def test_a_recurring_job_is_requeued_with_its_next_cron_run(
    db_url: str, admin: AsyncPhase3Client, user: AsyncPhase3Client
) -> None:
    with pytest.raises(InvalidInputError) as info:
        await user.synthesis_jobs.submit("emotional_patterns", cron="every day at 3")
    assert info.value.field == "cron"

    before = datetime.now(UTC)
    job = await user.synthesis_jobs.submit("emotional_patterns", cron="0 3 * * *")
    assert job.is_recurring
    assert job.cron_schedule == "0 3 * * *"
    assert job.next_run == jobqueue.next_cron_run("0 3 * * *", before)
    assert job.next_run is not None
    assert (job.next_run.hour, job.next_run.minute) == (3, 0)

    report = await admin.synthesis_jobs.run_worker(once=True)
    assert job.id not in report.started  # not due before 03:00

    await _make_due(db_url, job.id)
    waiter = asyncio.ensure_future(user.synthesis_jobs.wait(job.id, timeout=20, progress=False))
    await admin.synthesis_jobs.run_worker(once=True)
    ran = await waiter  # wait() on a recurring job returns once its run is over
    assert ran.status == "pending"  # the same row, re-queued
    assert ran.last_run is not None
    assert ran.last_run > before
    assert ran.next_run == jobqueue.next_cron_run("0 3 * * *", ran.last_run)
    assert ran.next_run > ran.last_run
    assert ran.attempts == 0
    assert ran.lease_owner is None
    assert ran.insights is not None
    assert ran.insights["memories_analyzed"] == 200
    assert ran.memories_analyzed == 200


async def test_wait_returns_the_finished_job_and_times_out_without_a_worker(
    admin: AsyncPhase3Client, user: AsyncPhase3Client
) -> None:
    job = await user.synthesis_jobs.submit("relational_memory")
    with pytest.raises(SynthesisTimeoutError) as info:
        await user.synthesis_jobs.wait(job.id, timeout=0.3, progress=False)
    assert isinstance(info.value, TimeoutError)
    assert "pending" in str(info.value)

    stop = threading.Event()
    worker = asyncio.ensure_future(admin.synthesis_jobs.run_worker(poll_interval=0.05, stop_event=stop))
    try:
        done = await user.synthesis_jobs.wait(job.id, timeout=20, progress=False)
    finally:
        stop.set()
        report = await worker
    assert done.status == "completed"
    assert done.progress == 1.0
    assert report.completed == [job.id]


async def test_writes_are_guarded_by_the_lease(admin: AsyncPhase3Client, user: AsyncPhase3Client) -> None:
    job = await user.synthesis_jobs.submit("emotional_patterns")
    queue = AsyncJobQueue(admin._transport)
    [claimed] = await queue.claim("worker-a", 1, 30)
    assert claimed.id == job.id
    assert claimed.lease_owner == "worker-a"
    assert await queue.claim("worker-b", 1, 30) == []  # leased: nobody else gets it

    pattern = {
        "pattern_key": "t:x",
        "pattern_type": "t",
        "layer": 2,
        "description": "d",
        "evidence": {"memory_ids": []},
        "confidence": 0.5,
        "recommendation": None,
    }
    as_user = admin._transport.with_identity(user.identity)
    other = AsyncJobQueue(as_user)
    kwargs = {"patterns": [pattern], "insights": {}, "memories_analyzed": 0, "next_run": None}
    assert await other.finish(job.id, "worker-b", **kwargs) is None  # type: ignore[arg-type]
    assert not await queue.heartbeat(job.id, "worker-b", 0.5, 30)
    assert await queue.fail(job.id, "worker-b", error="x", retry_in=0, next_run=None) is None
    assert await user.patterns.count(pattern_type="t") == 0

    assert await queue.heartbeat(job.id, "worker-a", 0.5, 30)
    assert (await user.synthesis_jobs.get(job.id)).progress == 0.5
    finished = await other.finish(job.id, "worker-a", **kwargs)  # type: ignore[arg-type]
    assert finished is not None
    assert finished.status == "completed"
    assert finished.patterns_detected == 1
    # A repeat (a retried call whose answer was lost) writes nothing more.
    assert await other.finish(job.id, "worker-a", **kwargs) is None  # type: ignore[arg-type]
    [stored] = [p async for p in user.patterns.list(pattern_type="t")]
    assert stored.observation_count == 1


def test_the_blocking_client_runs_jobs_in_threads(db_url: str, user: AsyncPhase3Client) -> None:
    with Phase3Client.connect(db_url) as admin:
        me = admin.as_user(user_id=user.user_id)
        jobs = [me.synthesis_jobs.submit("narrative_coherence") for _ in range(6)]
        report = admin.synthesis_jobs.run_worker(concurrency=3, once=True)
        assert sorted(report.started) == sorted(j.id for j in jobs)
        assert sorted(report.completed) == sorted(j.id for j in jobs)
        finished = me.synthesis_jobs.wait(jobs[0].id, timeout=5, progress=False)
        assert finished.status == "completed"
        assert finished.memories_analyzed == 200


def test_a_one_pass_worker_fails_at_once_when_the_database_is_unreachable() -> None:
    # --once must end: an unreachable database is an error for a single pass, not a wait without end.
    client = Phase3Client.connect("postgresql://nobody@127.0.0.1:1/nothing", connect_timeout=1)
    try:
        with pytest.raises(TransientError):
            client.synthesis_jobs.run_worker(concurrency=1, once=True)
    finally:
        client.close()
