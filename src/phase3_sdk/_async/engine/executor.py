"""The durable composite-skill executor: run steps in order, checkpoint each, survive a crash.

Life of an execution (see ``phase3_sdk.engine.runs`` for what a step sees and leaves behind):

1. Before anything is written: the steps are validated, required inputs checked and every tool
   resolved (one query); any problem is an ``InvalidInputError``.
2. ``start_skill_execution`` inserts the row as ``running`` with the steps as a snapshot and a lease
   held by this process (a random owner token), timed by the database clock.
3. Each step runs, then ``checkpoint_skill_step`` appends its record, logs its tool calls, bumps the
   tools' counters and extends the lease -- one round trip, refused if the lease was lost -- and
   answers whether a cancel was requested. A background keeper also renews the lease every third of
   its length, so a step longer than the lease does not lose it.
4. ``finish_skill_execution`` sets the final status, output, error and time, releases the lease and
   bumps the skill's ``execution_count`` exactly once.

If the process dies, the row stays ``running`` until its lease expires; ``resume`` (or
``skills.resume_expired``, which finds such rows with ``find_expired_skill_executions``) then claims it
(``claim_skill_execution``: a row lock makes exactly one of several resumers win) and runs only the
steps without a checkpoint, from the context rebuilt out of the checkpoints and the snapshot. A step
whose checkpoint was written never runs again; a step that was in flight when the process died runs
again (its tool may thus have run twice -- the unavoidable "at least once" of any crash-safe runner).

Round trips: one per step, plus resolve skill (unless a :class:`~phase3_sdk.models.Skill` is passed),
resolve tools (unless all are Python handlers), start and finish -- at most four per execution.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any, Final
from uuid import UUID

from ..._flavour import AsyncLeaseKeeper, async_run_blocking, async_sleep
from ...backends.base import Filter, Query
from ...engine.conditions import evaluate_condition
from ...engine.registry import ToolRegistry
from ...engine.runs import (
    SkillRun,
    StepResult,
    backoff_delay,
    check_inputs,
    check_timeout,
    final_output,
    map_inputs,
    map_output,
    missing_required_inputs,
    owner_token,
    rebuild_context,
    step_record,
    usage_entry,
)
from ...engine.steps import SkillStep, parse_steps
from ...errors import ExecutionError, InvalidInputError, LeaseLostError, NotFoundError
from ...models import Skill, SkillExecution
from ...schema.tables import SKILL_EXECUTIONS
from ..transport import AsyncTransport
from .store import AsyncExecutionStore
from .tools import AsyncToolRunner

#: How long an execution's lease lasts without renewal: how soon after a crash it can be resumed.
DEFAULT_LEASE_SECONDS: Final = 30.0
#: First wait before retrying a failed step (doubles per attempt, jittered, capped at 5 s).
DEFAULT_RETRY_BACKOFF: Final = 0.2


class AsyncSkillExecutor:
    """Runs, resumes and cancels skill executions for one transport (identity)."""

    def __init__(
        self,
        transport: AsyncTransport,
        registry: ToolRegistry,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        retry_backoff: float = DEFAULT_RETRY_BACKOFF,
    ) -> None:
        if not lease_seconds >= 1:
            raise InvalidInputError("lease_seconds must be at least 1", field="lease_seconds")
        if not retry_backoff >= 0:
            raise InvalidInputError("retry_backoff must be >= 0", field="retry_backoff")
        self._transport = transport
        self._runner = AsyncToolRunner(transport, registry)
        self._store = AsyncExecutionStore(transport)
        self.lease_seconds = float(lease_seconds)
        self.retry_backoff = float(retry_backoff)

    # -- entry points -----------------------------------------------------------------------------

    async def execute(
        self,
        skill: Skill,
        inputs: Mapping[str, Any] | None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - a run's time budget, recorded in its result
        user_id: UUID | None = None,
    ) -> SkillExecution:
        """Run ``skill`` to its end and return the finished execution row.

        ``user_id`` is whose run it is when acting as the service role (default: the skill's owner).
        """
        check_timeout(timeout)
        if not skill.is_enabled:
            raise ExecutionError(f"skill {skill.name!r} ({skill.id}) is disabled", code="skill_disabled")
        values = check_inputs(inputs)
        steps = parse_steps(skill.steps)
        missing = missing_required_inputs(steps, values)
        if missing:
            raise InvalidInputError(
                f"skill {skill.name!r} is missing required inputs: " + "; ".join(missing), field="inputs"
            )
        mine = self._transport.identity.user_id
        run_user = mine if mine is not None else (user_id or skill.user_id)
        tools = await self._runner.resolve((s.tool_name for s in steps), run_user)
        unknown = sorted({s.tool_name for s in steps} - tools.keys())
        if unknown:
            raise InvalidInputError(
                f"skill {skill.name!r} uses tools that do not exist (no Python handler registered and "
                f"no enabled custom tool visible): {', '.join(unknown)}",
                field="steps",
            )
        owner = owner_token()
        started = time.perf_counter()
        execution = await self._store.start(
            uuid.uuid4(),
            skill.id,
            None if mine is not None else run_user,
            values,
            [s.to_json() for s in steps],
            owner,
            self.lease_seconds,
        )
        run = SkillRun(execution, steps, tools, {"input": values}, owner, timeout, started=started)
        return await self._drive(run)

    async def resume(self, execution_id: UUID, *, timeout: float | None = None) -> SkillExecution:  # noqa: ASYNC109 - a run's time budget, recorded in its result
        """Continue an interrupted execution from its checkpoints; see the module docstring.

        A finished execution is returned unchanged. Raises :class:`~phase3_sdk.errors.LeaseLostError` while
        another process holds a live lease on it, :class:`~phase3_sdk.errors.NotFoundError` if it is not
        visible to this client.
        """
        resumed = await self.resume_if_free(execution_id, timeout=timeout)
        if resumed is not None:
            return resumed
        current = await self.get(execution_id)
        if current.status != "running":
            return current
        raise LeaseLostError(
            f"execution {execution_id} is held by {current.lease_owner!r} until "
            f"{current.lease_expires_at}; it can be resumed once that lease expires",
            code="lease_held",
        )

    async def resume_if_free(
        self,
        execution_id: UUID,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - a run's time budget, recorded in its result
    ) -> SkillExecution | None:
        """Claim the execution and run it to its end; ``None`` if it could not be claimed.

        Not claimable: another process holds a live lease, it is no longer running, or it is not visible
        to this client. One request decides (``claim_skill_execution``), so a caller that only wants runs
        nobody else is driving (``skills.resume_expired``) spends no read on the ones it cannot take.
        Raises :class:`~phase3_sdk.errors.LeaseLostError` if the lease is lost to another process mid-run.
        """
        check_timeout(timeout)
        owner = owner_token()
        execution = await self._store.claim(execution_id, owner, self.lease_seconds)
        if execution is None:
            return None
        if execution.skill_snapshot is None:
            raise ExecutionError(f"execution {execution_id} has no skill snapshot to resume from")
        steps = parse_steps(execution.skill_snapshot)
        done = {r.step_id for r in execution.steps_executed}
        remaining = [s for s in steps if s.step_id not in done]
        tools = (
            await self._runner.resolve((s.tool_name for s in remaining), execution.user_id)
            if remaining
            else {}
        )
        run = SkillRun(
            execution,
            steps,
            tools,
            rebuild_context(execution.input_params, execution.steps_executed),
            owner,
            timeout,
            records=[r.model_dump(by_alias=True) for r in execution.steps_executed],
            base_ms=sum(r.execution_time_ms for r in execution.steps_executed),
        )
        return await self._drive(run)

    async def cancel(self, execution_id: UUID) -> SkillExecution:
        """Cancel a running execution (see ``AsyncSkills.cancel`` for the semantics)."""
        execution = await self._store.cancel(execution_id)
        if execution is None:
            raise NotFoundError(
                f"no skill execution {execution_id} is visible to this client", code="PGRST116"
            )
        if execution.status in ("completed", "failed"):
            raise ExecutionError(
                f"execution {execution_id} already ended as {execution.status!r}; it cannot be cancelled",
                code="execution_finished",
            )
        return execution

    async def get(self, execution_id: UUID) -> SkillExecution:
        """The execution row, or NotFoundError."""
        rows = await self._transport.select(
            Query(
                SKILL_EXECUTIONS.name,
                SKILL_EXECUTIONS.light_columns,
                (Filter("id", "eq", execution_id),),
                limit=1,
            )
        )
        if not rows:
            raise NotFoundError(
                f"no skill execution {execution_id} is visible to this client", code="PGRST116"
            )
        return SkillExecution.model_validate(rows[0])

    # -- the loop ---------------------------------------------------------------------------------

    async def _drive(self, run: SkillRun) -> SkillExecution:
        async def renew() -> bool:
            # claim_skill_execution extends a lease its owner already holds.
            return await self._store.claim(run.execution.id, run.owner, self.lease_seconds) is not None

        status: str
        error: str | None
        if run.execution.cancel_requested:
            status, error = "cancelled", "cancelled"
        else:
            async with AsyncLeaseKeeper(renew, self.lease_seconds / 3) as keeper:
                status, error = await self._steps(run, keeper)
        elapsed_ms = run.base_ms + (time.perf_counter() - run.started) * 1000
        return await self._store.finish(
            run.execution.id, run.owner, status, final_output(run.records), error, elapsed_ms
        )

    async def _steps(self, run: SkillRun, keeper: AsyncLeaseKeeper) -> tuple[str, str | None]:
        """Run every step without a checkpoint; return the execution's final (status, error_message)."""
        done = {r["stepId"] for r in run.records}
        for step in run.steps:
            if step.step_id in done:
                continue
            if keeper.lost:
                raise LeaseLostError(f"execution {run.execution.id} lost its lease to another process")
            left = run.remaining()
            if left is not None and left <= 0:
                return "failed", f"execution timed out after {run.timeout:g} s (before step {step.step_id!r})"
            result = await self._step(run, step)
            cancel = await self._store.checkpoint(
                run.execution.id, run.owner, self.lease_seconds, result.record, result.usage
            )
            run.records.append(result.record)
            run.context[step.step_id] = result.value
            if result.timed_out and (left := run.remaining()) is not None and left <= 0:
                return "failed", f"execution timed out after {run.timeout:g} s (during step {step.step_id!r})"
            if not result.record["success"] and step.error_handling != "continue":
                return "failed", f"step {step.step_id!r} ({step.tool_name}) failed: {result.record['error']}"
            if cancel:
                return "cancelled", "cancelled"
        return "completed", None

    async def _step(self, run: SkillRun, step: SkillStep) -> StepResult:
        """Run one step (condition, mapping, attempts); never raises for a fault of the step itself."""
        started = time.perf_counter()

        def elapsed() -> float:
            return (time.perf_counter() - started) * 1000

        def failed(error: str, attempts: int = 0, usage: list[dict[str, Any]] | None = None) -> StepResult:
            record = step_record(
                step, success=False, error=error, attempts=attempts, execution_time_ms=elapsed()
            )
            return StepResult(record, usage or [], None)

        if step.condition and step.condition.strip():
            try:
                # A sandbox worker process evaluates it (killed past ~1.5x the strict 250 ms limit); waiting
                # for it blocks, so off the event loop in the async client.
                go = await async_run_blocking(evaluate_condition, step.condition, run.context)
            except InvalidInputError as exc:
                return failed(exc.message)
            if not go:
                record = step_record(step, success=True, skipped=True, execution_time_ms=elapsed())
                return StepResult(record, [], None)
        try:
            params = map_inputs(step, run.context)
        except InvalidInputError as exc:
            return failed(exc.message)
        tool = run.tools.get(step.tool_name)
        if tool is None:
            return failed(f"no tool named {step.tool_name!r} is available")

        attempts = 1 + step.retry_attempts if step.error_handling == "retry" else 1
        usage: list[dict[str, Any]] = []
        user = None if self._transport.identity.user_id is not None else run.execution.user_id
        for attempt in range(1, attempts + 1):
            call = await self._runner.invoke(tool, params, timeout=run.remaining())
            usage.append(usage_entry(call, params, user_id=user, execution_id=run.execution.id))
            if call.status == "success":
                try:
                    value = map_output(step, call.output)
                except InvalidInputError as exc:
                    return failed(exc.message, attempt, usage)
                record = step_record(
                    step, success=True, output=value, attempts=attempt, execution_time_ms=elapsed()
                )
                return StepResult(record, usage, value)
            left = run.remaining()
            delay = backoff_delay(attempt, self.retry_backoff)
            if attempt == attempts or (left is not None and left <= delay):
                result = failed(call.error or call.status, attempt, usage)
                result.timed_out = call.status == "timeout"
                return result
            await async_sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover
