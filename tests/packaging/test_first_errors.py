"""The first errors a new user meets on the command line: one line each, saying what to do, and never a
password, not even part of one."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from phase3_sdk.cli import main
from phase3_sdk.config import Settings, check_db_url
from phase3_sdk.db.embedded import EmbeddedDatabase
from phase3_sdk.errors import ConfigurationError

PHASE3 = Path(sys.executable).parent / "phase3"
PASSWORD = "s3cr3t-Passw0rd"


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("phase3: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"host=db.example.test password={PASSWORD}", "is not a URL: expected postgresql://"),
        (f"db.example.test:5432 {PASSWORD}", "is not a URL: expected postgresql://"),
        (f"https://abc.supabase.co?key={PASSWORD}", "https:// URL (that looks like the project's REST URL"),
        (f"http://postgres:{PASSWORD}@db.example.test/postgres", "http:// URL"),
        (f"postgress://postgres:{PASSWORD}@db.example.test/postgres", "postgress:// URL"),
    ],
)
def test_a_url_that_is_not_a_postgres_url_says_what_is_expected_and_echoes_nothing(
    url: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "status", "--db-url", url]) == 1
    line = one_error_line(capsys)
    assert says in line
    assert "postgresql://USER:PASSWORD@HOST:5432/DATABASE" in line
    assert PASSWORD not in line
    assert "db.example.test" not in line  # nothing of what was typed comes back


def test_an_unescaped_at_in_the_password_is_caught_before_libpq_prints_part_of_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # libpq would take "ss@w0rd" as the start of the host name and print it in its error.
    url = "postgresql://postgres:p@ss@w0rd@db.example.test:5432/postgres"
    assert main(["db", "status", "--db-url", url]) == 1
    line = one_error_line(capsys)
    assert "%40" in line
    for part in ("p@ss", "ss@w0rd", "w0rd"):
        assert part not in line


def test_settings_check_the_url_from_the_environment_and_name_the_variable() -> None:
    settings = Settings.from_env(None, environ={"SUPABASE_DB_URL": f"mysql://root:{PASSWORD}@h/db"})
    with pytest.raises(ConfigurationError) as caught:
        settings.require_db_url()
    assert "SUPABASE_DB_URL is a mysql:// URL" in str(caught.value)
    assert PASSWORD not in str(caught.value)
    # From Python, nothing names a command-line flag.
    assert "--" not in str(caught.value)
    assert check_db_url(" postgres://u:p@h/db ") == "postgres://u:p@h/db"


def test_a_refused_login_fails_at_once_in_one_line(
    embedded_server: EmbeddedDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    """The worker used to print a dozen pool warnings over 10 s and end on pool_timeout, hiding the cause."""
    url = embedded_server.url.replace("postgresql://postgres:", "postgresql://nobody:")
    done = subprocess.run(
        [str(PHASE3), "synthesis", "worker", "--once", "--db-url", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "WARNING" not in done.stderr
    assert "pool_timeout" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("phase3: error:")]
    assert errors == [
        'phase3: error: [login_refused] the database refused the login: role "nobody" does not exist; hint: '
        "check the user, password and database name in the URL (SUPABASE_DB_URL); on Supabase: Project "
        "Settings > Database > Connection string"
    ]


@pytest.fixture
def plain_db_url(embedded_server: EmbeddedDatabase) -> Iterator[str]:
    """A plain PostgreSQL database: no Supabase roles, no auth schema, no shim."""
    name = "plain_first_errors"
    embedded_server.drop_database(name)
    yield embedded_server.create_database(name)
    embedded_server.drop_database(name)


def test_migrate_on_plain_postgres_says_shim_and_db_shim_applies_it(
    plain_db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Roles are cluster-wide, so on the test server anon may exist already; the auth schema does not.
    assert main(["db", "migrate", "--db-url", plain_db_url]) == 1
    line = one_error_line(capsys)
    assert "plain PostgreSQL" in line
    assert "phase3 db shim" in line
    with psycopg.connect(plain_db_url) as conn:  # refused before anything was written
        assert conn.execute("select to_regclass('supabase_migrations.schema_migrations')").fetchone() == (
            None,
        )


def test_db_shim_then_migrate_gives_a_working_schema(
    plain_db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "shim", "--db-url", plain_db_url]) == 0
    assert "phase3 db migrate" in capsys.readouterr().out
    assert main(["db", "shim", "--db-url", plain_db_url]) == 0  # re-runnable
    assert main(["db", "migrate", "--db-url", plain_db_url]) == 0
    capsys.readouterr()
    assert main(["db", "verify", "--db-url", plain_db_url]) == 0


def test_a_never_migrated_database_says_run_phase3_db_migrate(
    shim_db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["synthesis", "worker", "--once", "--db-url", shim_db_url]) == 1
    line = one_error_line(capsys)
    assert "run phase3 db migrate" in line
    assert "explicit type casts" not in line  # Postgres' hint for 42883 points the wrong way here


def test_a_password_the_server_would_echo_is_scrubbed_from_the_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """libpq prints the host it could not reach; a password that ended up there must not come back."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SUPABASE_DB_URL", raising=False)
    # A valid URL whose "host" is a socket folder named like the password: libpq names it in its error.
    (tmp_path / ".env").write_text(
        f"SUPABASE_DB_URL=postgresql://postgres:{PASSWORD}@/x?host=/nonexistent/{PASSWORD}\n"
    )
    assert main(["db", "status"]) == 1
    line = one_error_line(capsys)
    assert PASSWORD not in line
    assert "***" in line


def test_a_missing_table_says_run_phase3_db_migrate(
    shim_db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """42P01 from a command that reads a Phase 3 table, through the SDK, on a database never migrated."""
    import argparse

    from phase3_sdk import Phase3Client, cli
    from phase3_sdk.cli import _registry

    def count_tools(_: argparse.Namespace) -> int:
        with Phase3Client.connect(shim_db_url) as client:
            print(client.tools.count())
        return 0

    def add(subparsers: cli.Subparsers) -> None:
        subparsers.add_parser("count-tools").set_defaults(handler=count_tools)

    monkeypatch.setattr(_registry, "registered", [add])
    assert main(["count-tools"]) == 1
    line = one_error_line(capsys)
    assert line.startswith("phase3: error: [42P01] ")
    assert "run phase3 db migrate" in line
