from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from phase3_sdk.db import migrator
from phase3_sdk.errors import MigrationError

REAL = Path(__file__).resolve().parents[2] / "supabase" / "migrations"


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def scalar(url: str, query: str) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def test_discover_orders_by_version_and_ignores_other_files(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        {"20240102000000_b.sql": "", "20240101000000_a.sql": "", "README.md": "", ".gitkeep": ""},
    )
    assert [(m.version, m.name) for m in migrator.discover(folder)] == [
        ("20240101000000", "a"),
        ("20240102000000", "b"),
    ]


def test_discover_rejects_badly_named_files_by_name(tmp_path: Path) -> None:
    folder = write(tmp_path, {"20240101000000_ok.sql": "", "2024_short.sql": "", "create_things.sql": ""})
    with pytest.raises(MigrationError, match=r"2024_short\.sql, create_things\.sql"):
        migrator.discover(folder)


def test_discover_rejects_duplicate_versions_naming_both(tmp_path: Path) -> None:
    folder = write(tmp_path, {"20240101000000_a.sql": "", "20240101000000_b.sql": ""})
    with pytest.raises(MigrationError, match=r"20240101000000_a\.sql and 20240101000000_b\.sql"):
        migrator.discover(folder)


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="not found"):
        migrator.discover(tmp_path / "nope")


def test_migrate_records_like_the_cli_and_is_idempotent(shim_db_url: str, tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        {
            "20240101000000_things.sql": "-- things\ncreate table public.things (id int);\n"
            "insert into public.things values (1);\n",
            "20240101000100_more.sql": "alter table public.things add column name text;\n-- trailing\n",
        },
    )
    seen: list[str] = []
    applied = migrator.migrate(shim_db_url, folder, on_progress=lambda m: seen.append(m.version))
    assert [m.version for m in applied] == seen == ["20240101000000", "20240101000100"]
    with psycopg.connect(shim_db_url) as conn:
        rows = conn.execute(
            "select version, name, statements from supabase_migrations.schema_migrations order by version"
        ).fetchall()
    assert rows == [
        (
            "20240101000000",
            "things",
            ["-- things\ncreate table public.things (id int)", "insert into public.things values (1)"],
        ),
        ("20240101000100", "more", ["alter table public.things add column name text", "-- trailing"]),
    ]
    assert migrator.migrate(shim_db_url, folder) == []
    assert scalar(shim_db_url, "select count(*) from public.things") == 1


def test_status_applied_pending_unknown(shim_db_url: str, tmp_path: Path) -> None:
    folder = write(tmp_path / "m", {"20240101000000_a.sql": "select 1;", "20240101000100_b.sql": "select 2;"})
    migrator.migrate(shim_db_url, folder)
    (folder / "20240101000100_b.sql").unlink()
    write(folder, {"20240101000200_c.sql": "select 3;"})
    assert [(s.version, s.state) for s in migrator.status(shim_db_url, folder)] == [
        ("20240101000000", "applied"),
        ("20240101000200", "pending"),
        ("20240101000100", "unknown"),
    ]


def test_failure_mid_file_rolls_the_file_back_and_names_the_line(shim_db_url: str, tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        {
            "20240101000000_ok.sql": "create table public.kept (id int);",
            "20240101000100_bad.sql": "create table public.half (id int);\n"
            "insert into public.half values (1);\n"
            "\n"
            "select *\n"
            "  from public.missing_table;\n"
            "create table public.never (id int);\n",
            "20240101000200_after.sql": "create table public.after (id int);",
        },
    )
    with pytest.raises(MigrationError) as info:
        migrator.migrate(shim_db_url, folder)
    err = info.value
    assert err.file is not None
    assert err.file.endswith("20240101000100_bad.sql")
    assert err.line == 5  # the line of `public.missing_table`, inside a statement starting on line 4
    assert err.code == "42P01"
    assert err.hint
    assert str(err).startswith(f"{err.file}:5: [42P01]")
    # The first file stays; nothing of the failing one does, and it is not recorded; the next never ran.
    assert scalar(shim_db_url, "select to_regclass('public.kept') is not null") is True
    assert scalar(shim_db_url, "select to_regclass('public.half') is null") is True
    assert scalar(
        shim_db_url, "select array_agg(version order by version) from supabase_migrations.schema_migrations"
    ) == ["20240101000000"]
    assert scalar(shim_db_url, "select to_regclass('public.after') is null") is True


def test_error_inside_a_do_block_reports_its_context(shim_db_url: str, tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        {"20240101000000_do.sql": "select 1;\n\ndo $$\nbegin\n  perform public.nope();\nend\n$$;\n"},
    )
    with pytest.raises(MigrationError) as info:
        migrator.migrate(shim_db_url, folder)
    assert info.value.line == 3
    assert info.value.code == "42883"
    assert info.value.details
    assert "line 3" in info.value.details


def test_create_policy_if_not_exists_gets_the_drop_then_create_hint(shim_db_url: str, tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        {
            "20240101000000_p.sql": "create table public.t (id int);\n"
            "create policy if not exists p on public.t for select using (true);\n"
        },
    )
    with pytest.raises(MigrationError) as info:
        migrator.migrate(shim_db_url, folder)
    assert (info.value.code, info.value.line) == ("42601", 2)
    assert info.value.hint
    assert "DROP POLICY IF EXISTS" in info.value.hint


def test_hint_table() -> None:
    assert "extensions.vector(768)" in (migrator.hint_for("42704", 'type "vector" does not exist') or "")
    assert "extensions.vector(768)" in (migrator.hint_for("42704", "type vector does not exist") or "")
    assert "operator(extensions.<=>)" in (
        migrator.hint_for("42883", "operator does not exist: extensions.vector <=> extensions.vector") or ""
    )
    assert "re-runnable" in (migrator.hint_for("42P07", 'relation "t" already exists') or "")
    assert migrator.hint_for("XX000", "something odd") is None


@pytest.mark.skipif(not any(REAL.glob("*.sql")), reason="no supabase/migrations yet")
def test_real_migrations_apply_once_and_verify(shim_db_url: str) -> None:
    applied = migrator.migrate(shim_db_url, REAL)
    assert len(applied) == len(list(REAL.glob("*.sql")))
    assert migrator.migrate(shim_db_url, REAL) == []
    assert {s.state for s in migrator.status(shim_db_url, REAL)} == {"applied"}
    checks = migrator.verify(shim_db_url)
    assert [c for c in checks if not c.ok] == []
    assert {c.name for c in checks} >= {f"table public.{t}" for t in migrator.EXPECTED_TABLES}


@pytest.mark.skipif(not any(REAL.glob("*.sql")), reason="no supabase/migrations yet")
def test_template_database_is_migrated(db_url: str) -> None:
    assert {s.state for s in migrator.status(db_url, REAL)} == {"applied"}


def test_verify_reports_every_failure_on_an_empty_schema(shim_db_url: str) -> None:
    with psycopg.connect(shim_db_url, autocommit=True) as conn:
        conn.execute("create table public.conversations (id int)")
        conn.execute("create function public.unpinned() returns int language sql as 'select 1'")
    checks = {c.name: c for c in migrator.verify(shim_db_url)}
    assert checks["table public.conversations"].detail == "rls OFF, 0 policies"
    assert not checks["table public.custom_tools"].ok
    assert checks["function public.semantic_search"].detail == "missing"
    assert "public.unpinned()" in checks["functions in public pin search_path"].detail


def test_tricky_sql_applies_statement_by_statement(shim_db_url: str, tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        {
            "20240101000000_tricky.sql": """
create table public."odd;name" (v text);
insert into public."odd;name" values (E'semi;colon \\' quote'), ('dollar $$ ; sign');
create function public.twice(x int) returns int
language sql
immutable
set search_path = ''
begin atomic
  select case when x > 0 then x * 2 else 0 end;
end;
do $outer$
begin
  execute $q$insert into public."odd;name" values ('from do;')$q$;
end
$outer$;
/* a closing comment; with a semicolon */
"""
        },
    )
    migrator.migrate(shim_db_url, folder)
    assert scalar(shim_db_url, 'select count(*) from public."odd;name"') == 3
    assert scalar(shim_db_url, "select public.twice(21)") == 42
    assert (
        scalar(shim_db_url, "select cardinality(statements) from supabase_migrations.schema_migrations") == 5
    )
