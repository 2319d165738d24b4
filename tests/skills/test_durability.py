"""Crash, resume, race and cancel: a checkpointed step never runs again, one resumer wins (both backends).

The SIGKILLed child process always runs on a direct connection; the parent inspects and resumes its run
on either backend.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from phase3_sdk import Phase3Client
from phase3_sdk.errors import ExecutionError, LeaseLostError, NotFoundError

from .conftest import LEASE, Crash, MakeUser, interrupted, wait_for_lease_expiry

STEPS = [
    {"stepId": "first", "toolName": "first"},
    {"stepId": "slow", "toolName": "slow", "inputMapping": {"v": "$.first.v"}},
    {"stepId": "last", "toolName": "last", "inputMapping": {"v": "$.slow.v"}},
]


def resume_when_free(me: Phase3Client, execution_id: uuid.UUID) -> Any:
    deadline = time.monotonic() + 10
    while True:
        try:
            return me.skills.resume(execution_id, lease_seconds=LEASE)
        except LeaseLostError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


CHILD = textwrap.dedent(
    """
    import sys, time
    from phase3_sdk import Phase3Client

    db_url, user_id, skill_id, log_path, ready_path = sys.argv[1:]

    def note(what):
        with open(log_path, "a") as f:
            f.write(what + "\\n")

    client = Phase3Client.connect(db_url)
    me = client.as_user(user_id=user_id)

    @me.tools.handler("first")
    def first(params):
        note("first")
        return {"v": 1}

    @me.tools.handler("slow")
    def slow(params):
        note("slow")
        open(ready_path, "w").close()
        time.sleep(60)
        return {"v": 2}

    @me.tools.handler("last")
    def last(params):
        note("last")
        return {"v": 3}

    me.skills.execute(skill_id, {}, lease_seconds=1)
    """
)


@pytest.mark.slow
def test_sigkilled_execution_resumes_and_runs_finished_steps_once(
    client: Phase3Client, make_user: MakeUser, db_url: str, tmp_path: Path
) -> None:
    me = client.as_user(user_id=make_user())
    skill = me.skills.create(name="crashy", steps=STEPS)
    log, ready, script = tmp_path / "calls.log", tmp_path / "ready", tmp_path / "child.py"
    script.write_text(CHILD)
    child = subprocess.Popen(
        [sys.executable, str(script), db_url, str(me.user_id), str(skill.id), str(log), str(ready)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert child.poll() is None, child.stdout.read().decode() if child.stdout else "child exited"
            assert time.monotonic() < deadline, "the child never reached the slow step"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL

    (interrupted,) = me.skill_executions.list(composite_skill_id=skill.id)
    assert interrupted.status == "running"
    assert [r.step_id for r in interrupted.steps_executed] == ["first"]

    def note(what: str) -> None:
        with log.open("a") as f:
            f.write(what + "\n")

    me.tools.register("first", lambda p: note("first") or {"v": 1})
    me.tools.register("slow", lambda p: note("slow-resumed") or {"v": 2})
    me.tools.register("last", lambda p: note("last") or {"v": p["v"] + 1})

    done = resume_when_free(me, interrupted.id)
    assert (done.status, done.final_output, done.steps_completed) == ("completed", {"v": 3}, 3)
    assert log.read_text().split() == ["first", "slow", "slow-resumed", "last"]
    assert me.tool_usage.count(skill_execution_id=done.id, tool_name="first") == 1
    assert me.skills.get(skill.id).execution_count == 1
    # Resuming a finished execution changes nothing.
    assert me.skills.resume(done.id).steps_executed == done.steps_executed


def test_resume_after_a_crash(client: Phase3Client, make_user: MakeUser) -> None:
    me = client.as_user(user_id=make_user())
    calls: list[str] = []
    execution_id = interrupted(me, calls)
    assert calls == ["first"]

    with pytest.raises(LeaseLostError):  # the dead process's lease has not expired yet
        me.skills.resume(execution_id, lease_seconds=LEASE)
    wait_for_lease_expiry()
    done = me.skills.resume(execution_id, lease_seconds=LEASE)

    assert (done.status, done.final_output, done.steps_completed, done.total_steps) == (
        "completed",
        {"v": 3},
        3,
        3,
    )
    assert calls == ["first", "slow", "last"]  # the checkpointed step did not run again
    assert [r.step_id for r in done.steps_executed] == ["first", "slow", "last"]
    usage = list(me.tool_usage.list(skill_execution_id=execution_id))
    assert sorted(str(u.tool_name).split("-")[0] for u in usage) == ["first", "last", "slow"]  # one call each
    assert me.skills.get(done.composite_skill_id).execution_count == 1
    assert me.skills.resume(execution_id) == done  # a finished execution comes back unchanged


def interrupted_execution(me: Phase3Client, name: str, calls: list[str]) -> uuid.UUID:
    """An execution whose process 'died' in its second step (lease left to expire)."""
    crash = [True]

    me.tools.register("first", lambda p: calls.append("first") or {"v": 1}, replace=True)

    def slow(params: dict[str, Any]) -> dict[str, int]:
        if crash[0]:
            crash[0] = False
            raise Crash
        calls.append("slow")
        time.sleep(0.5)  # long enough for the other resumer to find the lease taken
        return {"v": 2}

    me.tools.register("slow", slow, replace=True)
    me.tools.register("last", lambda p: calls.append("last") or {"v": 3}, replace=True)
    skill = me.skills.create(name=name, steps=STEPS)
    with pytest.raises(Crash):
        me.skills.execute(skill.id, lease_seconds=LEASE)
    (execution,) = me.skill_executions.list(composite_skill_id=skill.id)
    assert execution.status == "running"
    return execution.id


@pytest.mark.slow
def test_two_concurrent_resumes_run_it_once(client: Phase3Client, make_user: MakeUser) -> None:
    me = client.as_user(user_id=make_user())
    calls: list[str] = []
    execution_id = interrupted_execution(me, "raced", calls)
    time.sleep(LEASE + 0.1)

    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def resume() -> None:
        barrier.wait()
        try:
            outcomes.append(me.skills.resume(execution_id, lease_seconds=LEASE).status)
        except LeaseLostError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=resume) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert calls == ["first", "slow", "last"]  # the crashed attempt of "slow" never got to count itself
    assert sorted(map(type, outcomes), key=str) == sorted([str, LeaseLostError], key=str)
    assert "completed" in outcomes


def test_cancel(client: Phase3Client, make_user: MakeUser) -> None:
    me = client.as_user(user_id=make_user())
    other = client.as_user(user_id=me.user_id)  # another client of the same user, e.g. another request

    def cancel_myself(params: dict[str, Any]) -> int:
        (running,) = other.skill_executions.list(status="running")
        assert other.skills.cancel(running.id).status == "running"  # the holder will see the flag
        return 1

    me.tools.register("cancel-me", cancel_myself)
    me.tools.register("never", lambda p: pytest.fail("ran after cancel"))
    skill = me.skills.create(
        name="cancelled",
        steps=[{"stepId": "a", "toolName": "cancel-me"}, {"stepId": "b", "toolName": "never"}],
    )
    run = me.skills.execute(skill.id)
    assert (run.status, run.error_message, run.cancel_requested) == ("cancelled", "cancelled", True)
    assert [r.step_id for r in run.steps_executed] == ["a"]
    assert me.skills.cancel(run.id).status == "cancelled"  # again: a no-op

    done = me.skills.execute(
        me.skills.create(name="quick", steps=[{"stepId": "a", "toolName": "cancel-me"}]).id
    )
    assert done.status == "cancelled"
    me.tools.register("cancel-me", lambda p: 1, replace=True)
    finished = me.skills.execute("quick")
    with pytest.raises(ExecutionError):
        me.skills.cancel(finished.id)
    with pytest.raises(NotFoundError):
        me.skills.cancel(uuid.uuid4())

    # Nobody holds it any more (the process died): cancelled at once.
    orphan = interrupted_execution(me, "orphan", [])
    time.sleep(LEASE + 0.1)
    assert me.skills.cancel(orphan).status == "cancelled"
    assert me.skills.resume(orphan).status == "cancelled"
