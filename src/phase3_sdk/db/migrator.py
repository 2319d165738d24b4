"""Apply ``supabase/migrations`` to any PostgreSQL database, the way the Supabase CLI does.

Files are named ``<14-digit version>_<name>.sql``. They run in version order, each in its own
transaction, one statement at a time, and each is recorded in ``supabase_migrations.schema_migrations``
(version, name, statements) inside that same transaction, so ``supabase db push`` and ``phase3 db
migrate`` agree on what is applied. A failing statement rolls its whole file back and raises
:class:`~phase3_sdk.errors.MigrationError` naming the file, the line, the SQLSTATE and a hint.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

import psycopg
from psycopg import sql

from phase3_sdk.db.sqlsplit import Statement, line_at, split_sql
from phase3_sdk.errors import MigrationError

__all__ = [
    "EXPECTED_TABLES",
    "HINTS",
    "Check",
    "MigrationFile",
    "MigrationStatus",
    "apply_again",
    "default_migrations_dir",
    "discover",
    "export_migrations",
    "hint_for",
    "migrate",
    "packaged_migrations_dir",
    "status",
    "verify",
]

_FILE_NAME = re.compile(r"^(?P<version>\d{14})_(?P<name>[^/\\]+)\.sql$")

#: The tables the Phase 3 schema must create, each with RLS enabled and at least one policy.
EXPECTED_TABLES: tuple[str, ...] = (
    "conversations",
    "custom_tools",
    "custom_tool_usage",
    "composite_skills",
    "composite_skill_executions",
    "memory_synthesis_jobs",
    "memory_patterns",
    "synthesis_recommendations",
    "memory_search_cells",
    "memory_search_indexes",
)


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


#: (SQLSTATE, regex over the server's message, hint): how to fix the errors migrations really hit.
#: The first matching row wins, so specific patterns come before a code's catch-all.
HINTS: tuple[tuple[str, str, str], ...] = (
    (
        "42704",
        r'type "?(extensions\.)?vector"? does not exist',
        "create the extension first with `create extension if not exists vector with schema extensions` "
        "and write the type as `extensions.vector(768)`; a function's `set search_path` does not cover "
        "its signature",
    ),
    (
        "42704",
        r"type .* does not exist",
        "create the type (or its extension) in an earlier statement and schema-qualify it",
    ),
    (
        "42601",
        r'syntax error at or near "(not|exists)"',
        "PostgreSQL has no CREATE POLICY/TRIGGER IF NOT EXISTS: use DROP POLICY IF EXISTS (or DROP "
        "TRIGGER IF EXISTS) then CREATE",
    ),
    (
        "42883",
        r"operator does not exist: .*vector",
        "pgvector's operators live in the extensions schema: write `a operator(extensions.<=>) b` (or "
        "add `extensions` to the function's `set search_path`)",
    ),
    (
        "42883",
        r"function .*vector.* does not exist|function (extensions\.)?(cosine_distance|l2_distance|"
        r"inner_product)",
        "pgvector's functions live in the extensions schema: call them as `extensions.<name>(...)`",
    ),
    (
        "42883",
        r"function auth\.",
        "auth.uid()/auth.role()/auth.jwt() come from Supabase; on plain PostgreSQL apply the shim first "
        "(phase3 dev up does)",
    ),
    (
        "42883",
        r"function .* does not exist",
        "create the function in an earlier migration, schema-qualify the call, or cast the arguments to "
        "the declared types",
    ),
    ("42P07", r".", "make it re-runnable: CREATE ... IF NOT EXISTS, or DROP ... IF EXISTS first"),
    (
        "42710",
        r'extension "[^"]+" already exists',
        "write `create extension if not exists ... with schema extensions`: a project may have enabled it "
        "already (from the dashboard; `db check` pre-creates the extensions Supabase pre-approves), and "
        "every migration must be re-runnable",
    ),
    ("42710", r".", "make it re-runnable: DROP ... IF EXISTS before CREATE (policies, triggers, roles)"),
    ("42723", r".", "use CREATE OR REPLACE FUNCTION, or DROP FUNCTION IF EXISTS first"),
    (
        "42P13",
        r"cannot change return type|cannot change name of input parameter",
        "CREATE OR REPLACE cannot change a function's return type or parameter names: DROP FUNCTION IF "
        "EXISTS first",
    ),
    (
        "3F000",
        r'schema "extensions" does not exist',
        "create it first: `create schema if not exists extensions`",
    ),
    ("3F000", r".", "create the schema in an earlier statement (CREATE SCHEMA IF NOT EXISTS)"),
    (
        "42P01",
        r'relation "auth\.',
        "auth.* is Supabase's; on plain PostgreSQL apply the shim first (phase3 dev up does)",
    ),
    ("42P01", r".", "create the table in an earlier migration, or check the migrations' version order"),
    ("42703", r".", "the column does not exist at this point: check the order of the migrations"),
    (
        "0A000",
        r"extension",
        "the extension is not available on this server; on Supabase enable it in the extensions schema",
    ),
    (
        "42501",
        r"event trigger|permission denied to (alter|create|drop) role|permission denied to create extension|"
        r"superuser|alter system|permission denied to set parameter",
        "Supabase's `postgres` role, which runs migrations, is not a superuser: leave this out of the "
        "migration (extensions: enable them in the dashboard or `create extension ... with schema "
        "extensions` for one Supabase offers; settings: the dashboard or `alter database ... set`)",
    ),
    (
        "42501",
        r".",
        "migrations run as the `postgres` role on Supabase; do not touch objects it does not own",
    ),
    (
        "25001",
        r".",
        "this statement cannot run inside a transaction (e.g. CREATE INDEX CONCURRENTLY); migrations "
        "always do",
    ),
)


def hint_for(code: str | None, message: str) -> str | None:
    """Return how to fix an error with this SQLSTATE and message, or None when nothing specific is known."""
    for hint_code, pattern, hint in HINTS:
        if code == hint_code and re.search(pattern, message, re.IGNORECASE):
            return hint
    return None


@dataclass(frozen=True, slots=True)
class MigrationFile:
    """One migration file on disk: ``<version>_<name>.sql``."""

    version: str
    name: str
    path: Path

    def read(self) -> str:
        """Return the file's SQL text."""
        return self.path.read_text(encoding="utf-8")

    def statements(self) -> list[Statement]:
        """Return the file's statements, as the Supabase CLI splits them."""
        return split_sql(self.read())


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    """Where one version stands: ``applied`` (on disk and recorded), ``pending`` (on disk only) or
    ``unknown`` (recorded in the database but no file has that version)."""

    version: str
    name: str
    state: Literal["applied", "pending", "unknown"]


@dataclass(frozen=True, slots=True)
class Check:
    """One result of :func:`verify`: what was checked, whether it holds, and what was found."""

    name: str
    ok: bool
    detail: str = ""


# -- Where the migrations are ------------------------------------------------------------------------------
#
# One source of truth: the repository's supabase/migrations (where the Supabase CLI looks). The wheel
# carries that same folder as package data (pyproject.toml force-includes it as phase3_sdk/_migrations),
# so an installed SDK has its schema without a checkout; a checkout always uses the folder itself, never
# a copy that could be stale.

_PACKAGED = "_migrations"


def _checkout_migrations_dir() -> Path | None:
    """``supabase/migrations`` of the repository this package is imported from, if it is a checkout."""
    package = Path(__file__).resolve().parents[1]  # .../src/phase3_sdk
    root = package.parents[1]
    folder = root / "supabase" / "migrations"
    if package.parent.name == "src" and (root / "pyproject.toml").is_file() and folder.is_dir():
        return folder
    return None


def packaged_migrations_dir() -> Path | None:
    """The copy of the migrations the installed wheel carries (``phase3_sdk/_migrations``), if any."""
    folder = resources.files("phase3_sdk").joinpath(_PACKAGED)
    # Wheels install as plain files; a zipped import would give a Traversable that is not a Path.
    if isinstance(folder, Path) and folder.is_dir():
        return folder
    return None


def default_migrations_dir(start: str | Path | None = None) -> Path:
    """The Phase 3 migrations folder.

    With ``start``, the first ``supabase/migrations`` found walking up from it. Without, the repository's
    ``supabase/migrations`` when the SDK runs from a checkout, else the copy the installed package carries.
    Raises :class:`MigrationError` when there is none.
    """
    if start is not None:
        here = Path(start)
        for folder in (here, *here.resolve().parents):
            candidate = folder / "supabase" / "migrations"
            if candidate.is_dir():
                return candidate
        raise MigrationError(
            f"no supabase/migrations folder in {here} or its parents",
            hint="give the migrations folder itself, or no folder for the SDK's own migrations",
        )
    found = _checkout_migrations_dir() or packaged_migrations_dir()
    if found is None:
        raise MigrationError(
            "this installation of phase3-sdk carries no migrations",
            hint="reinstall it from a wheel or a checkout, or give the migrations folder explicitly",
        )
    return found


def export_migrations(dest: str | Path, source: str | Path | None = None) -> list[Path]:
    """Copy the migrations (default: :func:`default_migrations_dir`) into ``dest`` for the Supabase CLI.

    Returns the files written. Identical files already in ``dest`` are left alone; a file of the same name
    with other content raises :class:`MigrationError` before anything is written, so an edited migration is
    never overwritten.
    """
    files = discover(default_migrations_dir() if source is None else source)
    target = Path(dest)
    clashes = [
        f.path.name
        for f in files
        if (target / f.path.name).exists() and (target / f.path.name).read_bytes() != f.path.read_bytes()
    ]
    if clashes:
        raise MigrationError(
            f"{target} already has different content in {', '.join(clashes)}",
            file=str(target / clashes[0]),
            hint="export into an empty folder, or move the edited files away first",
        )
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for f in files:
        out = target / f.path.name
        if not out.exists():
            shutil.copyfile(f.path, out)
            written.append(out)
    return written


@dataclass(slots=True)
class _Recorded:
    versions: dict[str, str] = field(default_factory=dict)  # version -> name


def discover(migrations_dir: str | Path) -> list[MigrationFile]:
    """Return the folder's migrations in version order.

    Raises :class:`MigrationError` if the folder is missing, a ``.sql`` file is not named
    ``<14-digit version>_<name>.sql``, or two files share a version (the CLI would record only one).
    Other files (README, .gitkeep) are ignored, as the CLI ignores them.
    """
    folder = Path(migrations_dir)
    if not folder.is_dir():
        raise MigrationError(
            f"migrations folder not found: {folder}",
            hint="give the folder that holds the <version>_<name>.sql files, or none for the SDK's own",
        )
    files: list[MigrationFile] = []
    bad: list[str] = []
    for path in sorted(folder.iterdir()):
        if not path.name.endswith(".sql") or not path.is_file():
            continue
        m = _FILE_NAME.match(path.name)
        if m is None:
            bad.append(path.name)
        else:
            files.append(MigrationFile(m.group("version"), m.group("name"), path))
    if bad:
        raise MigrationError(
            f"badly named migration file(s): {', '.join(bad)}",
            file=str(folder / bad[0]),
            hint="name them <14-digit timestamp>_<name>.sql, e.g. 20260101120000_create_things.sql",
        )
    by_version: dict[str, list[str]] = {}
    for f in files:
        by_version.setdefault(f.version, []).append(f.path.name)
    dupes = [names for names in by_version.values() if len(names) > 1]
    if dupes:
        listed = "; ".join(" and ".join(names) for names in dupes)
        raise MigrationError(
            f"duplicate migration version(s): {listed}",
            file=str(folder / dupes[0][1]),
            hint="give each file its own timestamp (the version is the 14 digits before the first _)",
        )
    return sorted(files, key=lambda f: f.version)


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


def verify(url: str, tables: Iterable[str] = EXPECTED_TABLES) -> list[Check]:
    """Check that the migrated schema is what the SDK needs; every check is reported, passing or not.

    Tables exist with RLS enabled and at least one policy; the vector extension is installed (and
    where); ``public.semantic_search`` resolves with ``extensions.vector``; every function in ``public``
    pins its ``search_path`` (so callers' search paths cannot hijack it, and Supabase's linter is quiet).
    """
    checks: list[Check] = []
    with psycopg.connect(url, autocommit=True) as conn:
        # An empty search_path makes regprocedure print every name schema-qualified, and proves the
        # lookups below do not depend on the caller's path.
        conn.execute("SET search_path TO ''")
        for table in tables:
            row = conn.execute(
                """
                SELECT c.relrowsecurity, (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND c.relname = %s AND c.relkind IN ('r', 'p')
                """,
                (table,),
            ).fetchone()
            if row is None:
                checks.append(Check(f"table public.{table}", ok=False, detail="missing"))
                continue
            rls, policies = bool(row[0]), int(str(row[1]))
            checks.append(
                Check(
                    f"table public.{table}",
                    rls and policies > 0,
                    f"rls {'on' if rls else 'OFF'}, {policies} polic{'y' if policies == 1 else 'ies'}",
                )
            )
        ext = conn.execute(
            """
            SELECT n.nspname, e.extversion FROM pg_extension e
            JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector'
            """
        ).fetchone()
        if ext is None:
            checks.append(Check("extension vector", ok=False, detail="not installed"))
        else:
            checks.append(
                Check(
                    "extension vector",
                    ext[0] == "extensions",
                    f"version {ext[1]} in schema {ext[0]}"
                    + ("" if ext[0] == "extensions" else " (Supabase keeps it in extensions)"),
                )
            )
        checks.append(_check_semantic_search(conn))
        unpinned = [
            str(r[0])
            for r in conn.execute(
                """
                SELECT p.oid::regprocedure::text FROM pg_proc p
                JOIN pg_namespace n ON n.oid = p.pronamespace
                LEFT JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
                WHERE n.nspname = 'public' AND d.objid IS NULL
                  AND NOT coalesce(
                    EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%%'), false)
                ORDER BY 1
                """
            ).fetchall()
        ]
        checks.append(
            Check(
                "functions in public pin search_path",
                not unpinned,
                "all pinned" if not unpinned else "not pinned: " + ", ".join(unpinned),
            )
        )
    return checks


def _check_semantic_search(conn: psycopg.Connection[tuple[object, ...]]) -> Check:
    """``public.semantic_search`` exists and takes an ``extensions.vector``, and its signature resolves.

    The exact parameter list belongs to the migrations, so it is read from the catalog, then looked up
    again by its text with ``to_regprocedure``: the round trip proves that callers naming
    ``extensions.vector`` (as PostgREST and the SDK do) find it whatever their search_path.
    """
    rows = conn.execute(
        """
        SELECT p.oid::regprocedure::text,
               to_regtype('extensions.vector') = ANY (p.proargtypes::oid[])
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.proname = 'semantic_search'
        """
    ).fetchall()
    if not rows:
        return Check("function public.semantic_search", ok=False, detail="missing")
    with_vector = [str(sig) for sig, takes_vector in rows if takes_vector]
    if not with_vector:
        return Check(
            "function public.semantic_search",
            ok=False,
            detail="no overload takes extensions.vector: " + str(rows[0][0]),
        )
    signature = with_vector[0]
    found = conn.execute("SELECT to_regprocedure(%s) IS NOT NULL", (signature,)).fetchone()
    ok = bool(found and found[0])
    return Check("function public.semantic_search", ok, signature if ok else f"{signature} does not resolve")
