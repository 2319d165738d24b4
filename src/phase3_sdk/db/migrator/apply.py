"""Apply ``supabase/migrations`` to any PostgreSQL database, the way the Supabase CLI does.

Files are named ``<14-digit version>_<name>.sql``. They run in version order, each in its own
transaction, one statement at a time, and each is recorded in ``supabase_migrations.schema_migrations``
(version, name, statements) inside that same transaction, so ``supabase db push`` and ``phase3 db
migrate`` agree on what is applied. A failing statement rolls its whole file back and raises
:class:`~phase3_sdk.errors.MigrationError` naming the file, the line, the SQLSTATE and a hint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import psycopg
from psycopg import sql

from phase3_sdk.db.migrator.files import MigrationFile, discover
from phase3_sdk.db.migrator.hints import hint_for
from phase3_sdk.db.sqlsplit import Statement, line_at, split_sql
from phase3_sdk.errors import MigrationError

# The Supabase CLI's own statements (pkg/migration/history.go), so an existing table is reused as is.
_CREATE_HISTORY = (
    "CREATE SCHEMA IF NOT EXISTS supabase_migrations",
    "CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (version text NOT NULL PRIMARY KEY)",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS statements text[]",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text",
)
_INSERT_VERSION = (
    "INSERT INTO supabase_migrations.schema_migrations(version, name, statements) VALUES (%s, %s, %s)"
)
# One migrator at a time per database: a second one waits, then sees the versions the first recorded.
_LOCK_KEY = 0x70686173_65330001  # "phas" "e3" + 1, fits a bigint


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    """Where one version stands: ``applied`` (on disk and recorded), ``pending`` (on disk only) or
    ``unknown`` (recorded in the database but no file has that version)."""

    version: str
    name: str
    state: Literal["applied", "pending", "unknown"]


@dataclass(slots=True)
class _Recorded:
    versions: dict[str, str] = field(default_factory=dict)  # version -> name


def status(url: str, migrations_dir: str | Path) -> list[MigrationStatus]:
    """Compare the folder with ``supabase_migrations.schema_migrations``; unknown versions come last."""
    files = discover(migrations_dir)
    with psycopg.connect(url, autocommit=True) as conn:
        recorded = _read_history(conn).versions
    result = [
        MigrationStatus(f.version, f.name, "applied" if f.version in recorded else "pending") for f in files
    ]
    on_disk = {f.version for f in files}
    result += [
        MigrationStatus(v, name, "unknown") for v, name in sorted(recorded.items()) if v not in on_disk
    ]
    return result


def migrate(
    url: str,
    migrations_dir: str | Path,
    *,
    on_progress: Callable[[MigrationFile], None] | None = None,
    search_path: str | None = None,
) -> list[MigrationFile]:
    """Apply every pending migration in version order and return the ones applied.

    ``on_progress`` is called with each file just before it runs. ``search_path`` (e.g.
    ``'"$user", public'``) is set for the session first, to run as ``supabase db push`` does rather than
    with whatever the role's default is. Raises :class:`MigrationError` on the first failing statement;
    that file's transaction is rolled back, so nothing of it stays and it is not recorded.
    """
    files = discover(migrations_dir)
    applied: list[MigrationFile] = []
    with psycopg.connect(url, autocommit=True) as conn:
        if search_path is not None:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.SQL(search_path)))
        _ensure_history(conn)
        for migration in files:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                if migration.version in _read_history(conn).versions:
                    continue
                if on_progress is not None:
                    on_progress(migration)
                _apply(conn, migration)
            applied.append(migration)
    return applied


def apply_again(url: str, migrations: Iterable[MigrationFile], *, search_path: str | None = None) -> None:
    """Run files again, ignoring and not touching the history: what pasting them into the SQL editor does.

    Each file runs in its own transaction, statement by statement, exactly as :func:`migrate` runs it,
    and is not recorded. A migration folder must survive this at any point after it was applied (the
    project's rule: every file is re-runnable). Raises :class:`MigrationError` naming the file and line.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        if search_path is not None:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.SQL(search_path)))
        for migration in migrations:
            with conn.transaction():
                _run_statements(conn, migration)


def _apply(conn: psycopg.Connection[tuple[object, ...]], migration: MigrationFile) -> None:
    """Run one file's statements and record it, inside the caller's transaction."""
    statements = _run_statements(conn, migration)
    conn.execute(_INSERT_VERSION, (migration.version, migration.name, [s.text for s in statements]))


def _run_statements(
    conn: psycopg.Connection[tuple[object, ...]], migration: MigrationFile
) -> list[Statement]:
    """Run one file's statements inside the caller's transaction and return them (as the CLI splits them)."""
    source = migration.read()
    statements = split_sql(source)
    for stmt in statements:
        if stmt.is_empty:
            continue  # a comment after the last semicolon: the CLI records it, the server has nothing to run
        try:
            # A savepoint would hide nothing here: any error aborts the file. Statements go one by one so
            # the error names its own statement, as the CLI's batch does.
            conn.execute(stmt.text.encode("utf-8"), prepare=False)
        except psycopg.Error as exc:
            raise _migration_error(exc, migration, source, stmt) from exc
    return statements


def _migration_error(
    exc: psycopg.Error, migration: MigrationFile, source: str, stmt: Statement
) -> MigrationError:
    """Turn a server error into a MigrationError that points at the line in the file."""
    diag = exc.diag
    message = diag.message_primary or str(exc).strip().splitlines()[0]
    line = stmt.line
    position = diag.statement_position
    if position:
        # statement_position counts characters from 1 within the statement text we sent.
        line = line_at(source, stmt.offset + int(position) - 1)
    code = exc.sqlstate
    hint = hint_for(code, message) or diag.message_hint
    details = diag.message_detail
    if diag.context and not details:
        # Errors inside a DO block or function body: the context names the line within that body.
        details = diag.context.strip().splitlines()[0]
    return MigrationError(message, file=str(migration.path), line=line, code=code, details=details, hint=hint)


def _ensure_history(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    with conn.transaction():
        conn.execute("SET LOCAL lock_timeout = '4s'")
        for statement in _CREATE_HISTORY:
            conn.execute(statement)


def _read_history(conn: psycopg.Connection[tuple[object, ...]]) -> _Recorded:
    exists = conn.execute(
        "SELECT to_regclass('supabase_migrations.schema_migrations') IS NOT NULL"
    ).fetchone()
    if not exists or not exists[0]:
        return _Recorded()
    rows = conn.execute(
        "SELECT version, coalesce(name, '') FROM supabase_migrations.schema_migrations"
    ).fetchall()
    return _Recorded({str(v): str(n) for v, n in rows})
