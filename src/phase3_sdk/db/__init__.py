"""Migrations, the embedded PostgreSQL and the Supabase shim."""

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
