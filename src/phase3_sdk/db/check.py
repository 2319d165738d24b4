"""``phase3 db check``: apply the migrations to a throwaway database laid out like Supabase, as Supabase does.

What blocked this project (``type "vector" does not exist`` during ``supabase db push``) only shows on a
database shaped like a Supabase project: pgvector lives in ``extensions``, and ``extensions`` is not on the
search_path the CLI runs with. What passes here and fails there must be rare, so the check builds a
Supabase-shaped database in a temporary embedded server (no Docker, no network) and:

1. applies the folder as Supabase's ``postgres`` role would: a role that is NOT a superuser, owns the
   ``public`` schema, may bypass RLS, create roles and databases, is a member of ``anon``,
   ``authenticated`` and ``service_role``, and has every right on ``auth`` and ``extensions``; with the
   extensions Supabase pre-approves (pgvector) created for it in ``extensions`` by the superuser, as
   Supabase's privileged-extension hook does when a migration asks for them;
2. applies the whole folder a second time (what pasting it into the SQL editor does) and requires the
   schema to come out the same: every file must be re-runnable;
3. lints the result (:mod:`phase3_sdk.db.lint`).

The first failing statement is reported as ``file:line``, with its SQLSTATE, the server's message and how
to fix it; lint findings one per line.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from phase3_sdk.db import lint as linter
from phase3_sdk.db import migrator, snapshot
from phase3_sdk.db.embedded import EmbeddedDatabase, apply_shim, default_migrations_dir
from phase3_sdk.errors import MigrationError

__all__ = [
    "MIGRATION_ROLE",
    "PREAPPROVED_EXTENSIONS",
    "SUPABASE_PUSH_SEARCH_PATH",
    "CheckReport",
    "check",
    "prepare_migration_role",
]

#: The search_path `supabase db push` ends up with: it logs in as a temporary role and runs
#: `set session role postgres`, so the `extensions` entry of postgres' own role settings never applies.
SUPABASE_PUSH_SEARCH_PATH = '"$user", public'

#: The role the check applies migrations as: Supabase's `postgres`, without the name (the embedded server's
#: `postgres` is its superuser and cannot be demoted).
MIGRATION_ROLE = "phase3_migrator"

#: Extensions the check creates, as the superuser, before the migrations run. On Supabase a migration's
#: `create extension vector` succeeds although pgvector is not a trusted extension, because the platform
#: runs it as a superuser; a plain non-superuser would get 42501.
PREAPPROVED_EXTENSIONS: tuple[str, ...] = ("vector",)


@dataclass(frozen=True, slots=True)
class CheckReport:
    """The outcome of :func:`check`: what applied, the first error if any, lint findings, and the time."""

    migrations_dir: Path
    total: int
    applied: list[migrator.MigrationFile] = field(default_factory=list)
    error: MigrationError | None = None
    findings: list[linter.Finding] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every migration applied (twice) and the result has no lint finding."""
        return self.error is None and not self.findings

    def summary(self) -> str:
        """One line for a terminal or a CI log."""
        if self.error is not None:
            return str(self.error)
        if self.findings:
            count = len(self.findings)
            return (
                f"{count} finding{'' if count == 1 else 's'} on the schema the migrations build "
                f"({self.seconds:.2f} s)"
            )
        return (
            f"ok: {len(self.applied)} of {self.total} migrations apply twice on a Supabase-like database "
            f"as a non-superuser, lint clean ({self.seconds:.2f} s)"
        )


def prepare_migration_role(url: str, role: str = MIGRATION_ROLE) -> str:
    """Give the database at ``url`` (superuser URL) a Supabase-``postgres``-like owner; return its URL.

    The role (created once per server) is not a superuser; it owns ``public`` and the migration history,
    has every right on the database and on ``auth`` and ``extensions``, and its new objects in ``public``
    are granted to the API roles by default, as Supabase sets up for ``postgres``.
    """
    ident = sql.Identifier(role)
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_catalog.pg_roles where rolname = %s", (role,)).fetchone()
        if exists is None:
            with contextlib.suppress(psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
                conn.execute(
                    sql.SQL(
                        "create role {} login nosuperuser createdb createrole replication bypassrls"
                    ).format(ident)
                )
        database = sql.Identifier(str(conn.info.dbname))
        for statement in (
            "grant anon, authenticated, service_role to {role}",
            "grant all on database {db} to {role}",
            "alter schema public owner to {role}",
            "grant all on schema auth, extensions to {role}",
            "grant all on all tables in schema auth, extensions to {role}",
            "grant all on all sequences in schema auth, extensions to {role}",
            "grant all on all routines in schema auth, extensions to {role}",
            "alter schema supabase_migrations owner to {role}",
            "alter table supabase_migrations.schema_migrations owner to {role}",
            "alter default privileges for role {role} in schema public "
            "grant all on tables to anon, authenticated, service_role",
            "alter default privileges for role {role} in schema public "
            "grant all on functions to anon, authenticated, service_role",
            "alter default privileges for role {role} in schema public "
            "grant all on sequences to anon, authenticated, service_role",
        ):
            conn.execute(sql.SQL(statement).format(role=ident, db=database))
    return make_conninfo(url, user=role)


def check(
    migrations_dir: str | Path | None = None,
    *,
    superuser: bool = False,
    extensions: Sequence[str] = PREAPPROVED_EXTENSIONS,
    rerun: bool = True,
    lint: bool = True,
    allow_definer: Iterable[str] = (),
    api_schemas: Sequence[str] = ("public",),
    on_progress: Callable[[migrator.MigrationFile], None] | None = None,
    server: EmbeddedDatabase | None = None,
) -> CheckReport:
    """Apply ``migrations_dir`` (default: the repository's) to a new Supabase-like embedded database.

    The database has Supabase's roles, ``auth`` schema and functions, an ``extensions`` schema with
    ``extensions`` (pgvector) in it, and the migration role of :func:`prepare_migration_role`, which
    applies the folder (``superuser=True``: the superuser does, and nothing is pre-created, as before
    this check knew better). Migrations run with ``search_path = "$user", public``, as ``supabase db
    push`` runs them. With ``rerun``, the folder is then applied once more, unrecorded, and must leave
    the schema as it was; with ``lint``, :func:`phase3_sdk.db.lint.lint` judges the result
    (``allow_definer`` and ``api_schemas`` are passed on).

    Never raises for a migration problem (bad file names, duplicate versions, a failing statement): it
    is reported in :attr:`CheckReport.error`, and lint findings in :attr:`CheckReport.findings`.

    ``server``: a running :class:`EmbeddedDatabase` to use instead of starting a temporary one (about a
    second saved); the check then runs in a new database on it, dropped afterwards.
    """
    started = time.perf_counter()
    folder = default_migrations_dir() if migrations_dir is None else Path(migrations_dir)
    try:
        files = migrator.discover(folder)
    except MigrationError as exc:
        return CheckReport(folder, 0, error=exc, seconds=time.perf_counter() - started)
    applied: list[migrator.MigrationFile] = []

    def progress(migration: migrator.MigrationFile) -> None:
        applied.append(migration)
        if on_progress is not None:
            on_progress(migration)

    error: MigrationError | None = None
    findings: list[linter.Finding] = []
    with contextlib.ExitStack() as stack:
        if server is None:
            url = stack.enter_context(EmbeddedDatabase()).url
        else:
            # template0: a database with nothing of ours in it, as a new project's is.
            name = f"phase3_check_{secrets.token_hex(4)}"
            url = server.create_database(name, template="template0")
            stack.callback(server.drop_database, name)
        apply_shim(url, vector=False)
        migration_url = url
        if not superuser:
            with psycopg.connect(url, autocommit=True) as conn:
                for extension in extensions:
                    conn.execute(
                        sql.SQL("create extension if not exists {} with schema extensions").format(
                            sql.Identifier(extension)
                        )
                    )
            migration_url = prepare_migration_role(url)
        try:
            migrator.migrate(
                migration_url, folder, on_progress=progress, search_path=SUPABASE_PUSH_SEARCH_PATH
            )
        except MigrationError as exc:
            error = exc
            if applied and exc.file == str(applied[-1].path):
                applied.pop()  # the failing file was announced, then rolled back
        if error is None and rerun:
            error, changed = _run_again(url, migration_url, files)
            findings += changed
        if error is None and lint:
            findings += linter.lint(url, api_schemas=api_schemas, allow_definer=allow_definer)
    return CheckReport(folder, len(files), applied, error, findings, time.perf_counter() - started)


def _run_again(
    url: str, migration_url: str, files: list[migrator.MigrationFile]
) -> tuple[MigrationError | None, list[linter.Finding]]:
    """Apply the folder once more, then each file alone; return the first error, or what changed.

    The whole folder again is what pasting it into the SQL editor does. Each file alone, after the later
    ones, is the harder case: an earlier file must not undo (or trip over) what a later file redefined.
    After a file that changed something, the later files run again to restore the schema, so that each
    change is blamed on the file that made it.
    """
    findings: list[linter.Finding] = []
    shape = snapshot.snapshot(url)
    steps: list[tuple[str, list[migrator.MigrationFile]]] = [("the folder", files)]
    steps += [(f.path.name, [f]) for f in files]
    for i, (what, batch) in enumerate(steps):
        try:
            migrator.apply_again(migration_url, batch, search_path=SUPABASE_PUSH_SEARCH_PATH)
        except MigrationError as exc:
            return _again_error(exc, "the folder" if i == 0 else f"{what} alone, after the whole folder"), []
        after = snapshot.snapshot(url)
        changes = snapshot.diff(shape, after)
        findings += [
            linter.Finding(
                "not_rerunnable",
                change.rsplit(": ", 1)[0],
                f"{change.rsplit(': ', 1)[1]} when {what} ran again"
                + ("" if i == 0 else " after the later files"),
                "make the file that defines it leave a later file's version alone (create it only where "
                "missing, or drop and create it by its full signature)",
            )
            for change in changes
        ]
        if changes and i > 0:
            try:
                migrator.apply_again(migration_url, files[i:], search_path=SUPABASE_PUSH_SEARCH_PATH)
            except MigrationError as exc:
                return _again_error(exc, f"the files after {what}, run again after it"), findings
            after = snapshot.snapshot(url)
        shape = after
    return None, findings


def _again_error(exc: MigrationError, what: str) -> MigrationError:
    return MigrationError(
        f"running {what} again fails: {exc.message}",
        file=exc.file,
        line=exc.line,
        code=exc.code,
        details=exc.details,
        hint=exc.hint or "every migration must be re-runnable after the later ones",
    )
