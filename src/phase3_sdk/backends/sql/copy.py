"""Bulk insert: COPY into a stage table, then INSERT ... SELECT.

COPY cannot write into a table with row-level security, and it has no ON CONFLICT. So a batch is copied
(binary format) into a temporary table, then moved with one INSERT ... SELECT ... ON CONFLICT (id) DO
NOTHING: RLS's WITH CHECK applies to every row exactly as for a plain insert, and a retried batch inserts
nothing twice. The stage is created once per connection, role and column set, and is emptied at every
commit (ON COMMIT DELETE ROWS): creating and dropping a temp table per batch cost ~2-4 ms of catalog work.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from ..._extras import missing_extra

try:
    from psycopg import sql
except ImportError as exc:
    raise missing_extra(exc, "the Postgres backend (connect(), local())", "postgres") from None

from .compile import columns_sql, table_sql

#: Column names, type oids and type names of a table, in column order.
TABLE_TYPES = sql.SQL(
    "select a.attname as name, a.atttypid::int as oid, t.typname as type"
    " from pg_catalog.pg_attribute a join pg_catalog.pg_type t on t.oid = a.atttypid"
    " where a.attrelid = pg_catalog.to_regclass(%s) and a.attnum > 0 and not a.attisdropped order by a.attnum"
)


def group_by_columns(
    rows: Sequence[Mapping[str, Any]],
) -> list[tuple[tuple[str, ...], list[Mapping[str, Any]]]]:
    """Rows grouped by the set of columns they give (absent columns get the table's defaults)."""
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    return list(groups.items())


def stage_name(role: str, table: str, columns: Sequence[str]) -> str:
    """The stage's name: one per role (a temp table belongs to the role that made it, and another role on
    the same pooled connection may not write to it) and per column set."""
    digest = hashlib.sha1("\0".join((role, table, *columns)).encode()).hexdigest()[:16]
    return f"phase3_stage_{digest}"


def compile_stage(table: str, stage: str, columns: Sequence[str]) -> sql.Composed:
    """A temporary table with the types of ``table``'s ``columns``, emptied at every commit."""
    return sql.SQL(
        "create temp table if not exists {} on commit delete rows as select {} from {} with no data"
    ).format(sql.Identifier(stage), columns_sql(columns), table_sql(table))


def compile_copy_stage(stage: str, columns: Sequence[str]) -> sql.Composed:
    """``copy <stage> (...) from stdin`` in binary format."""
    return sql.SQL("copy {} ({}) from stdin (format binary)").format(
        sql.Identifier("pg_temp", stage), columns_sql(columns)
    )


def compile_insert_from_stage(
    table: str, stage: str, columns: Sequence[str], returning: Sequence[str]
) -> sql.Composed:
    """Move a stage's rows into ``table``; rows whose id is already there are skipped."""
    return sql.SQL("insert into {} ({}) select {} from {} on conflict (id) do nothing returning {}").format(
        table_sql(table),
        columns_sql(columns),
        columns_sql(columns),
        sql.Identifier("pg_temp", stage),
        columns_sql(returning),
    )
