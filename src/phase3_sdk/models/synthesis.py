"""Memory synthesis jobs, the patterns they find and the recommendations made from them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field, model_validator

from ._base import IndexedText, PayloadModel, RowModel
from ._update import UpdateModel

SynthesisType = Literal[
    "emotional_patterns", "prospective_self", "relational_memory", "narrative_coherence", "full_synthesis"
]
JobStatus = Literal["pending", "running", "completed", "failed"]
Priority = Literal["low", "medium", "high"]
RecommendationStatus = Literal["pending", "acknowledged", "working_on", "completed"]


class SynthesisJob(RowModel):
    """A ``memory_synthesis_jobs`` row."""

    id: UUID
    user_id: UUID
    synthesis_type: SynthesisType
    time_range_start: datetime | None = None
    time_range_end: datetime | None = None
    status: JobStatus
    progress: float = 0.0
    error_message: str | None = None
    insights: dict[str, Any] | None = None
    memories_analyzed: int = 0
    patterns_detected: int = 0
    is_recurring: bool = False
    cron_schedule: str | None = None
    last_run: datetime | None = None
    next_run: datetime | None = None
    created_at: datetime
    updated_at: datetime
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    attempts: int = 0
    max_attempts: int = 3


class SynthesisJobCreate(PayloadModel):
    """A job to queue."""

    synthesis_type: SynthesisType
    time_range_start: datetime | None = None
    time_range_end: datetime | None = None
    is_recurring: bool = False
    cron_schedule: str | None = None
    next_run: datetime | None = None
    max_attempts: int = Field(default=3, ge=1, le=100)

    @model_validator(mode="after")
    def _consistent(self) -> SynthesisJobCreate:
        if self.time_range_start and self.time_range_end and self.time_range_start > self.time_range_end:
            raise ValueError("time_range_start must not be after time_range_end")
        if self.is_recurring and not self.cron_schedule:
            raise ValueError("a recurring job needs a cron_schedule")
        return self


class Pattern(RowModel):
    """A ``memory_patterns`` row: something synthesis found, with its evidence."""

    id: UUID
    user_id: UUID
    pattern_type: str
    layer: int = Field(ge=1, le=7)
    description: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    confidence: float
    first_detected: datetime
    last_observed: datetime
    observation_count: int = 1
    user_confirmed: bool = False
    user_notes: str | None = None
    created_at: datetime
    updated_at: datetime
    pattern_key: str | None = None
    source_job_id: UUID | None = None


class PatternCreate(PayloadModel):
    """A pattern to store."""

    pattern_type: str = Field(min_length=1)
    layer: int = Field(ge=1, le=7)
    description: str = Field(min_length=1)
    evidence: dict[str, Any] = Field(default_factory=dict)
    confidence: float = Field(ge=0, le=1)
    # Unique per user (memory_patterns_user_key): a btree index, so a key over ~2.7 KB cannot be stored.
    pattern_key: IndexedText | None = None
    first_detected: datetime | None = None
    last_observed: datetime | None = None
    observation_count: int = Field(default=1, ge=1)
    source_job_id: UUID | None = None


class PatternUpdate(UpdateModel):
    """Fields to change on a pattern."""

    nullable = frozenset({"user_notes", "source_job_id"})

    description: str | None = Field(default=None, min_length=1)
    evidence: dict[str, Any] | None = None
    confidence: float | None = Field(default=None, ge=0, le=1)
    last_observed: datetime | None = None
    observation_count: int | None = Field(default=None, ge=1)
    user_confirmed: bool | None = None
    user_notes: str | None = None
    source_job_id: UUID | None = None


class Recommendation(RowModel):
    """A ``synthesis_recommendations`` row."""

    id: UUID
    user_id: UUID
    pattern_id: UUID | None = None
    recommendation: str
    category: str
    priority: Priority = "medium"
    status: RecommendationStatus = "pending"
    created_at: datetime
    updated_at: datetime


class RecommendationCreate(PayloadModel):
    """A recommendation to store."""

    pattern_id: UUID | None = None
    recommendation: str = Field(min_length=1)
    category: str = Field(min_length=1)
    priority: Priority = "medium"
    status: RecommendationStatus = "pending"


class RecommendationUpdate(UpdateModel):
    """Fields to change on a recommendation."""

    recommendation: str | None = Field(default=None, min_length=1)
    category: str | None = Field(default=None, min_length=1)
    priority: Priority | None = None
    status: RecommendationStatus | None = None
