"""The ``phase3`` command line.

Command groups are added by functions ``add_*_commands(subparsers)`` that register a subparser and set
``handler`` (``(argparse.Namespace) -> int``, the exit code) on every leaf command. This module holds
``db`` and ``dev``; other modules plug in without touching it, in any of three ways:

* define ``add_<group>_commands`` in one of :data:`OPTIONAL_GROUPS` (e.g. ``phase3_sdk.synthesis.cli``):
  it is picked up when the module exists;
* decorate a function with :func:`register_commands` in a module imported before :func:`main` runs;
* publish an entry point in the ``phase3_sdk.commands`` group (for packages outside this one).

Results go to stdout; progress and errors to stderr. An error is one line, ``phase3: error: ...``, never
a traceback, and the exit code is non-zero.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, TypeAlias
from uuid import UUID

import psycopg
from rich.console import Console
from rich.table import Table

from phase3_sdk import __version__
from phase3_sdk.errors import Phase3Error

__all__ = [
    "OPTIONAL_GROUPS",
    "CommandRegistrar",
    "Subparsers",
    "add_db_commands",
    "add_dev_commands",
    "db_url_from",
    "main",
]

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
CommandRegistrar: TypeAlias = Callable[[Subparsers], None]
Handler: TypeAlias = Callable[[argparse.Namespace], int]

#: ``module:function`` registrars loaded when their module exists (other engineers' command groups).
OPTIONAL_GROUPS: tuple[str, ...] = (
    "phase3_sdk.synthesis.cli:add_synthesis_commands",
    "phase3_sdk.cli_synthesis:add_synthesis_commands",
    "phase3_sdk.skills.cli:add_skills_commands",
    "phase3_sdk.search.cli:add_search_commands",
)
ENTRY_POINT_GROUP = "phase3_sdk.commands"
DEFAULT_DEV_PATH = Path(".phase3") / "dev"

_registrars: list[CommandRegistrar] = []


def register_commands(registrar: CommandRegistrar) -> CommandRegistrar:
    """Decorator: add a command group to ``phase3`` (the module must be imported before ``main``)."""
    _registrars.append(registrar)
    return registrar


def _stdout() -> Console:
    # Made per call, not at import: tests and callers swap sys.stdout.
    return Console(file=sys.stdout, highlight=False, soft_wrap=True)


def _stderr() -> Console:
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


# -- db ----------------------------------------------------------------------------------------------------


def add_db_commands(subparsers: Subparsers) -> None:
    """Register ``phase3 db migrate|status|verify|check|tune-search``."""
    db = subparsers.add_parser("db", help="apply and inspect supabase/migrations")
    commands = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)

    def common(p: argparse.ArgumentParser, *, url: bool = True) -> None:
        p.add_argument(
            "--migrations", metavar="DIR", type=Path, help="migrations folder (default: supabase/migrations)"
        )
        if url:
            p.add_argument("--db-url", metavar="URL", help="PostgreSQL URL (default: SUPABASE_DB_URL)")

    p = commands.add_parser("migrate", help="apply pending migrations, each file in its own transaction")
    common(p)
    p.set_defaults(handler=_db_migrate)
    p = commands.add_parser("status", help="list migrations as applied, pending or unknown")
    common(p)
    p.set_defaults(handler=_db_status)
    p = commands.add_parser("verify", help="check the migrated schema: tables, RLS, pgvector, functions")
    p.add_argument("--db-url", metavar="URL", help="PostgreSQL URL (default: SUPABASE_DB_URL)")
    p.set_defaults(handler=_db_verify)
    p = commands.add_parser(
        "check", help="apply the migrations to a throwaway Supabase-like database and report the first error"
    )
    common(p, url=False)
    p.add_argument(
        "--vector-preinstalled",
        action="store_true",
        help="start with pgvector already in extensions (a project that enabled it from the dashboard)",
    )
    p.set_defaults(handler=_db_check)
    p = commands.add_parser(
        "tune-search",
        help="build per-user search indexes where users' memories call for it (--dry-run: only report)",
    )
    p.add_argument("--db-url", metavar="URL", help="PostgreSQL URL (default: SUPABASE_DB_URL)")
    p.add_argument(
        "--min-memories",
        type=int,
        metavar="N",
        help="index users with at least N live memories with embeddings (default: 2000)",
    )
    p.add_argument(
        "--ef-search",
        type=int,
        metavar="N",
        help="HNSW candidate list per query (default: calibrated per user for recall@10 >= 0.999)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="report which users need an index built, rebuilt or dropped"
    )
    p.add_argument(
        "--user", dest="users", action="append", type=UUID, metavar="UUID", help="only this user (repeatable)"
    )
    p.set_defaults(handler=_db_tune_search)


def db_url_from(args: argparse.Namespace) -> str:
    """The database URL a command works on: ``--db-url``, else ``SUPABASE_DB_URL`` (environment or .env)."""
    if args.db_url:
        return str(args.db_url)
    from phase3_sdk.config import Settings

    return Settings.from_env(args.env_file).require_db_url()


def _migrations(args: argparse.Namespace) -> Path:
    if args.migrations is not None:
        return Path(args.migrations)
    from phase3_sdk.db.embedded import default_migrations_dir

    return default_migrations_dir()


def _db_migrate(args: argparse.Namespace) -> int:
    from phase3_sdk.db import migrator

    err = _stderr()
    with err.status("migrating..."):
        applied = migrator.migrate(
            db_url_from(args), _migrations(args), on_progress=lambda m: err.print(f"applying {m.path.name}")
        )
    print(f"applied {len(applied)} migration{'' if len(applied) == 1 else 's'}")
    return 0


def _db_status(args: argparse.Namespace) -> int:
    from phase3_sdk.db import migrator

    rows = migrator.status(db_url_from(args), _migrations(args))
    table = Table("version", "name", "state")
    colors = {"applied": "green", "pending": "yellow", "unknown": "red"}
    for row in rows:
        table.add_row(row.version, row.name, f"[{colors[row.state]}]{row.state}[/]")
    _stdout().print(table)
    return 0 if all(r.state == "applied" for r in rows) else 1


def _db_verify(args: argparse.Namespace) -> int:
    from phase3_sdk.db import migrator

    checks = migrator.verify(db_url_from(args))
    table = Table("check", "ok", "detail")
    for c in checks:
        table.add_row(c.name, "[green]ok[/]" if c.ok else "[red]FAIL[/]", c.detail)
    _stdout().print(table)
    failed = [c.name for c in checks if not c.ok]
    if failed:
        raise Phase3Error(f"verify failed: {', '.join(failed)}")
    return 0


def _db_check(args: argparse.Namespace) -> int:
    from phase3_sdk.db.check import check

    err = _stderr()
    with err.status("checking on a Supabase-like database..."):
        report = check(
            _migrations(args),
            vector_preinstalled=args.vector_preinstalled,
            on_progress=lambda m: err.print(f"applying {m.path.name}"),
        )
    if report.error is not None:
        raise report.error
    print(report.summary())
    return 0


def _db_tune_search(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from phase3_sdk.db import tune

    url = db_url_from(args)
    options: dict[str, Any] = {
        "min_memories": tune.DEFAULT_MIN_MEMORIES if args.min_memories is None else args.min_memories,
        "ef_search": args.ef_search,
        "user_ids": args.users,
    }
    if args.dry_run:
        report = tune.tune_search(url, dry_run=True, **options)
        for user in report.tuned:
            print(user.describe())
        print(report.summary())
        return 0
    columns = (TextColumn("tuning users"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=_stderr(), transient=True) as progress:
        task = progress.add_task("tune", total=None)

        def advance(done: int, total: int, user: tune.TunedUser) -> None:
            progress.update(task, completed=done, total=total)
            progress.console.print(f"{user.describe()} ({user.seconds:.1f} s)")

        report = tune.tune_search(url, on_progress=advance, **options)
    print(report.summary())
    return 0


# -- dev ---------------------------------------------------------------------------------------------------


def add_dev_commands(subparsers: Subparsers) -> None:
    """Register ``phase3 dev up|url|down``: a lasting local database under ``.phase3/dev``."""
    dev = subparsers.add_parser("dev", help="a local embedded PostgreSQL laid out like Supabase")
    commands = dev.add_subparsers(dest="dev_command", metavar="COMMAND", required=True)
    for name, handler, text in (
        ("up", _dev_up, "start it (if needed), apply the shim and migrations, print its URL"),
        ("url", _dev_url, "print the URL of the running dev database"),
        ("down", _dev_down, "stop it (its data stays)"),
    ):
        p = commands.add_parser(name, help=text)
        p.add_argument(
            "--path", type=Path, default=DEFAULT_DEV_PATH, help="data folder (default: .phase3/dev)"
        )
        if name == "up":
            p.add_argument("--migrations", metavar="DIR", type=Path, help="default: supabase/migrations")
        p.set_defaults(handler=handler)


def _dev_up(args: argparse.Namespace) -> int:
    from phase3_sdk.db.embedded import EmbeddedDatabase

    err = _stderr()
    folder = _migrations(args)
    db = EmbeddedDatabase(args.path, persistent=True)
    with err.status(f"starting PostgreSQL in {args.path}..."):
        db.start()
        applied = db.setup(folder)
    for m in applied:
        err.print(f"applied {m.path.name}")
    print(db.url)
    return 0


def _dev_url(args: argparse.Namespace) -> int:
    from phase3_sdk.db.embedded import EmbeddedDatabase

    url = EmbeddedDatabase.running_url(args.path)
    if url is None:
        raise Phase3Error(f"no dev database running in {args.path}", hint="start it with: phase3 dev up")
    print(url)
    return 0


def _dev_down(args: argparse.Namespace) -> int:
    from phase3_sdk.db.embedded import EmbeddedDatabase

    if EmbeddedDatabase.running_url(args.path) is None:
        _stderr().print(f"no dev database running in {args.path}")
        return 0
    EmbeddedDatabase(args.path, persistent=True).start().stop()
    _stderr().print(f"stopped the dev database in {args.path}")
    return 0


# -- main --------------------------------------------------------------------------------------------------


def _load(ref: str, *, optional: bool) -> CommandRegistrar | None:
    module_name, _, attr = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only a missing group module is skipped; a group whose own imports fail must say so.
        if optional and exc.name is not None and module_name.startswith(exc.name):
            return None
        raise
    registrar: CommandRegistrar = getattr(module, attr)
    return registrar


def _registrars_in_order() -> list[CommandRegistrar]:
    found: list[CommandRegistrar] = [add_db_commands, add_dev_commands]
    plugins: list[tuple[str, Callable[[], CommandRegistrar | None]]] = [
        (ref, functools.partial(_load, ref, optional=True)) for ref in OPTIONAL_GROUPS
    ]
    plugins += [(ep.value, ep.load) for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)]
    for ref, load in plugins:
        try:
            registrar = load()
        except Exception as exc:
            # One broken group must not take `phase3 db check` down with it.
            print(f"phase3: warning: skipping command group {ref}: {_one_line(str(exc))}", file=sys.stderr)
            continue
        if registrar is not None:
            found.append(registrar)
    found += _registrars
    unique: list[CommandRegistrar] = []
    for r in found:
        if r not in unique:
            unique.append(r)
    return unique


def build_parser() -> argparse.ArgumentParser:
    """Return the ``phase3`` argument parser with every registered command group."""
    parser = argparse.ArgumentParser(
        prog="phase3", description="Phase 3 SDK tools: migrations and a local database."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--env-file", default=".env", help="read settings from this file too (default: .env)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for registrar in _registrars_in_order():
        registrar(subparsers)
    return parser


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.strip().splitlines() if part.strip())


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``phase3`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    handler: Handler = args.handler
    try:
        return handler(args)
    except Phase3Error as exc:
        message = str(exc)
    except psycopg.Error as exc:
        sqlstate = f"[{exc.sqlstate}] " if exc.sqlstate else ""
        message = sqlstate + (exc.diag.message_primary or str(exc))
    except KeyboardInterrupt:
        print("phase3: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        # A bug or an environment problem (a server that will not start): still one line, unless asked.
        if os.environ.get("PHASE3_DEBUG"):
            raise
        message = f"{type(exc).__name__}: {exc} (set PHASE3_DEBUG=1 for a traceback)"
    # Plain print, not rich: a console would wrap a long path onto a second line.
    print(f"phase3: error: {_one_line(message)}", file=sys.stderr)
    return 1
