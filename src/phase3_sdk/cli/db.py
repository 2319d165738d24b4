"""``phase3 db ...``: apply, inspect, lint and check migrations; set up a database; tune search indexes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any
from uuid import UUID

from phase3_sdk._extras import missing_extra

try:
    import psycopg
    from rich.table import Table
except ImportError as exc:
    raise missing_extra(exc, "the phase3 command", "cli") from None

from phase3_sdk.cli._console import print_findings, stderr, stdout
from phase3_sdk.cli._options import db_url_from, migrations_dir
from phase3_sdk.cli._registry import Subparsers
from phase3_sdk.errors import Phase3Error

__all__ = ["add_db_commands"]


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
        help="index users with at least N live memories with embeddings (default: 5000)",
    )
    p.add_argument(
        "--ef-search",
        type=int,
        metavar="N",
        help="HNSW candidate list per query, with no shorter first walk (default: calibrated per user, with a"
        " first walk of 80 where longer; see phase3_sdk.db.tune)",
    )
    p.add_argument(
        "--max-indexes",
        type=int,
        metavar="N",
        help="at most N users hold an index, the largest (default: 100; each one slows all planning)",
    )
    p.add_argument(
        "--recalibrate",
        action="store_true",
        help="also calibrate ef_search again for users whose index needs nothing else (it is kept; entries an"
        " earlier version calibrated are measured again without this)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="report which users need an index built, rebuilt or dropped"
    )
    p.add_argument(
        "--user", dest="users", action="append", type=UUID, metavar="UUID", help="only this user (repeatable)"
    )
    p.set_defaults(handler=_db_tune_search)
    _add_db_setup_commands(commands)


def _db_migrate(args: argparse.Namespace) -> int:
    from phase3_sdk.db import migrator

    err = stderr()
    _require_supabase_layout(db_url_from(args))
    with err.status("migrating..."):
        applied = migrator.migrate(
            db_url_from(args),
            migrations_dir(args),
            on_progress=lambda m: err.print(f"applying {m.path.name}"),
        )
    print(f"applied {len(applied)} migration{'' if len(applied) == 1 else 's'}")
    return 0


def _db_status(args: argparse.Namespace) -> int:
    from phase3_sdk.db import migrator

    rows = migrator.status(db_url_from(args), migrations_dir(args))
    table = Table("version", "name", "state")
    colors = {"applied": "green", "pending": "yellow", "unknown": "red"}
    for row in rows:
        table.add_row(row.version, row.name, f"[{colors[row.state]}]{row.state}[/]")
    stdout().print(table)
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
    stdout().print(table)
    print_findings(mismatches)
    failed = [c.name for c in checks if not c.ok] + (["row models"] if mismatches else [])
    if failed:
        raise Phase3Error(f"verify failed: {', '.join(failed)}")
    return 0


def _db_lint(args: argparse.Namespace) -> int:
    from phase3_sdk.db.lint import lint

    findings = lint(
        db_url_from(args), api_schemas=args.api_schema or ("public",), allow_definer=args.allow_definer
    )
    print_findings(findings)
    if findings:
        count = len(findings)
        raise Phase3Error(f"lint: {count} finding{'' if count == 1 else 's'}")
    print("lint: no findings")
    return 0


def _db_check(args: argparse.Namespace) -> int:
    from phase3_sdk.db.check import check

    err = stderr()
    with err.status("checking on a Supabase-like database...") as status:
        report = check(
            migrations_dir(args),
            superuser=args.superuser,
            allow_definer=args.allow_definer,
            api_schemas=args.api_schema or ("public",),
            on_progress=lambda m: status.update(f"applying {m.path.name}"),
        )
    if report.error is not None:
        raise report.error
    print_findings(report.findings)
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
        "max_indexes": tune.DEFAULT_MAX_INDEXES if args.max_indexes is None else args.max_indexes,
        "user_ids": args.users,
        "recalibrate": args.recalibrate,
    }
    if args.dry_run:
        report = tune.tune_search(url, dry_run=True, **options)
        for user in report.tuned:
            print(user.describe())
        for user_id in report.left_out:
            print(f"{user_id}: enough memories, but larger users fill the index limit: no index")
        print(report.summary())
        return 0
    with ProgressBar("tuning users", total=None, unit="users", transient=True, console=stderr()) as progress:

        def advance(done: int, total: int, user: tune.TunedUser) -> None:
            progress.update(done, total=total)
            progress.print(f"{user.describe()} ({user.seconds:.1f} s)")

        report = tune.tune_search(url, on_progress=advance, **options)
    print(report.summary())
    return 0


# -- setting up a database the SDK did not make ----------------------------------------------------------


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
