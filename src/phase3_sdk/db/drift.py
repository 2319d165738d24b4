"""Drift: do the live tables still have the columns the SDK's row models read?

The typed fast path (the Postgres backend hands rows straight to the models) trusts that every column a
model names exists with a type the model can hold, and is never NULL where the model does not allow
None. A production schema edited by hand (a column dropped, retyped or made nullable) breaks that trust
only when the first such row is read; :func:`drift` finds it before, one line per mismatch.

Judged per model field: the column exists; its type is one the field's Python type comes from (``uuid``
for UUID, ``text``/``varchar`` for str and Literal, integer types for int, ``double precision``/
``real``/``numeric`` for float, ``timestamptz`` for datetime, ``json``/``jsonb`` for JSON columns,
``text[]`` for list[str], pgvector's ``vector`` for an embedding); and it is NOT NULL unless the field
accepts None. Columns no model reads (generated search columns, say) are not judged, nor is a NOT NULL
column whose field would also accept None: both are safe.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from pydantic import BaseModel

from phase3_sdk.schema.tables import ALL_TABLES, Table

__all__ = ["Mismatch", "drift", "expected_types"]

_JSON = frozenset({"json", "jsonb"})
_BY_PYTHON_TYPE: dict[type, frozenset[str]] = {
    UUID: frozenset({"uuid"}),
    str: frozenset({"text", "character varying", "character", "citext"}),
    bool: frozenset({"boolean"}),
    int: frozenset({"smallint", "integer", "bigint"}),
    float: frozenset({"double precision", "real", "numeric"}),
    dt.datetime: frozenset({"timestamp with time zone"}),
    dt.date: frozenset({"date"}),
}


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One column that does not match its model: ``table.column: problem``."""

    table: str
    column: str
    problem: str

    def line(self) -> str:
        """The mismatch as one line."""
        return f"public.{self.table}.{self.column}: {self.problem}"

    def __str__(self) -> str:
        return self.line()


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """``(inner type, accepts None)`` for an annotation, through Optional, Annotated and unions."""
    nullable = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            nullable = nullable or len(args) < len(typing.get_args(annotation))
            if len(args) == 1:
                annotation = args[0]
                continue
            return annotation, nullable
        return annotation, nullable


def expected_types(table: Table[Any], field: str) -> tuple[frozenset[str] | None, bool]:
    """The column types a model field may come from (None: any), and whether the field accepts NULL."""
    info = table.row.model_fields[field]
    annotation, nullable = _unwrap(info.annotation)
    column = info.alias or field
    if annotation is Any:
        return (_JSON if column in table.json_columns else None), True
    if column in table.json_columns:
        return _JSON, nullable
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return _BY_PYTHON_TYPE[str], nullable
    if origin is list:
        (item,) = typing.get_args(annotation) or (Any,)
        item, _ = _unwrap(item)
        if item is float:
            return frozenset({"vector", "real[]", "double precision[]"}), nullable
        if item in _BY_PYTHON_TYPE:
            return frozenset(f"{t}[]" for t in _BY_PYTHON_TYPE[item]), nullable
        return _JSON, nullable
    if origin is dict or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return _JSON, nullable
    if isinstance(annotation, type):
        for python_type, sql_types in _BY_PYTHON_TYPE.items():
            if issubclass(annotation, python_type) and not (python_type is int and annotation is bool):
                return sql_types, nullable
    return None, nullable


def drift(url: str, tables: Iterable[Table[Any]] = ALL_TABLES, *, schema: str = "public") -> list[Mismatch]:
    """Compare each table's row model with the live columns of ``schema``; return every mismatch."""
    tables = list(tables)
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            """
            select c.relname, a.attname, t.typname, pg_catalog.format_type(a.atttypid, null),
                   a.attnotnull
            from pg_catalog.pg_attribute a
            join pg_catalog.pg_class c on c.oid = a.attrelid
            join pg_catalog.pg_namespace n on n.oid = c.relnamespace
            join pg_catalog.pg_type t on t.oid = a.atttypid
            where n.nspname = %s and c.relname = any(%s) and a.attnum > 0 and not a.attisdropped
            """,
            (schema, [t.name for t in tables]),
        ).fetchall()
    live: dict[tuple[str, str], tuple[str, str, bool]] = {
        (str(table), str(column)): (str(typname), str(formatted), bool(notnull))
        for table, column, typname, formatted, notnull in rows
    }
    present = {table for table, _ in live}
    mismatches: list[Mismatch] = []
    for table in tables:
        if table.name not in present:
            mismatches.append(
                Mismatch(table.name, "*", f"table missing (the {table.row.__name__} model reads it)")
            )
            continue
        for field, info in table.row.model_fields.items():
            column = info.alias or field
            found = live.get((table.name, column))
            if found is None:
                mismatches.append(
                    Mismatch(table.name, column, f"column missing (the {table.row.__name__} model reads it)")
                )
                continue
            typname, formatted, notnull = found
            # format_type names an extension's type with its schema when that is not on the path.
            shown = formatted.rsplit(".", 1)[-1] if typname == "vector" else formatted
            allowed, nullable = expected_types(table, field)
            if allowed is not None and shown not in allowed:
                mismatches.append(
                    Mismatch(
                        table.name,
                        column,
                        f"type {formatted}, but {table.row.__name__}.{field} expects "
                        + " or ".join(sorted(allowed)),
                    )
                )
            if not notnull and not nullable:
                mismatches.append(
                    Mismatch(
                        table.name,
                        column,
                        f"nullable, but {table.row.__name__}.{field} does not accept None "
                        "(set it NOT NULL, or the first NULL read fails)",
                    )
                )
    return mismatches
