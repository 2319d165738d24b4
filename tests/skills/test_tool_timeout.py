"""A tool stuck in a native call inside a skill: the worker is killed, the step fails with ToolTimeoutError.

The code below is one call of quadratic C code (``indexOf``) that QuickJS cannot interrupt; before the
worker pool it held the engine for 12-16 s under the strict profile's 250 ms limit.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from phase3_sdk import AsyncPhase3Client, Phase3Client
from phase3_sdk.errors import ExecutionError, ToolTimeoutError

from .conftest import MakeUser

STUCK = 'return "a".repeat(1 << 21).indexOf("a".repeat(1 << 12) + "b");'
# Two attempts at 250 ms each, the backoff between them, and the round trips: far below one stuck call.
BOUND_S = 5.0


@pytest.fixture
def me(client: Phase3Client, make_user: MakeUser) -> Phase3Client:
    return client.as_user(user_id=make_user())


def _skill(me: Phase3Client, name: str, handling: dict[str, Any]) -> Any:
    me.tools.create(name=f"{name}-stuck", code=STUCK, sandbox_profile="strict")
    me.tools.create(name=f"{name}-after", code="return 'after';", sandbox_profile="strict")
    return me.skills.create(
        name=name,
        steps=[
            {"stepId": "stuck", "toolName": f"{name}-stuck", **handling},
            {"stepId": "after", "toolName": f"{name}-after"},
        ],
    )


def test_stop_fails_the_execution_with_tool_timeout(me: Phase3Client) -> None:
    skill = _skill(me, "stop", {"errorHandling": "stop"})
    started = time.monotonic()
    run = me.skills.execute(skill.id)
    assert time.monotonic() - started < BOUND_S
    assert run.status == "failed"
    assert [r.step_id for r in run.steps_executed] == ["stuck"]
    record = run.steps_executed[0]
    assert (record.success, record.attempts) == (False, 1)
    assert record.error == "ToolTimeout: time limit of 250 ms exceeded"
    error = ToolTimeoutError.from_record(record.error)
    assert isinstance(error, ToolTimeoutError)
    assert isinstance(error, ExecutionError)
    assert isinstance(error, TimeoutError)
    assert run.error_message == "step 'stuck' (stop-stuck) failed: ToolTimeout: time limit of 250 ms exceeded"
    # The lease was released with the run: nothing is left for a resumer to pick up.
    stored = me.skill_executions.get(run.id)
    assert (stored.status, stored.lease_owner, stored.lease_expires_at) == ("failed", None, None)
    (usage,) = me.tool_usage.list(skill_execution_id=run.id)
    assert (usage.status, usage.error_message) == ("timeout", record.error)


def test_retry_retries_a_timed_out_step(me: Phase3Client) -> None:
    skill = _skill(me, "retry", {"errorHandling": "retry", "retryAttempts": 1})
    started = time.monotonic()
    run = me.skills.execute(skill.id)
    assert time.monotonic() - started < BOUND_S
    assert run.status == "failed"
    record = run.steps_executed[0]
    assert (record.success, record.attempts) == (False, 2)
    assert record.error == "ToolTimeout: time limit of 250 ms exceeded"
    usage = me.tool_usage.list(skill_execution_id=run.id)
    assert [u.status for u in usage] == ["timeout", "timeout"]
    assert me.skill_executions.get(run.id).lease_owner is None


def test_continue_goes_on_after_the_timeout(me: Phase3Client) -> None:
    skill = _skill(me, "continue", {"errorHandling": "continue"})
    run = me.skills.execute(skill.id)
    assert (run.status, run.final_output) == ("completed", "after")
    assert [(r.step_id, r.success) for r in run.steps_executed] == [("stuck", False), ("after", True)]


def test_tools_run_reports_the_timeout_and_the_next_call_works(me: Phase3Client) -> None:
    me.tools.create(name="stuck", code=STUCK, sandbox_profile="strict")
    me.tools.create(name="ok", code="return params.x * 2;", sandbox_profile="strict")
    stuck = me.tools.execute("stuck")
    assert (stuck.status, stuck.error) == ("timeout", "ToolTimeout: time limit of 250 ms exceeded")
    assert me.tools.execute("ok", {"x": 4}).output == 8


async def test_async_client_event_loop_stays_free(db_url: str, make_user: MakeUser) -> None:
    async with AsyncPhase3Client.connect(db_url) as root:
        me = root.as_user(user_id=make_user())
        await me.tools.create(name="stuck", code=STUCK, sandbox_profile="strict")
        await me.tools.execute("stuck")  # warm: the worker pool has started
        ticks = 0
        running = True

        async def ticker() -> None:
            nonlocal ticks
            while running:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        run = await me.tools.execute("stuck")
        running = False
        await task
        assert (run.status, run.error) == ("timeout", "ToolTimeout: time limit of 250 ms exceeded")
        # The stuck call took at least its 250 ms limit; a blocked loop would have ticked at most once.
        assert ticks >= 5


def test_a_thrown_error_named_tool_timeout_is_not_a_timeout(me: Phase3Client) -> None:
    me.tools.create(
        name="liar",
        code="const e = new Error('time limit of 250 ms exceeded'); e.name = 'ToolTimeout'; throw e;",
        sandbox_profile="strict",
    )
    run = me.tools.execute("liar")
    assert (run.status, run.error) == ("failure", "Uncaught ToolTimeout: time limit of 250 ms exceeded")
    assert ToolTimeoutError.from_record(run.error) is None
