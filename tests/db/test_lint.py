"""``phase3 db lint`` and the checks ``db check`` adds: each class of finding is caught, the project has none.

Every folder under tests/fixtures/lint is a small schema that is clean except for the one thing its name
says; ``db check`` must report exactly that, once, with the object and the fix.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from phase3_sdk.cli import main
from phase3_sdk.db.check import check
from phase3_sdk.db.embedded import EmbeddedDatabase
from phase3_sdk.db.lint import RULES, lint

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "lint"
SUPERUSER = ROOT / "tests" / "fixtures" / "migrations_superuser"
REAL = ROOT / "supabase" / "migrations"

CLASSES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


def test_every_rule_has_a_fixture() -> None:
    assert set(CLASSES) == {*RULES, "not_rerunnable"}


@pytest.mark.parametrize("rule", CLASSES)
def test_each_class_is_caught_with_its_object_and_fix(rule: str, embedded_server: EmbeddedDatabase) -> None:
    # pgvector in public cannot happen as Supabase's postgres role (the check pre-creates it in extensions):
    # that class is shown with the superuser applying a bare `create extension vector`.
    superuser = rule == "extension_in_public"
    report = check(FIXTURES / rule, server=embedded_server, superuser=superuser, extensions=())
    assert report.error is None, report.summary()
    assert [f.rule for f in report.findings] == [rule]
    (finding,) = report.findings
    line = finding.line()
    assert "\n" not in line
    assert line.startswith(f"{rule}: {finding.object}: ")
    assert "; fix: " in line
    assert not report.ok


def test_an_allowed_security_definer_function_is_not_a_finding(embedded_server: EmbeddedDatabase) -> None:
    folder = FIXTURES / "security_definer_executable"
    for allowed in (
        "public.clear_notes",
        "public.clear_notes(uuid)",
        "public.clear_notes( UUID )",
        "public.clear_notes(pg_catalog.uuid)",
    ):
        report = check(folder, server=embedded_server, allow_definer=[allowed])
        assert report.ok, report.summary()
    report = check(folder, server=embedded_server, allow_definer=["public.clear_notes(text)"])
    assert [f.object for f in report.findings] == ["function public.clear_notes(uuid)"]


def test_the_projects_schema_has_no_finding(db_url: str) -> None:
    assert lint(db_url) == []


def test_the_four_findings_splinter_made_on_the_old_schema_are_caught(
    embedded_server: EmbeddedDatabase,
) -> None:
    # What the schema had before: an owner policy plus a public-read policy, and counters bumped by
    # security definer functions any signed-in user could call.
    name = "lint_old_shape"
    url = embedded_server.create_database(name, template="phase3_template")
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            for table in ("custom_tools", "composite_skills"):
                conn.execute(
                    f"create policy {table}_public_read on public.{table} for select to authenticated"
                    " using (visibility = 'public')"
                )
            for function, table, column in (
                ("record_tool_use", "custom_tools", "usage_count"),
                ("record_skill_execution", "composite_skills", "execution_count"),
            ):
                conn.execute(
                    f"create function public.{function}(p_id uuid) returns void language sql security definer"
                    f" set search_path = '' as $$ update public.{table} set {column} = {column} + 1"
                    " where id = p_id $$"
                )
                conn.execute(f"revoke execute on function public.{function}(uuid) from public, anon")
        found = [(f.rule, f.object) for f in lint(url)]
    finally:
        embedded_server.drop_database(name)
    assert found == [
        ("multiple_permissive_policies", "table public.composite_skills"),
        ("multiple_permissive_policies", "table public.custom_tools"),
        ("security_definer_executable", "function public.record_skill_execution(uuid)"),
        ("security_definer_executable", "function public.record_tool_use(uuid)"),
    ]


def test_policy_calls_are_judged_one_by_one(db_url: str, embedded_server: EmbeddedDatabase) -> None:
    # One wrapped call must not excuse a bare one elsewhere in the same policy.
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "create policy mixed on public.memory_patterns as restrictive for update to authenticated"
            " using ((select auth.uid()) = user_id and auth.jwt() ->> 'aal' = 'aal2')"
        )
        try:
            findings = lint(db_url)
        finally:
            conn.execute("drop policy mixed on public.memory_patterns")
    assert [(f.rule, f.problem) for f in findings] == [("auth_rls_initplan", "calls auth.jwt() once per row")]


def test_a_superuser_only_migration_fails_the_check_with_42501_file_and_line(
    embedded_server: EmbeddedDatabase,
) -> None:
    report = check(SUPERUSER, server=embedded_server)
    err = report.error
    assert err is not None
    assert (err.code, err.file, err.line) == ("42501", str(SUPERUSER / "20240101000100_audit_ddl.sql"), 14)
    assert "event trigger" in err.message
    assert err.hint is not None
    assert "not a superuser" in err.hint
    assert [m.name for m in report.applied] == ["notes"]
    # Applied by a superuser, as a plain local database would, the same folder passes: what the check is for.
    assert check(SUPERUSER, server=embedded_server, superuser=True).error is None


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("alter role authenticated superuser", "permission denied to alter role"),
        ("create role admin superuser", "permission denied to create role"),
        ("alter database postgres set log_statement = 'all'", "must be owner of database"),
    ],
)
def test_other_superuser_statements_fail_the_check(
    statement: str, message: str, tmp_path: Path, embedded_server: EmbeddedDatabase
) -> None:
    (tmp_path / "20240101000000_x.sql").write_text(f"-- needs a superuser\n\n{statement};\n")
    report = check(tmp_path, server=embedded_server)
    assert report.error is not None
    assert (report.error.code, report.error.line) == ("42501", 3)
    assert message in report.error.message


def test_cli_lint_prints_one_line_per_finding(
    shim_db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from phase3_sdk.db import migrator

    migrator.migrate(shim_db_url, FIXTURES / "unindexed_foreign_key")
    migrator.apply_again(shim_db_url, migrator.discover(FIXTURES / "function_search_path_mutable"))
    assert main(["db", "lint", "--db-url", shim_db_url]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [f.line() for f in lint(shim_db_url)]
    assert len(captured.out.splitlines()) == 2
    assert captured.err.strip() == "phase3: error: lint: 2 findings"


def test_cli_check_fails_on_findings_and_passes_the_project(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "check", "--migrations", str(FIXTURES / "security_definer_view")]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("security_definer_view: view public.note_bodies: ")
    assert captured.err.strip().startswith("phase3: error: check: 1 finding")
    assert (
        main(
            [
                "db",
                "check",
                "--migrations",
                str(FIXTURES / "security_definer_executable"),
                "--allow-definer",
                "public.clear_notes",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.startswith("ok: ")


def test_cli_check_names_the_superuser_statement_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "check", "--migrations", str(SUPERUSER)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"phase3: error: {SUPERUSER / '20240101000100_audit_ddl.sql'}:14: [42501] ")
    assert "not a superuser" in err[0]


def test_a_policy_for_public_counts_for_the_api_roles(shim_db_url: str) -> None:
    with psycopg.connect(shim_db_url, autocommit=True) as conn:
        conn.execute("create table public.posts (id int primary key, author uuid, published boolean)")
        conn.execute("alter table public.posts enable row level security")
        conn.execute("create policy readable on public.posts for select using (published)")
        conn.execute(
            "create policy own on public.posts for all to authenticated"
            " using ((select auth.uid()) = author) with check ((select auth.uid()) = author)"
        )
    assert [(f.rule, f.problem) for f in lint(shim_db_url)] == [
        (
            "multiple_permissive_policies",
            "2 permissive policies for role authenticated on select: own, readable",
        )
    ]
