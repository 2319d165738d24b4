"""``client.tools`` and ``client.tool_usage``."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, ClassVar

from typing_extensions import TypedDict, Unpack
from uuid import UUID

from ...models import SandboxProfile, Tool, ToolCreate, ToolStatus, ToolUpdate, ToolUsage, ToolUsageCreate, Visibility
from ...resources.query import DEFAULT_PAGE_SIZE, FilterSpec, Page
from ...resources.tables import TOOL_USAGE, TOOLS
from ...engine.registry import ToolRegistry
from ..transport import AsyncTransport
from ._base import AsyncTableResource, validate_payload


class ToolFilters(TypedDict, total=False):
    """Filters of ``tools.list``/``page``/``count``; each is optional and they combine with AND."""

    name: str
    enabled: bool
    visibility: Visibility
    sandbox_profile: SandboxProfile
    tag: str
    user_id: UUID
    created_after: datetime
    created_before: datetime


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
        "created_after": FilterSpec("created_at", "gt"),
        "created_before": FilterSpec("created_at", "lt"),
    }

    def __init__(self, transport: AsyncTransport, registry: ToolRegistry) -> None:
        super().__init__(transport)
        self._registry = registry

    async def create(self, *, user_id: UUID | str | None = None, **fields: Any) -> Tool:
        """Create a tool (fields of :class:`~phase3_sdk.models.ToolCreate`); it belongs to the client's user."""
        return await self._create(ToolCreate, fields, user_id)

    async def update(self, id: UUID | str, **fields: Any) -> Tool:
        """Change the given fields (of :class:`~phase3_sdk.models.ToolUpdate`) of one of your tools."""
        return await self._update(id, ToolUpdate, fields)

    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        **filters: Unpack[ToolFilters],
    ) -> AsyncIterator[Tool]:
        """Every visible tool matching the filters, fetched page by page as you iterate.

        ``order`` is a column, ``-`` first for descending: created_at, updated_at, name, usage_count.
        """
        return self._list(filters, order=order, page_size=page_size, limit=limit)

    async def page(
        self, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None, *, order: str | None = None,
        **filters: Unpack[ToolFilters],
    ) -> Page[Tool]:
        """One page of tools; pass ``page.next_cursor`` to get the next."""
        return await self._page(filters, limit=limit, cursor=cursor, order=order)

    async def count(self, **filters: Unpack[ToolFilters]) -> int:
        """How many visible tools match the filters."""
        return await self._count(filters)


class ToolUsageFilters(TypedDict, total=False):
    """Filters of ``tool_usage.list``/``page``/``count``."""

    custom_tool_id: UUID
    tool_name: str
    status: ToolStatus
    skill_execution_id: UUID
    since: datetime
    until: datetime


class AsyncToolUsageLog(AsyncTableResource[ToolUsage]):
    """The log of tool calls (one row per call, written by ``tools.run`` and the skill engine)."""

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
        payloads = [validate_payload(ToolUsageCreate, e, what=f"tool_usage[{i}]") for i, e in enumerate(entries)]
        return await self._insert(payloads, user_id=user_id)

    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        **filters: Unpack[ToolUsageFilters],
    ) -> AsyncIterator[ToolUsage]:
        """Logged calls matching the filters, newest first by default."""
        return self._list(filters, order=order, page_size=page_size, limit=limit)

    async def page(
        self, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None, *, order: str | None = None,
        **filters: Unpack[ToolUsageFilters],
    ) -> Page[ToolUsage]:
        """One page of logged calls."""
        return await self._page(filters, limit=limit, cursor=cursor, order=order)

    async def count(self, **filters: Unpack[ToolUsageFilters]) -> int:
        """How many logged calls match the filters."""
        return await self._count(filters)
