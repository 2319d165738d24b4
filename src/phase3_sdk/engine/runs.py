"""The pure rules of running a composite skill: what a step receives, records and leaves behind.

The I/O half (``phase3_sdk._async.engine``) calls these; keeping them here means the semantics below are
stated, and testable, in one place:

* **Context.** ``{"input": <inputs>, <stepId>: <output after outputMapping>, ...}``.
* **Skipped or failed step.** Its stepId is bound to ``None`` (JSON ``null``) in the context. A condition
  that reads it therefore never hits a ``ReferenceError`` (``step2 === null`` is the way to test for it;
  ``step2?.ok`` reads a field safely); a mapping path into it selects ``None``.
* **Required inputs.** A step *requires* every ``inputMapping`` path that starts at ``$.input`` (for
  example ``$.input.x``) unless the step has a ``condition`` -- a conditional step may be exactly the one
  that handles an absent input. A required path that selects nothing in the inputs is an
  ``InvalidInputError`` raised before anything is written or run. A present JSON ``null`` counts as present.
  Paths into earlier steps are not checked up front (their outputs do not exist yet): they map to ``None``.
* **Final output.** The output of the last step that ran and succeeded (skipped and failed steps have no
  output), or ``None`` if there is none.
* **Retries.** ``errorHandling: "retry"`` makes up to ``1 + retryAttempts`` attempts, waiting
  :func:`backoff_delay` between them; every attempt is a tool call and is logged.
"""

from __future__ import annotations

import json
import math
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final
from uuid import UUID

import jsonpath_rfc9535

from ..errors import InvalidInputError
from ..models import SkillExecution, StepRecord, Tool, ToolStatus
from ..retry import backoff_delay as retry_backoff_delay
from .jsonpath import compile_path
from .registry import Handler
from .steps import SkillStep

__all__ = [
    "RegisteredHandler",
    "ResolvedTool",
    "SkillRun",
    "StepResult",
    "ToolRun",
    "backoff_delay",
    "check_inputs",
    "check_timeout",
    "final_output",
    "first_execution",
    "json_value",
    "map_inputs",
    "map_output",
    "missing_required_inputs",
    "owner_token",
    "pick_tool",
    "rebuild_context",
    "step_record",
    "unwrap_handler",
    "usage_entry",
]

#: Longest wait between two attempts of a retried step, whatever the attempt number.
MAX_BACKOFF_SECONDS: Final = 5.0


@dataclass(frozen=True, slots=True)
class ToolRun:
    """The result of one tool call (``client.tools.execute`` or one attempt of a skill step).

    ``status`` is ``success``, ``failure`` (the tool raised, threw or broke a limit other than time) or
    ``timeout``; ``output`` is the JSON value the tool returned (``None`` unless it succeeded); ``error`` is
    a one-line message. ``logs`` are the lines a JavaScript tool passed to ``log()`` (empty for Python
    handlers). ``custom_tool_id`` is the ``custom_tools`` row that ran, ``None`` for a Python handler;
    ``usage_id`` is the ``custom_tool_usage`` row the call was logged as.
    """

    tool_name: str
    status: ToolStatus
    output: Any
    error: str | None
    execution_time_ms: float
    logs: tuple[str, ...] = ()
    memory_used_mb: float | None = None
    custom_tool_id: UUID | None = None
    usage_id: UUID | None = None

    @property
    def ok(self) -> bool:
        """Whether the call succeeded."""
        return self.status == "success"


@dataclass(frozen=True, slots=True)
class RegisteredHandler:
    """A Python handler as ``tools.handler(name, timeout=...)`` registers it: the callable and its limit.

    Callable itself, so the shared :class:`~phase3_sdk.engine.registry.ToolRegistry` stores it like any
    handler; the engine unwraps it with :func:`unwrap_handler` to call ``fn`` directly (an ``async def``
    stays recognisable as one).
    """

    fn: Handler
    timeout: float | None = None

    def __call__(self, params: dict[str, Any]) -> Any:
        """Call the handler (what the registry's plain callers see)."""
        return self.fn(params)


def unwrap_handler(handler: Handler) -> tuple[Handler, float | None]:
    """``(callable, timeout seconds or None)`` of a registered handler."""
    if isinstance(handler, RegisteredHandler):
        return handler.fn, handler.timeout
    return handler, None


@dataclass(frozen=True, slots=True)
class ResolvedTool:
    """What a tool name resolved to: a Python handler (with its timeout) or a ``custom_tools`` row."""

    name: str
    handler: Handler | None = None
    timeout: float | None = None
    row: Tool | None = None

    @property
    def custom_tool_id(self) -> UUID | None:
        """The row's id (``None`` for a Python handler)."""
        return None if self.row is None else self.row.id


def pick_tool(rows: Iterable[Tool], name: str, owner: UUID | None) -> Tool | None:
    """The row a name means for ``owner``: their own enabled tool, else the oldest enabled public one.

    ``rows`` may hold more than that (the service role sees every row; a query may cover several names),
    so visibility is checked here again rather than trusted to RLS alone.
    """
    own: Tool | None = None
    public: list[Tool] = []
    for row in rows:
        if row.name != name or not row.is_enabled:
            continue
        if owner is not None and row.user_id == owner:
            own = row
        elif row.visibility == "public":
            public.append(row)
    if own is not None:
        return own
    # Oldest first, id as the tie-break: the same name always means the same tool for everyone.
    public.sort(key=lambda r: (r.created_at, str(r.id)))
    return public[0] if public else None


def json_value(value: Any, *, what: str) -> Any:
    """``value`` as the database stores it (tuples become lists, ...); ``ValueError`` if it is not JSON."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not JSON-serializable: {exc}") from None


def check_inputs(inputs: Mapping[str, Any] | None) -> dict[str, Any]:
    """The skill's inputs as a JSON object, or ``InvalidInputError`` (field ``inputs``)."""
    if inputs is None:
        return {}
    if not isinstance(inputs, Mapping):
        raise InvalidInputError(
            f"inputs must be a JSON object (a dict), got {type(inputs).__name__}", field="inputs"
        )
    try:
        value = json_value(dict(inputs), what="inputs")
    except ValueError as exc:
        raise InvalidInputError(str(exc), field="inputs") from None
    return dict(value)


@lru_cache(maxsize=1024)
def _query(expression: str) -> jsonpath_rfc9535.JSONPathQuery:
    return jsonpath_rfc9535.compile(expression)


def missing_required_inputs(steps: Sequence[SkillStep], inputs: Mapping[str, Any]) -> list[str]:
    """One message per required ``$.input`` path (see the module docstring) that selects nothing."""
    data = {"input": dict(inputs)}
    missing: list[str] = []
    for step in steps:
        if step.condition and step.condition.strip():
            continue
        for param, path in step.input_mapping.items():
            if compile_path(path).root_key() != "input":
                continue
            # find_one, not CompiledPath.first: an input that is present but null is still present.
            if _query(path).find_one(data) is None:
                missing.append(
                    f"step {step.step_id!r} inputMapping.{param}: {path} selects nothing in the inputs"
                )
    return missing


def map_inputs(step: SkillStep, context: Mapping[str, Any]) -> dict[str, Any]:
    """The tool's parameters: each ``inputMapping`` path's first match in the context, or ``None``."""
    return {param: compile_path(path).first(context) for param, path in step.input_mapping.items()}


def map_output(step: SkillStep, output: Any) -> Any:
    """The step's output as stored in the context: ``outputMapping``'s first match, or the raw output."""
    if not step.output_mapping:
        return output
    return compile_path(step.output_mapping).first(output)


def step_record(
    step: SkillStep,
    *,
    success: bool,
    output: Any = None,
    error: str | None = None,
    skipped: bool = False,
    attempts: int = 0,
    execution_time_ms: float = 0.0,
) -> dict[str, Any]:
    """A step's checkpoint as stored in ``steps_executed`` (the app's shape; ``output`` xor ``error``)."""
    record: dict[str, Any] = {
        "stepId": step.step_id,
        "toolName": step.tool_name,
        "success": success,
        "skipped": skipped,
        "attempts": attempts,
        "execution_time_ms": round(execution_time_ms, 3),
    }
    if success:
        record["output"] = output
    else:
        record["error"] = error
    return record


def rebuild_context(inputs: Mapping[str, Any], records: Iterable[StepRecord]) -> dict[str, Any]:
    """The context as it stood after the checkpointed ``records`` (what a resumed run starts from)."""
    context: dict[str, Any] = {"input": dict(inputs)}
    for record in records:
        context[record.step_id] = record.output if record.success and not record.skipped else None
    return context


def final_output(records: Iterable[Mapping[str, Any]]) -> Any:
    """The output of the last step that ran and succeeded, or ``None``."""
    result: Any = None
    for record in records:
        if record.get("success") and not record.get("skipped"):
            result = record.get("output")
    return result


def backoff_delay(attempt: int, base: float, *, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): exponential, jittered, capped.

    ``base * 2**(attempt-1)``, scaled by a random factor in [0.5, 1) (equal jitter, see
    :func:`phase3_sdk.retry.backoff_delay`) so that runs failing together do not retry in lockstep, and
    never more than :data:`MAX_BACKOFF_SECONDS`. The cap applies after the jitter, as it always has.
    """
    return min(MAX_BACKOFF_SECONDS, retry_backoff_delay(attempt, base=base, cap=math.inf, rand=rand))


def usage_entry(
    run: ToolRun,
    params: Mapping[str, Any],
    *,
    user_id: UUID | None,
    execution_id: UUID | None,
) -> dict[str, Any]:
    """A ``custom_tool_usage`` row for ``log_tool_calls`` (JSON-ready: ids as strings)."""
    return {
        "id": str(run.usage_id) if run.usage_id else None,
        "custom_tool_id": str(run.custom_tool_id) if run.custom_tool_id else None,
        "tool_name": run.tool_name,
        "user_id": str(user_id) if user_id else None,
        "input_params": dict(params),
        "output_result": run.output if run.status == "success" else None,
        "status": run.status,
        "error_message": run.error,
        "execution_time_ms": run.execution_time_ms,
        "memory_used_mb": run.memory_used_mb,
        "skill_execution_id": str(execution_id) if execution_id else None,
    }


# -- one execution as the executor drives it (pure state; the I/O is _async/engine/executor.py) ------


def owner_token() -> str:
    """Names the process holding a lease, for people reading the row; unique per run."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


@dataclass
class SkillRun:
    """The state of one execution while this process drives it."""

    execution: SkillExecution
    steps: list[SkillStep]
    tools: dict[str, ResolvedTool]
    context: dict[str, Any]
    owner: str
    timeout: float | None
    records: list[dict[str, Any]] = field(default_factory=list)
    base_ms: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    @property
    def deadline(self) -> float | None:
        """When (``time.perf_counter()``) the execution's time budget runs out (``None``: no budget)."""
        return None if self.timeout is None else self.started + self.timeout

    def remaining(self) -> float | None:
        """Seconds left of the execution's time budget (``None``: no budget)."""
        return None if self.timeout is None else self.started + self.timeout - time.perf_counter()


@dataclass
class StepResult:
    """What one step left: its record, the tool calls it logged, its output, whether it timed out."""

    record: dict[str, Any]
    usage: list[dict[str, Any]]
    value: Any
    timed_out: bool = False


def check_timeout(timeout: float | None) -> None:
    """InvalidInputError unless ``timeout`` is None or a positive number of seconds."""
    if timeout is not None and not timeout > 0:
        raise InvalidInputError(
            f"timeout must be a positive number of seconds, got {timeout!r}", field="timeout"
        )


def first_execution(rows: Any) -> SkillExecution | None:
    """The execution in the first row a function or query returned, if any."""
    if not rows:
        return None
    return SkillExecution.model_validate(rows[0])
