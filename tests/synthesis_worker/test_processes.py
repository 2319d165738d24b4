"""Real worker processes: one SIGKILLed mid-job, two racing over 200 jobs, the CLI stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from phase3_sdk._async.client import AsyncPhase3Client
from phase3_sdk.db.embedded import create_auth_user

from .helpers import seed, start_worker

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def admin(db_url: str) -> AsyncIterator[AsyncPhase3Client]:
    async with AsyncPhase3Client.connect(db_url) as client:
        yield client


async def _until(predicate: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


async def test_a_worker_killed_mid_job_loses_it_to_another_that_completes_it_once(
    db_url: str, admin: AsyncPhase3Client, tmp_path: Path
) -> None:
    user_id = create_auth_user(db_url, "crash@example.test", None)
    await seed(admin, user_id, n=1000, seed=3)
    me = admin.as_user(user_id=user_id)
    # A first, normal run: the patterns exist before the crash.
    first = await me.synthesis_jobs.submit("full_synthesis")
    await admin.synthesis_jobs.run_worker(once=True)
    before = {p.pattern_key: p.observation_count async for p in me.patterns.list()}
    assert before
    assert set(before.values()) == {1}
    assert (await me.synthesis_jobs.get(first.id)).status == "completed"

    job = await me.synthesis_jobs.submit("full_synthesis")
    doomed = start_worker(
        db_url, tmp_path / "a.json", "--worker-id", "doomed", "--slow", "60", "--lease", "2"
    )
    try:

        async def in_analysis() -> bool:
            if doomed.poll() is not None:
                raise AssertionError(f"the worker exited early: {doomed.communicate()[1].decode()[-2000:]}")
            current = await me.synthesis_jobs.get(job.id)
            # Past reading (0.5): the worker sits in its slow analyzer, heartbeating.
            return current.lease_owner == "doomed" and current.progress >= 0.5

        try:
            await _until(in_analysis, 30, "the doomed worker to be mid-job")
        except AssertionError:
            doomed.kill()
            state = await me.synthesis_jobs.get(job.id)
            raise AssertionError(f"{state!r}\n{doomed.communicate()[1].decode()[-3000:]}") from None
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
    finally:
        _stop(doomed)
    assert not (tmp_path / "a.json").exists()
    assert (await me.synthesis_jobs.get(job.id)).status == "running"  # still leased to the dead worker

    stop = threading.Event()
    rescuer = asyncio.ensure_future(
        admin.synthesis_jobs.run_worker(
            worker_id="rescuer", lease_seconds=2, poll_interval=0.1, stop_event=stop
        )
    )
    try:
        done = await me.synthesis_jobs.wait(job.id, timeout=30, progress=False)
    finally:
        stop.set()
        report = await rescuer
    assert done.status == "completed"
    assert done.attempts == 2  # the dead worker's attempt counts
    assert report.started == [job.id]
    after = [p async for p in me.patterns.list()]
    assert len(after) == len({p.pattern_key for p in after}) == len(before)
    # Merged exactly once for this job: the killed run wrote nothing.
    assert {p.pattern_key: p.observation_count for p in after} == {k: 2 for k in before}


async def test_two_worker_processes_racing_over_200_jobs_run_each_exactly_once(
    db_url: str, admin: AsyncPhase3Client, tmp_path: Path
) -> None:
    users = [create_auth_user(db_url, f"race{i}@example.test", None) for i in range(4)]
    for i, user_id in enumerate(users):
        await seed(admin, user_id, n=30, seed=100 + i, planted=False)
    clients = [admin.as_user(user_id=u) for u in users]
    jobs = [await clients[i % 4].synthesis_jobs.submit("emotional_patterns") for i in range(200)]

    reports = [tmp_path / "w1.json", tmp_path / "w2.json"]
    procs = [start_worker(db_url, r, "--once", "--concurrency", "3", "--lease", "30") for r in reports]
    try:
        for proc in procs:
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err.decode()[-2000:]
    finally:
        for proc in procs:
            _stop(proc)
    started = [job_id for r in reports for job_id in json.loads(r.read_text())["started"]]
    runs = Counter(started)
    assert set(runs) == {str(j.id) for j in jobs}
    assert set(runs.values()) == {1}
    assert all(json.loads(r.read_text())["started"] for r in reports), "both workers took part"
    for client in clients:
        statuses = Counter([(j.status, j.attempts) async for j in client.synthesis_jobs.list()])
        assert statuses == {("completed", 1): 50}


def test_the_cli_worker_runs_jobs_and_stops_gracefully_on_sigterm(db_url: str) -> None:
    from phase3_sdk._sync.client import Phase3Client

    user_id = create_auth_user(db_url, "cli@example.test", None)
    with Phase3Client.connect(db_url) as admin:
        me = admin.as_user(user_id=user_id)
        me.conversations.create(messages=[{"role": "user", "content": "hello"}], primary_emotion="calm")
        job = me.synthesis_jobs.submit("emotional_patterns")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        code = "from phase3_sdk.cli import main; raise SystemExit(main())"
        argv = ["synthesis", "worker", "--db-url", db_url, "--concurrency", "2", "--poll-interval", "0.1"]
        proc = subprocess.Popen(
            [sys.executable, "-c", code, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        try:
            done = me.synthesis_jobs.wait(job.id, timeout=30, progress=False)
            assert done.status == "completed"
            assert done.memories_analyzed == 1
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=15)
        finally:
            _stop(proc)
    assert proc.returncode == 0, err.decode()
    assert "1 completed" in out.decode()
    assert "SIGTERM" in err.decode()
