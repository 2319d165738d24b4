"""examples/worker.py as users run it: its own process, configured from the environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from phase3_sdk import Phase3Client
from phase3_sdk.testing.seed import generate_history

WORKER = Path(__file__).resolve().parents[2] / "examples" / "worker.py"


def submit_job(db_url: str, make_user: Any) -> tuple[Phase3Client, Any, Any]:
    root = Phase3Client.connect(db_url)
    user = root.as_user(user_id=make_user())
    start = datetime.now(UTC) - timedelta(days=30)
    user.conversations.bulk_create(generate_history(n=80, seed=3, start=start, planted=True))
    return root, user, user.synthesis_jobs.submit("full_synthesis")


def worker_env(db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPABASE_")}
    env["SUPABASE_DB_URL"] = db_url
    return env


def test_once_runs_the_due_job_and_exits(db_url: str, make_user: Any, tmp_path: Path) -> None:
    root, user, job = submit_job(db_url, make_user)
    with root:
        done = subprocess.run(
            [sys.executable, str(WORKER), "--once", "--concurrency", "1"],
            env=worker_env(db_url),
            cwd=tmp_path,  # no .env here
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert "1 jobs completed, 0 failed" in done.stdout
        finished = user.synthesis_jobs.get(job.id)
        assert finished.status == "completed"
        assert finished.memories_analyzed == 80
        assert user.patterns.count() > 0


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM")
def test_sigterm_stops_a_long_running_worker_cleanly(db_url: str, make_user: Any, tmp_path: Path) -> None:
    root, user, job = submit_job(db_url, make_user)
    with root:
        proc = subprocess.Popen(
            [sys.executable, str(WORKER)],
            env=worker_env(db_url),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 120
            while user.synthesis_jobs.get(job.id).status != "completed":
                assert proc.poll() is None, proc.communicate()[1][-3000:]
                assert time.monotonic() < deadline, "the worker never completed the job"
                time.sleep(0.2)
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 0, err[-3000:]
        assert "1 jobs completed" in out
