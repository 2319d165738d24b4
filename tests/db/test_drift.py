"""``phase3 db verify`` compares the SDK's row models with the live columns and names each mismatch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from phase3_sdk.cli import main
from phase3_sdk.db.drift import drift, expected_types
from phase3_sdk.db.embedded import EmbeddedDatabase
from phase3_sdk.schema.tables import ALL_TABLES, TOOL_USAGE, TOOLS


@pytest.fixture
def scratch(embedded_server: EmbeddedDatabase, request: pytest.FixtureRequest) -> Iterator[str]:
    """A migrated database this test may break."""
    name = f"drift_{request.node.name[-20:].lower()}".replace("[", "_").replace("]", "_")
    yield embedded_server.create_database(name, template="phase3_template")
    embedded_server.drop_database(name)


def test_the_migrated_schema_matches_every_row_model(db_url: str) -> None:
    assert drift(db_url) == []


def test_every_model_field_has_a_known_column_type() -> None:
    # A field whose type the comparison cannot map would never be checked: there must be none.
    unknown = [
        f"{t.name}.{name}"
        for t in ALL_TABLES
        for name, info in t.row.model_fields.items()
        if expected_types(t, name)[0] is None and info.annotation is not Any
    ]
    assert unknown == []


def test_a_dropped_retyped_or_nullable_column_is_reported_one_line_each(
    scratch: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(scratch, autocommit=True) as conn:
        conn.execute("alter table public.custom_tools drop column icon")
        conn.execute("alter table public.custom_tools alter column usage_count type text")
        conn.execute("alter table public.memory_patterns alter column confidence drop not null")
        conn.execute("alter table public.custom_tool_usage alter column status drop not null")
    assert [m.line() for m in drift(scratch)] == [
        "public.custom_tools.icon: column missing (the Tool model reads it)",
        "public.custom_tools.usage_count: type text, but Tool.usage_count expects "
        "bigint or integer or smallint",
        "public.custom_tool_usage.status: nullable, but ToolUsage.status does not accept None "
        "(set it NOT NULL, or the first NULL read fails)",
        "public.memory_patterns.confidence: nullable, but Pattern.confidence does not accept None "
        "(set it NOT NULL, or the first NULL read fails)",
    ]
    assert main(["db", "verify", "--db-url", scratch]) == 1
    captured = capsys.readouterr()
    assert "public.custom_tools.icon: column missing" in captured.out.splitlines()[-4]
    assert captured.err.strip() == "phase3: error: verify failed: row models"


def test_a_missing_table_is_one_line(scratch: str) -> None:
    with psycopg.connect(scratch, autocommit=True) as conn:
        conn.execute("drop table public.custom_tool_usage")
    assert [m.line() for m in drift(scratch, [TOOLS, TOOL_USAGE])] == [
        "public.custom_tool_usage.*: table missing (the ToolUsage model reads it)"
    ]


def test_verify_passes_on_the_migrated_schema(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "verify", "--db-url", db_url]) == 0
    assert "columns match the SDK's row models" in capsys.readouterr().out
