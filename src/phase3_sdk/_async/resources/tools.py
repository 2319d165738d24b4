"""``client.tools`` and ``client.tool_usage``."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar, overload
from uuid import UUID

from typing_extensions import Unpack

from ..._deprecation import warn_deprecated
from ..._flavour import async_run_blocking
from ..._rows_display import AsyncRows
from ...engine.registry import Handler, ToolRegistry
from ...engine.runs import RegisteredHandler, ToolRun, check_inputs, usage_entry
from ...errors import InvalidInputError, NotFoundError
from ...filters import ToolFilters, ToolUsageFilters
from ...models import (
    Tool,
    ToolCreate,
    ToolUpdate,
    ToolUsage,
    ToolUsageCreate,
)
from ...models._base import as_uuid, validate_payload
from ...schema.query import DEFAULT_PAGE_SIZE, FilterSpec, Page
from ...schema.tables import TOOL_USAGE, TOOLS
from ..transport import AsyncTransport
from ._base import AsyncTableResource

H = TypeVar("H", bound=Handler)


async def _check_code(code: Any) -> None:
    """Refuse a tool body that does not compile, before anything is written.

    A tool that cannot compile would otherwise be stored and then fail every run (and every skill
    using it) at run time, far from the mistake.
    """
    if not isinstance(code, str) or not code.strip():
        return  # not text: the payload model names the problem
    from ...engine.supervisor import check_js_syntax

    error = await async_run_blocking(check_js_syntax, code)
    if error is not None:
        raise InvalidInputError(
            f"code is not valid JavaScript: {error}",
            field="code",
            code="invalid_javascript",
            hint="code is the body of an async function that sees params and log (e.g. 'return params.x;')",
        )


class AsyncTools(AsyncTableResource[Tool]):
    """Custom tools: JavaScript function bodies run in a sandbox."""

    table = TOOLS
    filter_type = ToolFilters
    filters: ClassVar = {
        "name": FilterSpec("name", "eq"),
        "enabled": FilterSpec("is_enabled", "eq"),
        "visibility": FilterSpec("visibility", "eq"),
        "sandbox_profile": FilterSpec("sandbox_profile", "eq"),
        "tag": FilterSpec("tags", "cs"),
        "user_id": FilterSpec("user_id", "eq"),
        "since": FilterSpec("created_at", "gte"),
        "until": FilterSpec("created_at", "lt"),
        "created_after": FilterSpec("created_at", "gt"),  # deprecated: since
        "created_before": FilterSpec("created_at", "lt"),  # deprecated: until
    }

    def __init__(self, transport: AsyncTransport, registry: ToolRegistry) -> None:
        super().__init__(transport)
        self._registry = registry

    async def create(self, *, user_id: UUID | str | None = None, **fields: Any) -> Tool:
        """Create a tool (fields of :class:`~phase3_sdk.models.ToolCreate`), owned by the client's user.

        ``code`` is compiled (not run) in the sandbox first: a body that is not valid JavaScript raises
        :class:`InvalidInputError` (``field="code"``) naming the syntax error and its line and column, and
        nothing is stored.
        """
        await _check_code(fields.get("code"))
        return await self._create(ToolCreate, fields, user_id)

    async def update(self, id: UUID | str, **fields: Any) -> Tool:
        """Change the given fields (of :class:`~phase3_sdk.models.ToolUpdate`) of one of your tools.

        New ``code`` is compiled first, as in :meth:`create`.
        """
        await _check_code(fields.get("code"))
        return await self._update(id, ToolUpdate, fields)

    @overload
    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        columns: None = None,
        **filters: Unpack[ToolFilters],
    ) -> AsyncRows[Tool]: ...
    @overload
    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        columns: Sequence[str],
        **filters: Unpack[ToolFilters],
    ) -> AsyncRows[dict[str, Any]]: ...
    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        columns: Sequence[str] | None = None,
        **filters: Unpack[ToolFilters],
    ) -> AsyncRows[Tool] | AsyncRows[dict[str, Any]]:
        """Every visible tool matching the filters, fetched page by page as you iterate.

        ``order`` is a column, ``-`` first for descending: created_at, updated_at, name, usage_count.

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
        **filters: Unpack[ToolFilters],
    ) -> Page[Tool]:
        """One page of tools; pass ``page.next_cursor`` to get the next."""
        return await self._page(filters, page_size=page_size, limit=limit, cursor=cursor, order=order)

    async def count(self, **filters: Unpack[ToolFilters]) -> int:
        """How many visible tools match the filters."""
        return await self._count(filters)

    # -- Python handlers and single runs -----------------------------------------------------------

    def handler(self, name: str, *, timeout: float | None = None, replace: bool = False) -> Callable[[H], H]:
        """Decorator registering a Python tool under ``name`` (found before any ``custom_tools`` row).

        The function takes the mapped parameters (a dict) and returns a JSON value; it may be ``async def``.
        ``timeout`` (seconds) ends a call that runs longer as ``timeout`` (an async handler is cancelled; a
        plain function is abandoned to finish in its worker thread). The registry is shared by every client
        derived from the same root client, so register once at start-up. Returns the function unchanged.
        """

        def decorate(fn: H) -> H:
            self.register(name, fn, timeout=timeout, replace=replace)
            return fn

        return decorate

    def register(
        self, name: str, fn: Handler, *, timeout: float | None = None, replace: bool = False
    ) -> None:
        """Register ``fn`` as the tool ``name`` (the non-decorator form of :meth:`handler`)."""
        if timeout is not None and not (isinstance(timeout, int | float) and timeout > 0):
            raise InvalidInputError(
                f"timeout must be a positive number of seconds, got {timeout!r}", field="timeout"
            )
        if not callable(fn):
            raise InvalidInputError(f"the handler for {name!r} is not callable", field="handler")
        current = self._registry.get(name)
        if isinstance(current, RegisteredHandler) and current.fn is fn and current.timeout == timeout:
            return  # registering the same function again (a re-imported module) is a no-op
        self._registry.register(name, RegisteredHandler(fn, timeout), replace=replace)

    def unregister(self, name: str) -> None:
        """Forget the Python handler named ``name`` (no error if there is none)."""
        self._registry.unregister(name)

    async def run(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - a run's time budget, recorded in its result
        user_id: UUID | str | None = None,
    ) -> ToolRun:
        """Deprecated (use :meth:`execute`, the verb ``skills.execute`` uses too): call one tool by name."""
        warn_deprecated("tools.run()", "tools.execute()")
        return await self.execute(name, params, timeout=timeout, user_id=user_id)

    async def execute(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - a run's time budget, recorded in its result
        user_id: UUID | str | None = None,
    ) -> ToolRun:
        """Call one tool by name and log the call in ``custom_tool_usage``; returns a :class:`ToolRun`.

        Resolution: a registered Python handler, else your own enabled custom tool with that name, else
        the oldest enabled public one (:class:`NotFoundError` if none). A fault of the tool (exception, throw,
        time or memory limit) is a ``failure``/``timeout`` run, never an exception. ``timeout`` caps this
        call below the tool's own limit. Acting as the service role, ``user_id`` says whose call it is
        (default: the tool row's owner; required for a Python handler).
        """
        from ..engine.store import AsyncExecutionStore
        from ..engine.tools import AsyncToolRunner

        if not isinstance(name, str) or not name:
            raise InvalidInputError("a tool name is required", field="name")
        values = check_inputs(params)
        if timeout is not None and not timeout > 0:
            raise InvalidInputError(
                f"timeout must be a positive number of seconds, got {timeout!r}", field="timeout"
            )
        mine = self._transport.identity.user_id
        who = None if user_id is None else as_uuid(user_id, "user_id")
        if mine is not None and who is not None and who != mine:
            raise InvalidInputError(
                "a user-scoped client can only run tools as its own user", field="user_id"
            )
        runner = AsyncToolRunner(self._transport, self._registry)
        resolved = (await runner.resolve([name], mine or who)).get(name)
        if resolved is None:
            raise NotFoundError(
                f"no tool named {name!r}: no Python handler is registered and no enabled custom tool "
                "with that name is visible to this client",
                code="tool_not_found",
            )
        if mine is None and who is None:
            if resolved.row is None:
                raise InvalidInputError(
                    "user_id is required to log a Python handler's call as the service role", field="user_id"
                )
            who = resolved.row.user_id
        result = await runner.invoke(resolved, values, timeout=timeout)
        entry = usage_entry(result, values, user_id=None if mine is not None else who, execution_id=None)
        await AsyncExecutionStore(self._transport).log_calls([entry])
        return result


class AsyncToolUsageLog(AsyncTableResource[ToolUsage]):
    """The log of tool calls (one row per call, written by ``tools.execute`` and the skill engine)."""

    table = TOOL_USAGE
    filter_type = ToolUsageFilters
    filters: ClassVar = {
        "custom_tool_id": FilterSpec("custom_tool_id", "eq"),
        "tool_name": FilterSpec("tool_name", "eq"),
        "status": FilterSpec("status", "eq"),
        "skill_execution_id": FilterSpec("skill_execution_id", "eq"),
        "since": FilterSpec("timestamp", "gte"),
        "until": FilterSpec("timestamp", "lt"),
    }

    async def create(self, *, user_id: UUID | str | None = None, **fields: Any) -> ToolUsage:
        """Log a tool call (fields of :class:`~phase3_sdk.models.ToolUsageCreate`)."""
        return await self._create(ToolUsageCreate, fields, user_id)

    async def create_many(
        self, entries: builtins.list[dict[str, Any]], *, user_id: UUID | str | None = None
    ) -> builtins.list[ToolUsage]:
        """Log several calls in one request."""
        payloads = [
            validate_payload(ToolUsageCreate, e, what=f"tool_usage[{i}]") for i, e in enumerate(entries)
        ]
        return await self._insert(payloads, user_id=user_id)

    @overload
    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        columns: None = None,
        **filters: Unpack[ToolUsageFilters],
    ) -> AsyncRows[ToolUsage]: ...
    @overload
    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        columns: Sequence[str],
        **filters: Unpack[ToolUsageFilters],
    ) -> AsyncRows[dict[str, Any]]: ...
    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        columns: Sequence[str] | None = None,
        **filters: Unpack[ToolUsageFilters],
    ) -> AsyncRows[ToolUsage] | AsyncRows[dict[str, Any]]:
        """Logged calls matching the filters, newest first by default.

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
        **filters: Unpack[ToolUsageFilters],
    ) -> Page[ToolUsage]:
        """One page of logged calls."""
        return await self._page(filters, page_size=page_size, limit=limit, cursor=cursor, order=order)

    async def count(self, **filters: Unpack[ToolUsageFilters]) -> int:
        """How many logged calls match the filters."""
        return await self._count(filters)
