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
import contextlib
import functools
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, TypeAlias
from uuid import UUID

from phase3_sdk._extras import missing_extra

try:
    import psycopg
    from rich.console import Console
    from rich.table import Table
except ImportError as exc:
    raise missing_extra(exc, "the phase3 command", "cli") from None

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
    """Register ``phase3 db migrate|status|verify|lint|check|tune-search``."""
    db = subparsers.add_parser("db", help="apply and inspect supabase/migrations")
    commands = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)

    def lint_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--allow-definer",
            action="append",
            default=[],
            metavar="FUNCTION",
            help="a security definer function API roles are meant to call: schema.name or "
            "schema.name(arg types) (repeatable)",
        )
        p.add_argument(
            "--api-schema",
            action="append",
            metavar="SCHEMA",
            help="a schema PostgREST exposes (repeatable; default: public)",
        )

    def common(p: argparse.ArgumentParser, *, url: bool = True) -> None:
        p.add_argument(
            "--migrations",
            metavar="DIR",
            type=Path,
            help="migrations folder (default: the project's supabase/migrations, else the SDK's own)",
        )
        if url:
            p.add_argument("--db-url", metavar="URL", help="PostgreSQL URL (default: SUPABASE_DB_URL)")

    p = commands.add_parser("migrate", help="apply pending migrations, each file in its own transaction")
    common(p)
    p.set_defaults(handler=_db_migrate)
    p = commands.add_parser("status", help="list migrations as applied, pending or unknown")
    common(p)
    p.set_defaults(handler=_db_status)
    p = commands.add_parser(
        "verify",
        help="check the migrated schema: tables, RLS, pgvector, functions, and every column the SDK's row "
        "models read (name, type, nullability)",
    )
    p.add_argument("--db-url", metavar="URL", help="PostgreSQL URL (default: SUPABASE_DB_URL)")
    p.set_defaults(handler=_db_verify)
    p = commands.add_parser(
        "lint",
        help="what Supabase's database linter would flag: RLS, policies, security definer functions, "
        "search_path, foreign key indexes, extensions in public",
    )
    p.add_argument("--db-url", metavar="URL", help="PostgreSQL URL (default: SUPABASE_DB_URL)")
    lint_options(p)
    p.set_defaults(handler=_db_lint)
    p = commands.add_parser(
        "check",
        help="apply the migrations twice to a throwaway Supabase-like database as a non-superuser, then "
        "lint the result; report the first error or every finding",
    )
    common(p, url=False)
    lint_options(p)
    p.add_argument(
        "--superuser",
        action="store_true",
        help="apply as the superuser (Supabase never does: only to compare)",
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
        help="HNSW candidate list per query (default: calibrated per user for recall@10 >= 0.995)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="report which users need an index built, rebuilt or dropped"
    )
    p.add_argument(
        "--user", dest="users", action="append", type=UUID, metavar="UUID", help="only this user (repeatable)"
    )
    p.set_defaults(handler=_db_tune_search)
    _add_db_setup_commands(commands)


def db_url_from(args: argparse.Namespace) -> str:
    """The database URL a command works on: ``--db-url``, else ``SUPABASE_DB_URL`` (environment or .env)."""
    from phase3_sdk.config import Settings, check_db_url

    if args.db_url:
        return check_db_url(str(args.db_url), source="--db-url")
    settings = Settings.from_env(args.env_file)
    if settings.db_url is None:
        raise Phase3Error(
            "no database URL: set SUPABASE_DB_URL (environment or .env) or pass --db-url",
            hint="on Supabase: Project Settings > Database > Connection string; locally: phase3 dev url",
        )
    return settings.require_db_url()


def _migrations(args: argparse.Namespace) -> Path:
    if args.migrations is not None:
        folder = Path(args.migrations)
        if not folder.is_dir():
            raise Phase3Error(
                f"migrations folder not found: {folder}",
                hint="pass --migrations DIR, or leave it out for the SDK's own migrations",
            )
        return folder
    from phase3_sdk.db.migrator import default_migrations_dir
    from phase3_sdk.errors import MigrationError

    # As the Supabase CLI does: the project's supabase/migrations (here or above), which holds the SDK's
    # migrations once exported there; outside a project, the SDK's own.
    with contextlib.suppress(MigrationError):
        return default_migrations_dir(Path.cwd())
    return default_migrations_dir()


def _db_migrate(args: argparse.Namespace) -> int:
    from phase3_sdk.db import migrator

    err = _stderr()
    _require_supabase_layout(db_url_from(args))
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
    from phase3_sdk.db.drift import drift

    url = db_url_from(args)
    checks = migrator.verify(url)
    mismatches = drift(url)
    table = Table("check", "ok", "detail")
    for c in checks:
        table.add_row(c.name, "[green]ok[/]" if c.ok else "[red]FAIL[/]", c.detail)
    table.add_row(
        "columns match the SDK's row models",
        "[red]FAIL[/]" if mismatches else "[green]ok[/]",
        f"{len(mismatches)} mismatch{'' if len(mismatches) == 1 else 'es'}" if mismatches else "all match",
    )
    _stdout().print(table)
    _print_findings(mismatches)
    failed = [c.name for c in checks if not c.ok] + (["row models"] if mismatches else [])
    if failed:
        raise Phase3Error(f"verify failed: {', '.join(failed)}")
    return 0


def _print_findings(findings: Sequence[object]) -> None:
    # Plain print: one finding per line, never wrapped, so that grep and CI logs keep them whole.
    for finding in findings:
        print(finding)


def _db_lint(args: argparse.Namespace) -> int:
    from phase3_sdk.db.lint import lint

    findings = lint(
        db_url_from(args), api_schemas=args.api_schema or ("public",), allow_definer=args.allow_definer
    )
    _print_findings(findings)
    if findings:
        count = len(findings)
        raise Phase3Error(f"lint: {count} finding{'' if count == 1 else 's'}")
    print("lint: no findings")
    return 0


def _db_check(args: argparse.Namespace) -> int:
    from phase3_sdk.db.check import check

    err = _stderr()
    with err.status("checking on a Supabase-like database...") as status:
        report = check(
            _migrations(args),
            superuser=args.superuser,
            allow_definer=args.allow_definer,
            api_schemas=args.api_schema or ("public",),
            on_progress=lambda m: status.update(f"applying {m.path.name}"),
        )
    if report.error is not None:
        raise report.error
    _print_findings(report.findings)
    if report.findings:
        raise Phase3Error(f"check: {report.summary()}")
    print(report.summary())
    return 0


def _db_tune_search(args: argparse.Namespace) -> int:
    from phase3_sdk._progress import ProgressBar
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
    with ProgressBar("tuning users", total=None, unit="users", transient=True, console=_stderr()) as progress:

        def advance(done: int, total: int, user: tune.TunedUser) -> None:
            progress.update(done, total=total)
            progress.print(f"{user.describe()} ({user.seconds:.1f} s)")

        report = tune.tune_search(url, on_progress=advance, **options)
    print(report.summary())
    return 0


# -- db: setting up a database the SDK did not make ----------------------------------------------------------


def _add_db_setup_commands(commands: Subparsers) -> None:
    """Register ``phase3 db shim`` and ``phase3 db migrations export DIR``."""
    p = commands.add_parser(
        "shim", help="add Supabase's roles, auth schema and functions to a plain PostgreSQL (re-runnable)"
    )
    p.add_argument("--db-url", metavar="URL", help="PostgreSQL URL (default: SUPABASE_DB_URL)")
    p.set_defaults(handler=_db_shim)
    group = commands.add_parser("migrations", help="the SDK's own migrations")
    sub = group.add_subparsers(dest="migrations_command", metavar="COMMAND", required=True)
    p = sub.add_parser("export", help="write the migrations into DIR (e.g. supabase/migrations) for the CLI")
    p.add_argument("dir", metavar="DIR", type=Path)
    p.set_defaults(handler=_db_migrations_export)


def _db_shim(args: argparse.Namespace) -> int:
    from phase3_sdk.db.embedded import apply_shim

    # No pgvector here: a Supabase project starts without it too, and the migrations create it.
    apply_shim(db_url_from(args), vector=False)
    print("applied the Supabase shim; now run: phase3 db migrate")
    return 0


def _db_migrations_export(args: argparse.Namespace) -> int:
    from phase3_sdk.db.migrator import default_migrations_dir, export_migrations

    written = export_migrations(args.dir)
    total = len(list(default_migrations_dir().glob("*.sql")))
    kept = f" ({total - len(written)} already there, identical)" if len(written) < total else ""
    print(f"wrote {len(written)} of {total} migrations to {args.dir}{kept}")
    return 0


#: The objects a Supabase project has and plain PostgreSQL lacks, which the migrations depend on.
_SUPABASE_LAYOUT = """
select array(select r from unnest(array['anon', 'authenticated', 'service_role']) r
             where not exists (select 1 from pg_roles where rolname = r)) as roles,
       to_regnamespace('auth') is null as no_auth
"""


def _require_supabase_layout(url: str) -> None:
    """Refuse to migrate a plain PostgreSQL, where the first policy would fail on ``role "anon"``."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(_SUPABASE_LAYOUT).fetchone()
    assert row is not None  # a select without FROM always yields its row
    missing = [f"role {r}" for r in row[0]] + (["the auth schema"] if row[1] else [])
    if missing:
        raise Phase3Error(
            f"this database looks like plain PostgreSQL: it lacks {', '.join(missing)}, which the "
            "migrations use",
            hint="apply the Supabase shim first: phase3 db shim, then phase3 db migrate",
        )


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
            p.add_argument(
                "--migrations",
                metavar="DIR",
                type=Path,
                help="default: the project's supabase/migrations, else the SDK's own",
            )
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
        message = _unmigrated(exc.code, exc.message) or str(exc)
    except psycopg.Error as exc:
        sqlstate = f"[{exc.sqlstate}] " if exc.sqlstate else ""
        primary = exc.diag.message_primary or str(exc)
        message = _unmigrated(exc.sqlstate, primary) or sqlstate + primary
    except KeyboardInterrupt:
        print("phase3: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        # A bug or an environment problem (a server that will not start): still one line, unless asked.
        if os.environ.get("PHASE3_DEBUG"):
            raise
        message = f"{type(exc).__name__}: {exc} (set PHASE3_DEBUG=1 for a traceback)"
    # Plain print, not rich: a console would wrap a long path onto a second line.
    print(f"phase3: error: {_scrub(_one_line(message), args)}", file=sys.stderr)
    return 1


#: A missing table (42P01) or function (42883): what a database the migrations never ran on answers.
_UNMIGRATED = ("42P01", "42883")


def _unmigrated(sqlstate: str | None, primary: str) -> str | None:
    """The one line for an error that means the schema is missing, or None for any other error.

    Postgres' own hint for 42883 (add explicit casts) sends users the wrong way here, so it is dropped.
    """
    if sqlstate not in _UNMIGRATED:
        return None
    return (
        f"[{sqlstate}] {primary}: this database lacks the Phase 3 schema (or part of it); "
        "run phase3 db migrate (phase3 db status lists what is pending)"
    )


def _scrub(message: str, args: argparse.Namespace) -> str:
    """Remove any database password the command was given from ``message``, and each '@'-separated part of
    it (libpq reads an unescaped '@' in a password as the start of the host name and may print the rest).
    """
    from urllib.parse import unquote, urlsplit

    urls = [getattr(args, "db_url", None), os.environ.get("SUPABASE_DB_URL")]
    with contextlib.suppress(Exception):  # a .env that cannot be read has no password to hide
        from phase3_sdk.config import Settings

        from_file = Settings.from_env(getattr(args, "env_file", ".env")).db_url
        urls.append(from_file.get_secret_value() if from_file else None)
    for url in filter(None, urls):
        authority = str(url).partition("://")[2].split("/", 1)[0]
        userinfo = authority.rpartition("@")[0]
        password = userinfo.partition(":")[2]
        if not password:
            with contextlib.suppress(ValueError):
                password = urlsplit(str(url)).password or ""
        for secret in {password, unquote(password), *password.split("@")}:
            if len(secret) >= 3:
                message = message.replace(secret, "***")
    return message
