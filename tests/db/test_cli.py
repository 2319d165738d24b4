from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from phase3_sdk import __version__
from phase3_sdk.cli import main

ROOT = Path(__file__).resolve().parents[2]
BROKEN = ROOT / "tests" / "fixtures" / "migrations_broken"
REAL = ROOT / "supabase" / "migrations"
PHASE3 = Path(sys.executable).parent / "phase3"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"phase3 {__version__}"


@pytest.mark.parametrize("command", [[str(PHASE3)], [sys.executable, "-m", "phase3_sdk.cli"]])
def test_the_console_script_and_python_m_run_the_same_command(command: list[str]) -> None:
    done = subprocess.run([*command, "--version"], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, f"phase3 {__version__}"), done.stderr


def test_db_check_on_the_broken_folder_is_one_line_naming_file_and_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["db", "check", "--migrations", str(BROKEN)]) == 1
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("phase3:")]
    assert len(errors) == 1
    assert errors[0].startswith(f"phase3: error: {BROKEN / '20240101000100_match_notes.sql'}:7: [42704]")
    assert "extensions.vector(768)" in errors[0]
    assert "Traceback" not in captured.err


@pytest.mark.skipif(not any(REAL.glob("*.sql")), reason="no supabase/migrations yet")
def test_db_check_on_the_real_folder_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "check", "--migrations", str(REAL)]) == 0
    assert capsys.readouterr().out.startswith("ok: ")


def test_db_commands_against_a_url(
    shim_db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "20240101000000_a.sql").write_text("create table public.a (id int);")
    (tmp_path / "20240101000100_b.sql").write_text("create table public.b (id int);")
    args = ["--migrations", str(tmp_path), "--db-url", shim_db_url]
    assert main(["db", "status", *args]) == 1  # pending migrations
    assert "pending" in capsys.readouterr().out
    assert main(["db", "migrate", *args]) == 0
    captured = capsys.readouterr()
    assert "applied 2 migrations" in captured.out
    assert "20240101000000_a.sql" in captured.err
    assert main(["db", "migrate", *args]) == 0
    assert "applied 0 migrations" in capsys.readouterr().out
    assert main(["db", "status", *args]) == 0
    # verify fails here (none of the Phase 3 tables), with a table on stdout and one error line.
    assert main(["db", "verify", "--db-url", shim_db_url]) == 1
    captured = capsys.readouterr()
    assert "public.conversations" in captured.out
    assert captured.err.startswith("phase3: error: verify failed")


def test_missing_db_url_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SUPABASE_DB_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["db", "verify"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("phase3: error: no database URL: set SUPABASE_DB_URL")


def test_db_url_comes_from_the_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SUPABASE_DB_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("SUPABASE_DB_URL=postgresql://nobody@/nowhere?host=/nonexistent\n")
    assert main(["db", "verify"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("phase3: error: ")
    assert err.count("\n") == 1
    assert "/nonexistent" in err  # it tried the URL from .env
    assert "SUPABASE_DB_URL" not in os.environ


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PHASE3), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_dev_up_url_down_outlives_the_cli(tmp_path: Path) -> None:
    migrations = tmp_path / "supabase" / "migrations"
    migrations.mkdir(parents=True)
    (migrations / "20240101000000_t.sql").write_text("create table public.t (id int);")
    try:
        up = run("dev", "up", cwd=tmp_path)
        assert up.returncode == 0, up.stderr
        url = up.stdout.strip()
        assert url.startswith("postgresql://")
        assert "/phase3?" in url
        assert (tmp_path / ".phase3" / "dev" / "PG_VERSION").exists()
        # The `up` process has exited; the server must still answer.
        import psycopg

        with psycopg.connect(url) as conn:
            assert conn.execute("select to_regclass('public.t') is not null").fetchone() == (True,)
        again = run("dev", "up", cwd=tmp_path)
        assert again.returncode == 0
        assert again.stdout.strip() == url
        got = run("dev", "url", cwd=tmp_path)
        assert (got.returncode, got.stdout.strip()) == (0, url)
    finally:
        down = run("dev", "down", cwd=tmp_path)
    assert down.returncode == 0, down.stderr
    gone = run("dev", "url", cwd=tmp_path)
    assert gone.returncode == 1
    assert gone.stderr.startswith("phase3: error: no dev database running in .phase3/dev")


def test_other_modules_can_add_command_groups(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from phase3_sdk import cli
    from phase3_sdk.cli import _registry

    monkeypatch.setattr(_registry, "registered", [])

    @cli.register_commands
    def add_hello_commands(subparsers: cli.Subparsers) -> None:
        p = subparsers.add_parser("hello")
        p.add_argument("name")

        def hello(args: argparse.Namespace) -> int:
            print(f"hello {args.name}")
            return 0

        p.set_defaults(handler=hello)

    assert main(["hello", "world"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "hello world\n"
    assert captured.err == ""
