"""Running one tool: resolve its name, call it (Python handler or QuickJS), report a :class:`ToolRun`.

Resolution order, per name: a Python handler registered in this process, else the owner's own enabled
``custom_tools`` row with that name, else the oldest enabled public row. All names a skill needs are
resolved with one query when they are the owner's own, two when some are public (reads that stay correct
when the server cuts them at max-rows).
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

from ..._flavour import AsyncHandlerCaller, HandlerTimeout, async_run_blocking
from ...backends.base import Filter, Order, Query
from ...engine.registry import ToolRegistry
from ...engine.runs import ResolvedTool, ToolRun, json_value, pick_tool, unwrap_handler
from ...engine.sandbox import PROFILES
from ...engine.supervisor import run_js_tool
from ...errors import ToolTimeoutError
from ...models import Tool
from ...schema.tables import TOOLS
from ..transport import AsyncTransport


class AsyncToolRunner:
    """Resolves and calls tools for one transport (identity); logging is the caller's business."""

    __slots__ = ("_registry", "_transport")

    def __init__(self, transport: AsyncTransport, registry: ToolRegistry) -> None:
        self._transport = transport
        self._registry = registry

    def _from_registry(self, name: str) -> ResolvedTool | None:
        handler = self._registry.get(name)
        if handler is None:
            return None
        fn, timeout = unwrap_handler(handler)
        return ResolvedTool(name, handler=fn, timeout=timeout)

    async def resolve(self, names: Iterable[str], owner: UUID | None) -> dict[str, ResolvedTool]:
        """Every name that resolves, with one query for those that are not Python handlers.

        ``owner`` is whose "own" tools count (the client's user; for the service role, the user the
        work is done for). Names that resolve to nothing are left out of the result.
        """
        found: dict[str, ResolvedTool] = {}
        wanted: list[str] = []
        for name in dict.fromkeys(names):
            resolved = self._from_registry(name)
            if resolved is not None:
                found[name] = resolved
            else:
                wanted.append(name)
        if wanted:
            tools = await self._rows_for(wanted, owner)
            for name in wanted:
                row = pick_tool(tools, name, owner)
                if row is not None:
                    found[name] = ResolvedTool(name, row=row)
        return found

    async def _rows_for(self, names: list[str], owner: UUID | None) -> list[Tool]:
        """The owner's enabled tools with these names, and the oldest enabled public one of each other name.

        Every read may be cut at the server's max-rows (PostgREST answers 200 with the first max-rows rows),
        and public tools sharing a popular name can be more than that, so no read here depends on getting
        every row: the owner's tools are one per name (unique (user_id, name)), and the public ones come
        ordered by name, then age, so that each name's oldest comes first; names a cut answer left out are
        asked for again.
        """
        enabled = Filter("is_enabled", "eq", value=True)
        tools: list[Tool] = []
        if owner is not None:
            rows = await self._transport.select(
                Query(
                    TOOLS.name,
                    TOOLS.light_columns,
                    (Filter("name", "in", names), enabled, Filter("user_id", "eq", owner)),
                )
            )
            tools = [Tool.model_validate(r) for r in rows]
        missing = [n for n in names if n not in {t.name for t in tools}]
        oldest_first = (Order("name"), Order("created_at"), Order("id"))
        cap = self._transport.max_rows
        first_public: dict[str, Tool] = {}
        while missing:
            rows = await self._transport.select(
                Query(
                    TOOLS.name,
                    TOOLS.light_columns,
                    (Filter("name", "in", missing), enabled, Filter("visibility", "eq", "public")),
                    oldest_first,
                )
            )
            for row in rows:
                tool = Tool.model_validate(row)
                # Ordered by name, then age: a name's first row is its oldest, even in a cut answer.
                first_public.setdefault(tool.name, tool)
            if cap is None or len(rows) < cap:
                break  # the whole answer: the names still missing have no public tool
            missing = [n for n in missing if n not in first_public]
        tools += first_public.values()
        return tools

    async def invoke(
        self,
        tool: ResolvedTool,
        params: Mapping[str, Any],
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - a run's time budget, recorded in its result
    ) -> ToolRun:
        """Call the tool once. Never raises for a fault of the tool: it becomes a failure or timeout.

        ``timeout`` (seconds) caps the call further than the tool's own limit (a handler's timeout, a
        sandbox profile's time limit): the engine passes what is left of an execution's time budget.
        """
        usage_id = uuid.uuid4()
        if tool.row is not None:
            return await self._run_js(tool, tool.row, dict(params), timeout, usage_id)
        assert tool.handler is not None
        limit = (
            tool.timeout
            if timeout is None
            else (timeout if tool.timeout is None else min(timeout, tool.timeout))
        )
        started = time.perf_counter()

        def done(status: Any, output: Any = None, error: str | None = None) -> ToolRun:
            elapsed = round((time.perf_counter() - started) * 1000, 3)
            return ToolRun(tool.name, status, output, error, elapsed, usage_id=usage_id)

        try:
            result = await AsyncHandlerCaller.call(tool.handler, dict(params), limit)
        except HandlerTimeout as exc:
            return done(
                "timeout",
                error=ToolTimeoutError(str(exc), tool_name=tool.name, limit_seconds=limit).record_text(),
            )
        except Exception as exc:  # the handler's own fault: report it, never crash the run
            return done("failure", error=f"{type(exc).__name__}: {exc}")
        try:
            output = json_value(result, what="the handler's output")
        except ValueError as exc:
            return done("failure", error=str(exc))
        return done("success", output)

    async def _run_js(
        self,
        tool: ResolvedTool,
        row: Tool,
        params: dict[str, Any],
        timeout: float | None,  # noqa: ASYNC109 - a run's time budget, recorded in its result
        usage_id: UUID,
    ) -> ToolRun:
        limits = PROFILES[row.sandbox_profile]
        if timeout is not None and timeout * 1000 < limits.time_limit_ms:
            limits = dataclasses.replace(limits, time_limit_ms=max(timeout * 1000, 1.0))
        try:
            # A worker process runs the code (killed at ~1.5x the limit if a native call overruns it);
            # waiting for it blocks, so off the event loop in the async client, inline in the blocking one.
            outcome = await async_run_blocking(
                run_js_tool, row.code, params, row.sandbox_profile, limits=limits
            )
        except (TypeError, ValueError) as exc:  # params that are not JSON
            return ToolRun(
                tool.name,
                "failure",
                None,
                f"parameters are not JSON: {exc}",
                0.0,
                custom_tool_id=row.id,
                usage_id=usage_id,
            )
        error = outcome.error
        if outcome.status == "timeout":
            # Typed in the record: a timeout (the worker killed at the hard deadline or not) reads
            # "ToolTimeout: ...", which ToolTimeoutError.from_record turns back into the error.
            error = ToolTimeoutError(
                outcome.error or "time limit exceeded",
                tool_name=tool.name,
                limit_seconds=limits.time_limit_ms / 1000,
                killed=outcome.killed,
            ).record_text()
        elif error is not None and error.startswith(ToolTimeoutError.RECORD_PREFIX):
            # The tool threw an error named "ToolTimeout" itself: it must not read as a real timeout.
            error = "Uncaught " + error
        return ToolRun(
            tool.name,
            outcome.status,
            outcome.output,
            error,
            outcome.execution_time_ms,
            logs=outcome.logs,
            memory_used_mb=outcome.memory_used_mb,
            custom_tool_id=row.id,
            usage_id=usage_id,
        )
