"""Apply ``supabase/migrations`` to a PostgreSQL database the way the Supabase CLI does; check the result.

One module per idea: :mod:`.files` (where the migrations are, naming, export), :mod:`.apply` (applying
and the history table), :mod:`.hints` (how to fix what fails) and :mod:`.verify` (the migrated schema's
checks). ``phase3_sdk.db.migrator.migrate`` and the other names below keep their 0.1 import path.
"""

from phase3_sdk.db.migrator.apply import MigrationStatus, apply_again, migrate, status
from phase3_sdk.db.migrator.files import (
    MigrationFile,
    default_migrations_dir,
    discover,
    export_migrations,
    packaged_migrations_dir,
)
from phase3_sdk.db.migrator.hints import HINTS, hint_for
from phase3_sdk.db.migrator.verify import EXPECTED_TABLES, Check, verify

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
