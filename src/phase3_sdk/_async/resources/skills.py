"""``client.skills`` (definitions) and ``client.skill_executions`` (runs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, ClassVar

from typing_extensions import TypedDict, Unpack
from uuid import UUID

from ...models import ExecutionStatus, Skill, SkillCreate, SkillExecution, SkillUpdate, Visibility
from ...resources.query import DEFAULT_PAGE_SIZE, FilterSpec, Page
from ...resources.tables import SKILL_EXECUTIONS, SKILLS
from ...engine.registry import ToolRegistry
from ..transport import AsyncTransport
from ._base import AsyncTableResource


class SkillFilters(TypedDict, total=False):
    """Filters of ``skills.list``/``page``/``count``."""

    name: str
    enabled: bool
    visibility: Visibility
    tag: str
    user_id: UUID
    created_after: datetime
    created_before: datetime


class AsyncSkills(AsyncTableResource[Skill]):
    """Composite skills: stored, validated step lists, and their execution."""

    table = SKILLS
    filter_type = SkillFilters
    filters: ClassVar = {
        "name": FilterSpec("name", "eq"),
        "enabled": FilterSpec("is_enabled", "eq"),
        "visibility": FilterSpec("visibility", "eq"),
        "tag": FilterSpec("tags", "cs"),
        "user_id": FilterSpec("user_id", "eq"),
        "created_after": FilterSpec("created_at", "gt"),
        "created_before": FilterSpec("created_at", "lt"),
    }

    def __init__(self, transport: AsyncTransport, registry: ToolRegistry) -> None:
        super().__init__(transport)
        self._registry = registry

    def _check_steps(self, fields: dict[str, Any]) -> dict[str, Any]:
        # Imported here: the engine pulls in QuickJS, which plain CRUD users should not pay for at import.
        from ...engine.steps import parse_steps

        if "steps" in fields and fields["steps"] is not None:
            steps = parse_steps(fields["steps"])
            fields = {**fields, "steps": [s.model_dump(by_alias=True, exclude_none=True) for s in steps]}
        return fields

    async def create(self, *, user_id: UUID | str | None = None, **fields: Any) -> Skill:
        """Create a skill; every problem in its steps is reported at once, before anything is sent."""
        return await self._create(SkillCreate, self._check_steps(fields), user_id)

    async def update(self, id: UUID | str, **fields: Any) -> Skill:
        """Change the given fields of one of your skills (new steps are validated first)."""
        return await self._update(id, SkillUpdate, self._check_steps(fields))

    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        **filters: Unpack[SkillFilters],
    ) -> AsyncIterator[Skill]:
        """Every visible skill matching the filters (yours and public ones)."""
        return self._list(filters, order=order, page_size=page_size, limit=limit)

    async def page(
        self, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None, *, order: str | None = None,
        **filters: Unpack[SkillFilters],
    ) -> Page[Skill]:
        """One page of skills."""
        return await self._page(filters, limit=limit, cursor=cursor, order=order)

    async def count(self, **filters: Unpack[SkillFilters]) -> int:
        """How many visible skills match the filters."""
        return await self._count(filters)


class SkillExecutionFilters(TypedDict, total=False):
    """Filters of ``skill_executions.list``/``page``/``count``."""

    composite_skill_id: UUID
    status: ExecutionStatus
    since: datetime
    until: datetime


class AsyncSkillExecutions(AsyncTableResource[SkillExecution]):
    """The history of skill runs, each checkpointed step by step."""

    table = SKILL_EXECUTIONS
    filter_type = SkillExecutionFilters
    filters: ClassVar = {
        "composite_skill_id": FilterSpec("composite_skill_id", "eq"),
        "status": FilterSpec("status", "eq"),
        "since": FilterSpec("created_at", "gte"),
        "until": FilterSpec("created_at", "lt"),
    }

    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        **filters: Unpack[SkillExecutionFilters],
    ) -> AsyncIterator[SkillExecution]:
        """Runs matching the filters, newest first by default."""
        return self._list(filters, order=order, page_size=page_size, limit=limit)

    async def page(
        self, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None, *, order: str | None = None,
        **filters: Unpack[SkillExecutionFilters],
    ) -> Page[SkillExecution]:
        """One page of runs."""
        return await self._page(filters, limit=limit, cursor=cursor, order=order)

    async def count(self, **filters: Unpack[SkillExecutionFilters]) -> int:
        """How many runs match the filters."""
        return await self._count(filters)
