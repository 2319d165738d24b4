"""Custom tools and their usage log."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from ._base import PayloadModel, RowModel
from ._update import UpdateModel

Visibility = Literal["private", "public"]
SandboxProfile = Literal["strict", "standard", "permissive"]
ToolStatus = Literal["success", "failure", "timeout"]

ToolName = Field(min_length=1, max_length=100)


class Tool(RowModel):
    """A ``custom_tools`` row: a JavaScript function body run in the sandbox."""

    id: UUID
    user_id: UUID
    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)
    code: str
    signature: str | None = None
    capabilities: list[str] = Field(default_factory=list)
    sandbox_profile: SandboxProfile = "standard"
    version: str = "1.0.0"
    tags: list[str] = Field(default_factory=list)
    icon: str | None = None
    usage_count: int = 0
    last_used: datetime | None = None
    is_enabled: bool = True
    visibility: Visibility = "private"
    clone_source_id: UUID | None = None
    created_at: datetime
    updated_at: datetime


class ToolCreate(PayloadModel):
    """Fields of a new tool. ``code`` is the body of a JS function that sees ``params`` and ``log``."""

    name: str = ToolName
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)
    code: str = Field(min_length=1)
    signature: str | None = None
    capabilities: list[str] = Field(default_factory=list)
    sandbox_profile: SandboxProfile = "standard"
    version: str = "1.0.0"
    tags: list[str] = Field(default_factory=list)
    icon: str | None = None
    is_enabled: bool = True
    visibility: Visibility = "private"
    clone_source_id: UUID | None = None


class ToolUpdate(UpdateModel):
    """Fields to change on a tool; only the ones given are sent."""

    nullable = frozenset({"signature", "icon", "clone_source_id"})

    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    code: str | None = Field(default=None, min_length=1)
    signature: str | None = None
    capabilities: list[str] | None = None
    sandbox_profile: SandboxProfile | None = None
    version: str | None = None
    tags: list[str] | None = None
    icon: str | None = None
    is_enabled: bool | None = None
    visibility: Visibility | None = None
    clone_source_id: UUID | None = None


class ToolUsage(RowModel):
    """A ``custom_tool_usage`` row: one logged tool call."""

    id: UUID
    custom_tool_id: UUID | None = None
    tool_name: str | None = None
    user_id: UUID
    input_params: Any = None
    output_result: Any = None
    status: ToolStatus
    error_message: str | None = None
    execution_time_ms: float | None = None
    memory_used_mb: float | None = None
    timestamp: datetime
    skill_execution_id: UUID | None = None


class ToolUsageCreate(PayloadModel):
    """A tool call to log."""

    custom_tool_id: UUID | None = None
    tool_name: str | None = None
    input_params: Any = Field(default_factory=dict)
    output_result: Any = None
    status: ToolStatus
    error_message: str | None = None
    execution_time_ms: float | None = Field(default=None, ge=0)
    memory_used_mb: float | None = Field(default=None, ge=0)
    skill_execution_id: UUID | None = None
