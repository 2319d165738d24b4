"""The filters each resource's ``list``, ``page`` and ``count`` take, as TypedDicts (import them from here).

Every filter is optional and they combine with AND. Time windows are ``since`` (inclusive,
``>= since``) and ``until`` (exclusive, ``< until``), so consecutive windows never overlap nor leave a gap.
``created_after`` (strict, ``> value``) and ``created_before`` (``< value``) are the deprecated 0.1
spellings on tools, skills and synthesis jobs; they keep their meaning and warn.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from typing_extensions import TypedDict

from .models import (
    ExecutionStatus,
    JobStatus,
    Priority,
    RecommendationStatus,
    SalienceTier,
    SandboxProfile,
    SynthesisType,
    ToolStatus,
    Visibility,
)

#: Deprecated filter -> what replaces it (and how the meaning differs).
DEPRECATED_FILTERS: dict[str, tuple[str, str]] = {
    "created_after": ("since", "since is inclusive: created_at >= since; created_after was strict"),
    "created_before": ("until", "the same bound: created_at < until"),
}


class ConversationFilters(TypedDict, total=False):
    """Filters of ``conversations.list``/``page``/``count``."""

    instance_key: str
    primary_emotion: str
    salience_tier: SalienceTier
    topic: str
    is_deleted: bool
    user_marked_important: bool
    since: datetime
    until: datetime


class ToolFilters(TypedDict, total=False):
    """Filters of ``tools.list``/``page``/``count``."""

    name: str
    enabled: bool
    visibility: Visibility
    sandbox_profile: SandboxProfile
    tag: str
    user_id: UUID
    since: datetime
    until: datetime
    #: Deprecated: use ``since`` (inclusive).
    created_after: datetime
    #: Deprecated: use ``until``.
    created_before: datetime


class ToolUsageFilters(TypedDict, total=False):
    """Filters of ``tool_usage.list``/``page``/``count`` (``since``/``until`` bound ``timestamp``)."""

    custom_tool_id: UUID
    tool_name: str
    status: ToolStatus
    skill_execution_id: UUID
    since: datetime
    until: datetime


class SkillFilters(TypedDict, total=False):
    """Filters of ``skills.list``/``page``/``count``."""

    name: str
    enabled: bool
    visibility: Visibility
    tag: str
    user_id: UUID
    since: datetime
    until: datetime
    #: Deprecated: use ``since`` (inclusive).
    created_after: datetime
    #: Deprecated: use ``until``.
    created_before: datetime


class SkillExecutionFilters(TypedDict, total=False):
    """Filters of ``skill_executions.list``/``page``/``count``."""

    composite_skill_id: UUID
    status: ExecutionStatus
    since: datetime
    until: datetime


class JobFilters(TypedDict, total=False):
    """Filters of ``synthesis.list``/``page``/``count``."""

    synthesis_type: SynthesisType
    status: JobStatus
    is_recurring: bool
    since: datetime
    until: datetime
    #: Deprecated: use ``since`` (inclusive).
    created_after: datetime
    #: Deprecated: use ``until``.
    created_before: datetime


class PatternFilters(TypedDict, total=False):
    """Filters of ``patterns.list``/``page``/``count``."""

    layer: int
    pattern_type: str
    min_confidence: float
    user_confirmed: bool
    source_job_id: UUID
    observed_since: datetime


class RecommendationFilters(TypedDict, total=False):
    """Filters of ``recommendations.list``/``page``/``count``."""

    status: RecommendationStatus
    priority: Priority
    category: str
    pattern_id: UUID


__all__ = [
    "ConversationFilters",
    "JobFilters",
    "PatternFilters",
    "RecommendationFilters",
    "SkillExecutionFilters",
    "SkillFilters",
    "ToolFilters",
    "ToolUsageFilters",
]
