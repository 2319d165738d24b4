"""The asyncio twins: execute, tools.execute, resume and cancel on AsyncPhase3Client."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from phase3_sdk import AsyncPhase3Client
from phase3_sdk.errors import LeaseLostError

from .conftest import MakeUser


async def test_async_execute_run_and_resume(db_url: str, make_user: MakeUser) -> None:
    async with AsyncPhase3Client.connect(db_url) as root:
        me = root.as_user(user_id=make_user())
        await me.tools.create(name="double", code="return { result: params.x * 2 };")

        @me.tools.handler("add10")
        async def add10(params: dict[str, Any]) -> int:
            await asyncio.sleep(0)
            return int(params["x"]) + 10

        blocking_calls: list[float] = []

        @me.tools.handler("blocking")
        def blocking(params: dict[str, Any]) -> int:
            time.sleep(0.05)  # runs in a worker thread: the loop stays free
            blocking_calls.append(1)
            return 0

        skill = await me.skills.create(
            name="async-chain",
            steps=[
                {
                    "stepId": "a",
                    "toolName": "double",
                    "inputMapping": {"x": "$.input.x"},
                    "outputMapping": "$.result",
                },
                {"stepId": "b", "toolName": "add10", "inputMapping": {"x": "$.a"}},
                {"stepId": "c", "toolName": "blocking", "condition": "b > 100"},
            ],
        )
        runs = await asyncio.gather(*(me.skills.execute(skill.id, {"x": x}) for x in (1, 50)))
        assert [(r.status, r.final_output) for r in runs] == [("completed", 12), ("completed", 0)]
        assert blocking_calls == [1]
        assert (await me.skills.get(skill.id)).execution_count == 2

        tool_run = await me.tools.execute("double", {"x": 21})
        assert (tool_run.status, tool_run.output) == ("success", {"result": 42})
        assert await me.tool_usage.count(tool_name="double") == 3

        # Resume and cancel: a crashed run (BaseException escapes the engine), resumed once its lease expires.
        class Crash(BaseException):
            pass

        crashed = [False]

        @me.tools.handler("crash-once")
        async def crash_once(params: dict[str, Any]) -> str:
            if not crashed[0]:
                crashed[0] = True
                raise Crash
            return "done"

        crashy = await me.skills.create(
            name="async-crash",
            steps=[
                {"stepId": "a", "toolName": "add10", "inputMapping": {"x": "$.input.x"}},
                {"stepId": "b", "toolName": "crash-once"},
            ],
        )
        with contextlib.suppress(Crash):
            await me.skills.execute(crashy.id, {"x": 0}, lease_seconds=1)
        (execution,) = [e async for e in me.skill_executions.list(composite_skill_id=crashy.id)]
        try:
            await me.skills.resume(execution.id)
            raise AssertionError("resumed while the lease was still held")
        except LeaseLostError:
            pass
        await asyncio.sleep(1.1)
        done = await me.skills.resume(execution.id)
        assert (done.status, done.final_output, len(done.steps_executed)) == ("completed", "done", 2)
