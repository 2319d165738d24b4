"""Every migration is safe to run again at any point after itself (pasting the folder into the SQL editor).

Before this was so, running 20260202001001_search_functions.sql again after 20260202001300_search_cells.sql
failed with 42725 (the six-argument semantic_search came back beside the seven-argument one), and running
20260202001000_search_layout.sql again silently rebuilt an index a later file had replaced.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from phase3_sdk.db import migrator, snapshot
from phase3_sdk.db.embedded import EmbeddedDatabase

REAL = Path(__file__).resolve().parents[2] / "supabase" / "migrations"
FILES = migrator.discover(REAL)


@pytest.fixture(scope="module")
def migrated(embedded_server: EmbeddedDatabase) -> Iterator[str]:
    name = "rerun_migrated"
    yield embedded_server.create_database(name, template="phase3_template")
    embedded_server.drop_database(name)


def test_the_whole_folder_applies_twice_and_changes_nothing(migrated: str) -> None:
    before = snapshot.snapshot(migrated)
    migrator.apply_again(migrated, FILES)
    assert snapshot.diff(before, snapshot.snapshot(migrated)) == []


@pytest.mark.parametrize("migration", FILES, ids=lambda m: m.path.name)
def test_each_file_applies_again_alone_after_the_full_set(
    migrated: str, migration: migrator.MigrationFile
) -> None:
    before = snapshot.snapshot(migrated)
    migrator.apply_again(migrated, [migration])
    assert snapshot.diff(before, snapshot.snapshot(migrated)) == []


def test_a_changed_object_is_reported(migrated: str) -> None:
    # The snapshot must see what a re-run could undo: an index, a policy's condition, a function's grants.
    import psycopg

    before = snapshot.snapshot(migrated)
    with psycopg.connect(migrated, autocommit=True) as conn:
        conn.execute("create index rerun_probe_idx on public.memory_patterns (pattern_type)")
        conn.execute("grant execute on function public.embedding_sketch(extensions.vector) to anon")
        after = snapshot.snapshot(migrated)
        conn.execute("drop index public.rerun_probe_idx")
        conn.execute("revoke execute on function public.embedding_sketch(extensions.vector) from anon")
    assert snapshot.diff(before, after) == [
        "function public.embedding_sketch(extensions.vector): changed",
        "index public.rerun_probe_idx: added",
    ]
    assert snapshot.diff(before, snapshot.snapshot(migrated)) == []
