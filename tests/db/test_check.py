from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from phase3_sdk.db.check import check
from phase3_sdk.db.embedded import EmbeddedDatabase

ROOT = Path(__file__).resolve().parents[2]
BROKEN = ROOT / "tests" / "fixtures" / "migrations_broken"
REAL = ROOT / "supabase" / "migrations"


def test_broken_folder_reports_file_line_sqlstate_and_hint() -> None:
    report = check(BROKEN)
    assert not report.ok
    err = report.error
    assert err is not None
    assert err.file == str(BROKEN / "20240101000100_match_notes.sql")
    assert err.line == 7  # `query_embedding vector(768),`
    assert err.code == "42704"
    assert "vector" in err.message
    assert "does not exist" in err.message
    assert err.hint is not None
    assert "create extension if not exists vector with schema extensions" in err.hint
    assert "extensions.vector(768)" in err.hint
    assert [m.name for m in report.applied] == ["notes"]
    assert report.total == 2


def test_old_failure_reproduces_when_the_project_already_had_vector(
    tmp_path: Path, embedded_server: EmbeddedDatabase
) -> None:
    # The original project: pgvector enabled from the dashboard (in `extensions`), migrations running a
    # bare `create extension if not exists vector` (a no-op there) and then naming `vector(768)`.
    (tmp_path / "20240101000000_search.sql").write_text(
        "create extension if not exists vector;\n\n"
        "create table public.docs (id int, embedding vector(768));\n"
    )
    report = check(tmp_path, server=embedded_server)
    assert report.error is not None
    assert (report.error.code, report.error.line) == ("42704", 3)


def test_extensions_is_not_on_the_search_path(tmp_path: Path, embedded_server: EmbeddedDatabase) -> None:
    # Qualified names work; an unqualified pgvector operator does not, exactly as on `supabase db push`.
    (tmp_path / "20240101000000_ok.sql").write_text(
        "create extension if not exists vector with schema extensions;\n"
        "create table public.docs (id int, embedding extensions.vector(3));\n"
    )
    (tmp_path / "20240101000100_op.sql").write_text(
        "select d.embedding <=> '[1,2,3]'::extensions.vector from public.docs d;\n"
    )
    report = check(tmp_path, server=embedded_server)
    assert report.error is not None
    assert report.error.code == "42883"
    assert report.error.hint is not None
    assert "operator(extensions.<=>)" in report.error.hint


def test_bad_names_and_duplicates_are_reported_not_raised(tmp_path: Path) -> None:
    (tmp_path / "20240101000000_a.sql").write_text("select 1;")
    (tmp_path / "20240101000000_b.sql").write_text("select 1;")
    report = check(tmp_path)
    assert report.error is not None
    assert "duplicate" in report.error.message


@pytest.mark.skipif(not any(REAL.glob("*.sql")), reason="no supabase/migrations yet")
def test_real_folder_passes(embedded_server: EmbeddedDatabase) -> None:
    # As a non-superuser, twice over (and each file again alone), with no lint finding.
    report = check(REAL, server=embedded_server)
    assert report.ok, [report.summary(), *map(str, report.findings)]
    assert len(report.applied) == report.total > 0


def test_migrations_run_as_a_non_superuser_that_owns_public(
    tmp_path: Path, embedded_server: EmbeddedDatabase
) -> None:
    from phase3_sdk.db.check import MIGRATION_ROLE, SUPABASE_PUSH_SEARCH_PATH, prepare_migration_role
    from phase3_sdk.db.embedded import apply_shim
    from phase3_sdk.db.migrator import migrate

    (tmp_path / "20240101000000_who.sql").write_text(
        "create table public.whoami as select\n"
        "  current_user::text as who,\n"
        "  (select rolsuper from pg_roles where rolname = current_user) as su,\n"
        "  (select nspowner::regrole::text from pg_namespace where nspname = 'public') as public_owner;\n"
    )
    name = "check_whoami"
    url = embedded_server.create_database(name, template="template0")
    try:
        apply_shim(url)  # what check() does before handing the database to the migration role
        migrate(prepare_migration_role(url), tmp_path, search_path=SUPABASE_PUSH_SEARCH_PATH)
        with psycopg.connect(url) as conn:
            row = conn.execute("select who, su, public_owner from public.whoami").fetchone()
    finally:
        embedded_server.drop_database(name)
    assert row == (MIGRATION_ROLE, False, MIGRATION_ROLE)
