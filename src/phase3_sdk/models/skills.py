"""Composite skills and their executions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from ._base import PayloadModel, RowModel
from ._update import UpdateModel
from .tools import Visibility

ExecutionStatus = Literal["running", "completed", "failed", "cancelled"]


class Skill(RowModel):
    """A ``composite_skills`` row. ``steps`` is the JSON the app stores (see ``phase3_sdk.engine``)."""

    id: UUID
    user_id: UUID
    name: str
    description: str = ""
    steps: list[dict[str, Any]] = Field(default_factory=list)
    version: str = "1.0.0"
    tags: list[str] = Field(default_factory=list)
    icon: str | None = None
    execution_count: int = 0
    last_executed: datetime | None = None
    is_enabled: bool = True
    visibility: Visibility = "private"
    created_at: datetime
    updated_at: datetime


class SkillCreate(PayloadModel):
    """Fields of a new skill; its steps are validated as a whole before anything is sent."""

    name: str = Field(min_length=1, max_length=100)
    description: str = ""
    steps: list[dict[str, Any]]
    version: str = "1.0.0"
    tags: list[str] = Field(default_factory=list)
    icon: str | None = None
    is_enabled: bool = True
    visibility: Visibility = "private"


class SkillUpdate(UpdateModel):
    """Fields to change on a skill."""

    nullable = frozenset({"icon"})

    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = None
    steps: list[dict[str, Any]] | None = None
    version: str | None = None
    tags: list[str] | None = None
    icon: str | None = None
    is_enabled: bool | None = None
    visibility: Visibility | None = None


class StepRecord(RowModel):
    """The checkpoint of one step in ``steps_executed``, as the app stores it (camelCase ids)."""

    step_id: str = Field(alias="stepId")
    tool_name: str | None = Field(default=None, alias="toolName")
    success: bool
    skipped: bool = False
    output: Any = None
    error: str | None = None
    attempts: int = 0
    execution_time_ms: float = 0.0


class SkillExecution(RowModel):
    """A ``composite_skill_executions`` row: one run of a skill, checkpointed as it goes."""

    id: UUID
    composite_skill_id: UUID
    user_id: UUID
    input_params: dict[str, Any] = Field(default_factory=dict)
    steps_executed: list[StepRecord] = Field(default_factory=list)
    final_output: Any = None
    status: ExecutionStatus
    error_message: str | None = None
    execution_time_ms: float | None = None
    steps_completed: int = 0
    total_steps: int = 0
    created_at: datetime
    skill_snapshot: list[dict[str, Any]] | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    cancel_requested: bool = False
    finished_at: datetime | None = None
    updated_at: datetime | None = None
