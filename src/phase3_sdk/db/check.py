"""``phase3 db check``: apply the migrations to a throwaway database laid out like Supabase.

What blocked this project (``type "vector" does not exist`` during ``supabase db push``) only shows on a
database shaped like a Supabase project: pgvector (once created) lives in ``extensions``, and
``extensions`` is not on the search_path the CLI runs with. This check builds exactly that in a
temporary embedded server, with no Docker and no network, and reports the first failing statement as
``file:line``, its SQLSTATE, the server's message and how to fix it.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from phase3_sdk.db import migrator
from phase3_sdk.db.embedded import EmbeddedDatabase, apply_shim, default_migrations_dir
from phase3_sdk.errors import MigrationError

__all__ = ["SUPABASE_PUSH_SEARCH_PATH", "CheckReport", "check"]

#: The search_path `supabase db push` ends up with: it logs in as a temporary role and runs
#: `set session role postgres`, so the `extensions` entry of postgres' own role settings never applies.
SUPABASE_PUSH_SEARCH_PATH = '"$user", public'


@dataclass(frozen=True, slots=True)
class CheckReport:
    """The outcome of :func:`check`: what applied, the first error if any, and how long it took."""

    migrations_dir: Path
    total: int
    applied: list[migrator.MigrationFile] = field(default_factory=list)
    error: MigrationError | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every migration applied."""
        return self.error is None

    def summary(self) -> str:
        """One line for a terminal or a CI log."""
        if self.error is None:
            return (
                f"ok: {len(self.applied)} of {self.total} migrations apply on a Supabase-like database "
                f"({self.seconds:.2f} s)"
            )
        return str(self.error)


def check(
    migrations_dir: str | Path | None = None,
    *,
    vector_preinstalled: bool = False,
    on_progress: Callable[[migrator.MigrationFile], None] | None = None,
    server: EmbeddedDatabase | None = None,
) -> CheckReport:
    """Apply ``migrations_dir`` (default: the repository's) to a new Supabase-like embedded database.

    The database has Supabase's roles, ``auth`` schema and functions and an empty ``extensions`` schema;
    pgvector is not installed unless ``vector_preinstalled`` (a project that enabled it from the
    dashboard), since a new project does not have it. Migrations run with ``search_path = "$user",
    public``, as ``supabase db push`` runs them. Never raises for a migration problem (bad file names,
    duplicate versions, a failing statement): it is reported in :attr:`CheckReport.error`.

    ``server``: a running :class:`EmbeddedDatabase` to use instead of starting a temporary one (about a
    second saved); the check then runs in a new database on it, dropped afterwards.
    """
    started = time.perf_counter()
    folder = default_migrations_dir() if migrations_dir is None else Path(migrations_dir)
    try:
        total = len(migrator.discover(folder))
    except MigrationError as exc:
        return CheckReport(folder, 0, error=exc, seconds=time.perf_counter() - started)
    applied: list[migrator.MigrationFile] = []

    def progress(migration: migrator.MigrationFile) -> None:
        applied.append(migration)
        if on_progress is not None:
            on_progress(migration)

    error: MigrationError | None = None
    with contextlib.ExitStack() as stack:
        if server is None:
            url = stack.enter_context(EmbeddedDatabase()).url
        else:
            # template0: a database with nothing of ours in it, as a new project's is.
            name = f"phase3_check_{secrets.token_hex(4)}"
            url = server.create_database(name, template="template0")
            stack.callback(server.drop_database, name)
        apply_shim(url, vector=vector_preinstalled)
        try:
            migrator.migrate(url, folder, on_progress=progress, search_path=SUPABASE_PUSH_SEARCH_PATH)
        except MigrationError as exc:
            error = exc
            if applied and exc.file == str(applied[-1].path):
                applied.pop()  # the failing file was announced, then rolled back
    return CheckReport(folder, total, applied, error, time.perf_counter() - started)
