"""The eight Phase 3 tables as the SDK knows them: the only source of table and column names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter

from ..models import (
    Conversation,
    Pattern,
    Recommendation,
    RowModel,
    Skill,
    SkillExecution,
    SynthesisJob,
    Tool,
    ToolUsage,
)
from ..models._rows import RowFactory, row_factory

RowT = TypeVar("RowT", bound=RowModel)


@dataclass(frozen=True)
class Table(Generic[RowT]):
    """A table: its name, its row model, and what the SDK needs to know to read and write it."""

    name: str
    row: type[RowT]
    #: Columns whose values are JSON documents (so a Python list there is a JSON array).
    json_columns: frozenset[str] = frozenset()
    #: Columns a list may be ordered by. All are NOT NULL, which keyset pagination relies on.
    order_columns: frozenset[str] = frozenset({"created_at"})
    default_order: str = "-created_at"
    #: Large columns read only when asked for.
    heavy_columns: frozenset[str] = frozenset()
    #: Rows belong to a user (``user_id``), filled in from the client's identity.
    owned: bool = True
    extra: dict[str, str] = field(default_factory=dict)

    @cached_property
    def columns(self) -> tuple[str, ...]:
        """Every column the row model knows."""
        return tuple(f.alias or name for name, f in self.row.model_fields.items())

    @cached_property
    def row_factory(self) -> RowFactory[RowT]:
        """Builds this table's row models from the rows a backend returns."""
        return row_factory(self.row)

    @property
    def rows_adapter(self) -> TypeAdapter[list[RowT]]:
        """Validates a whole result set in one call into pydantic-core (~20% faster than row by row)."""
        return self.row_factory.adapter

    def models(self, rows: Sequence[Mapping[str, Any]], *, typed: bool) -> list[RowT]:
        """The rows as row models, the same as ``rows_adapter.validate_python(rows)`` gives.

        ``typed``: the backend's driver already decoded the values into Python types (the Postgres
        backend's ``typed_rows``), so what it typed is taken as it is; the rows are then taken over.
        """
        return self.row_factory.build(rows, typed=typed)

    @cached_property
    def light_columns(self) -> tuple[str, ...]:
        """The columns read by default."""
        return tuple(c for c in self.columns if c not in self.heavy_columns)


TOOLS = Table(
    "custom_tools",
    Tool,
    json_columns=frozenset({"parameters"}),
    order_columns=frozenset({"created_at", "updated_at", "name", "usage_count"}),
)
TOOL_USAGE = Table(
    "custom_tool_usage",
    ToolUsage,
    json_columns=frozenset({"input_params", "output_result"}),
    order_columns=frozenset({"timestamp"}),
    default_order="-timestamp",
)
SKILLS = Table(
    "composite_skills",
    Skill,
    json_columns=frozenset({"steps"}),
    order_columns=frozenset({"created_at", "updated_at", "name", "execution_count"}),
)
SKILL_EXECUTIONS = Table(
    "composite_skill_executions",
    SkillExecution,
    json_columns=frozenset({"input_params", "steps_executed", "final_output", "skill_snapshot"}),
)
SYNTHESIS_JOBS = Table(
    "memory_synthesis_jobs",
    SynthesisJob,
    json_columns=frozenset({"insights"}),
    order_columns=frozenset({"created_at", "updated_at"}),
)
PATTERNS = Table(
    "memory_patterns",
    Pattern,
    json_columns=frozenset({"evidence"}),
    order_columns=frozenset({"created_at", "updated_at", "confidence", "last_observed", "layer"}),
)
RECOMMENDATIONS = Table(
    "synthesis_recommendations",
    Recommendation,
    order_columns=frozenset({"created_at", "updated_at"}),
)
CONVERSATIONS = Table(
    "conversations",
    Conversation,
    json_columns=frozenset({"messages"}),
    order_columns=frozenset({"created_at", "updated_at"}),
    heavy_columns=frozenset({"embedding"}),
)

ALL_TABLES: tuple[Table[Any], ...] = (
    CONVERSATIONS,
    TOOLS,
    TOOL_USAGE,
    SKILLS,
    SKILL_EXECUTIONS,
    SYNTHESIS_JOBS,
    PATTERNS,
    RECOMMENDATIONS,
)
