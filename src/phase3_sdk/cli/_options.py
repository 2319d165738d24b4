"""What the options every command shares resolve to: the database URL and the migrations folder."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from phase3_sdk.errors import Phase3Error

__all__ = ["db_url_from", "migrations_dir"]


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


def migrations_dir(args: argparse.Namespace) -> Path:
    """The migrations folder a command works on: ``--migrations``, else the project's, else the SDK's own."""
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
