"""Migrations, the embedded PostgreSQL and the Supabase shim."""

# Every module below talks to PostgreSQL; the package's __init__ runs before any of them is imported, so
# this one check gives `import phase3_sdk.db.<anything>` the one-line error naming the extra.
from phase3_sdk._extras import missing_extra

try:
    import psycopg  # noqa: F401
except ImportError as exc:
    raise missing_extra(exc, "the database tools (phase3_sdk.db)", "postgres") from None

from phase3_sdk.db.check import CheckReport, check
from phase3_sdk.db.embedded import (
    EmbeddedDatabase,
    apply_shim,
    create_auth_user,
    default_migrations_dir,
    shim_sql,
)
from phase3_sdk.db.lint import Finding, lint
from phase3_sdk.db.migrator import (
    Check,
    MigrationFile,
    MigrationStatus,
    discover,
    hint_for,
    migrate,
    status,
    verify,
)
from phase3_sdk.db.sqlsplit import Statement, split_sql

__all__ = [
    "Check",
    "CheckReport",
    "EmbeddedDatabase",
    "Finding",
    "MigrationFile",
    "MigrationStatus",
    "Statement",
    "apply_shim",
    "check",
    "create_auth_user",
    "default_migrations_dir",
    "discover",
    "hint_for",
    "lint",
    "migrate",
    "shim_sql",
    "split_sql",
    "status",
    "verify",
]
