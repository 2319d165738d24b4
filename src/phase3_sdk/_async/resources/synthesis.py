"""``client.synthesis`` (jobs), ``client.patterns`` and ``client.recommendations``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, ClassVar

from typing_extensions import TypedDict, Unpack
from uuid import UUID

from ...models import (
    JobStatus,
    Pattern,
    PatternCreate,
    PatternUpdate,
    Priority,
    Recommendation,
    RecommendationCreate,
    RecommendationStatus,
    RecommendationUpdate,
    SynthesisJob,
    SynthesisJobCreate,
    SynthesisType,
)
from ...resources.query import DEFAULT_PAGE_SIZE, FilterSpec, Page
from ...resources.tables import PATTERNS, RECOMMENDATIONS, SYNTHESIS_JOBS
from ._base import AsyncTableResource, as_uuid


class JobFilters(TypedDict, total=False):
    """Filters of ``synthesis.list``/``page``/``count``."""

    synthesis_type: SynthesisType
    status: JobStatus
    is_recurring: bool
    created_after: datetime
    created_before: datetime


class AsyncSynthesisJobs(AsyncTableResource[SynthesisJob]):
    """Memory synthesis jobs: queued analyses of a user's memories."""

    table = SYNTHESIS_JOBS
    filter_type = JobFilters
    filters: ClassVar = {
        "synthesis_type": FilterSpec("synthesis_type", "eq"),
        "status": FilterSpec("status", "eq"),
        "is_recurring": FilterSpec("is_recurring", "eq"),
        "created_after": FilterSpec("created_at", "gt"),
        "created_before": FilterSpec("created_at", "lt"),
    }

    async def create(self, *, user_id: UUID | str | None = None, **fields: Any) -> SynthesisJob:
        """Queue a job from the fields of :class:`~phase3_sdk.models.SynthesisJobCreate`."""
        return await self._create(SynthesisJobCreate, fields, user_id)

    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        **filters: Unpack[JobFilters],
    ) -> AsyncIterator[SynthesisJob]:
        """Jobs matching the filters, newest first by default."""
        return self._list(filters, order=order, page_size=page_size, limit=limit)

    async def page(
        self, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None, *, order: str | None = None,
        **filters: Unpack[JobFilters],
    ) -> Page[SynthesisJob]:
        """One page of jobs."""
        return await self._page(filters, limit=limit, cursor=cursor, order=order)

    async def count(self, **filters: Unpack[JobFilters]) -> int:
        """How many jobs match the filters."""
        return await self._count(filters)


class PatternFilters(TypedDict, total=False):
    """Filters of ``patterns.list``/``page``/``count``."""

    layer: int
    pattern_type: str
    min_confidence: float
    user_confirmed: bool
    source_job_id: UUID
    observed_since: datetime


class AsyncPatterns(AsyncTableResource[Pattern]):
    """Patterns detected in a user's memories."""

    table = PATTERNS
    filter_type = PatternFilters
    filters: ClassVar = {
        "layer": FilterSpec("layer", "eq"),
        "pattern_type": FilterSpec("pattern_type", "eq"),
        "min_confidence": FilterSpec("confidence", "gte"),
        "user_confirmed": FilterSpec("user_confirmed", "eq"),
        "source_job_id": FilterSpec("source_job_id", "eq"),
        "observed_since": FilterSpec("last_observed", "gte"),
    }

    async def create(self, *, user_id: UUID | str | None = None, **fields: Any) -> Pattern:
        """Store a pattern (fields of :class:`~phase3_sdk.models.PatternCreate`)."""
        return await self._create(PatternCreate, fields, user_id)

    async def update(self, id: UUID | str, **fields: Any) -> Pattern:
        """Change the given fields of a pattern."""
        return await self._update(id, PatternUpdate, fields)

    async def confirm(self, id: UUID | str, *, notes: str | None = None, confirmed: bool = True) -> Pattern:
        """Mark a pattern as recognised by its user (synthesis never overwrites a confirmed pattern)."""
        fields: dict[str, Any] = {"user_confirmed": confirmed}
        if notes is not None:
            fields["user_notes"] = notes
        return await self._update(as_uuid(id), PatternUpdate, fields)

    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        **filters: Unpack[PatternFilters],
    ) -> AsyncIterator[Pattern]:
        """Patterns matching the filters (``min_confidence`` is inclusive)."""
        return self._list(filters, order=order, page_size=page_size, limit=limit)

    async def page(
        self, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None, *, order: str | None = None,
        **filters: Unpack[PatternFilters],
    ) -> Page[Pattern]:
        """One page of patterns."""
        return await self._page(filters, limit=limit, cursor=cursor, order=order)

    async def count(self, **filters: Unpack[PatternFilters]) -> int:
        """How many patterns match the filters."""
        return await self._count(filters)


class RecommendationFilters(TypedDict, total=False):
    """Filters of ``recommendations.list``/``page``/``count``."""

    status: RecommendationStatus
    priority: Priority
    category: str
    pattern_id: UUID


class AsyncRecommendations(AsyncTableResource[Recommendation]):
    """Recommendations derived from patterns, with a status the user moves along."""

    table = RECOMMENDATIONS
    filter_type = RecommendationFilters
    filters: ClassVar = {
        "status": FilterSpec("status", "eq"),
        "priority": FilterSpec("priority", "eq"),
        "category": FilterSpec("category", "eq"),
        "pattern_id": FilterSpec("pattern_id", "eq"),
    }

    async def create(self, *, user_id: UUID | str | None = None, **fields: Any) -> Recommendation:
        """Store a recommendation (fields of :class:`~phase3_sdk.models.RecommendationCreate`)."""
        return await self._create(RecommendationCreate, fields, user_id)

    async def update(self, id: UUID | str, **fields: Any) -> Recommendation:
        """Change the given fields of a recommendation."""
        return await self._update(id, RecommendationUpdate, fields)

    async def update_status(self, id: UUID | str, status: RecommendationStatus) -> Recommendation:
        """Move a recommendation along pending -> acknowledged -> working_on -> completed."""
        return await self._update(id, RecommendationUpdate, {"status": status})

    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        **filters: Unpack[RecommendationFilters],
    ) -> AsyncIterator[Recommendation]:
        """Recommendations matching the filters."""
        return self._list(filters, order=order, page_size=page_size, limit=limit)

    async def page(
        self, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None, *, order: str | None = None,
        **filters: Unpack[RecommendationFilters],
    ) -> Page[Recommendation]:
        """One page of recommendations."""
        return await self._page(filters, limit=limit, cursor=cursor, order=order)

    async def count(self, **filters: Unpack[RecommendationFilters]) -> int:
        """How many recommendations match the filters."""
        return await self._count(filters)
