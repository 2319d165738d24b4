"""Where the migrations come from: one source of truth, found from a checkout and from an installed wheel
(tests/packaging/test_wheel_install.py covers the wheel), and written out for the Supabase CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from phase3_sdk.cli import main
from phase3_sdk.db import migrator
from phase3_sdk.db.embedded import default_migrations_dir as embedded_default
from phase3_sdk.errors import MigrationError

ROOT = Path(__file__).resolve().parents[2]
REPO_MIGRATIONS = ROOT / "supabase" / "migrations"


def test_from_a_checkout_the_default_is_the_repository_folder_wherever_the_process_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert migrator.default_migrations_dir() == REPO_MIGRATIONS
    assert embedded_default() == REPO_MIGRATIONS


def test_export_writes_the_migrations_for_the_supabase_cli_and_never_overwrites_an_edit(
    tmp_path: Path,
) -> None:
    target = tmp_path / "supabase" / "migrations"
    written = migrator.export_migrations(target)
    assert sorted(p.name for p in written) == sorted(p.name for p in REPO_MIGRATIONS.glob("*.sql"))
    assert all((target / p.name).read_bytes() == p.read_bytes() for p in REPO_MIGRATIONS.glob("*.sql"))
    assert migrator.export_migrations(target) == []  # identical files stay as they are

    edited = sorted(target.iterdir())[1]
    edited.write_text("-- my change\n")
    removed = sorted(target.iterdir())[0]
    removed.unlink()
    with pytest.raises(MigrationError, match=edited.name) as caught:
        migrator.export_migrations(target)
    assert "--" not in str(caught.value)
    assert edited.read_text() == "-- my change\n"
    assert not removed.exists()  # refused before anything was written


def test_the_export_command_says_what_it_wrote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = len(list(REPO_MIGRATIONS.glob("*.sql")))
    assert main(["db", "migrations", "export", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {n} of {n} migrations to {tmp_path / 'out'}"
    assert main(["db", "migrations", "export", str(tmp_path / "out")]) == 0
    assert f"wrote 0 of {n}" in capsys.readouterr().out


def test_errors_raised_to_python_name_no_command_line_flag(tmp_path: Path) -> None:
    for call in (
        lambda: migrator.discover(tmp_path / "missing"),
        lambda: migrator.default_migrations_dir(tmp_path),
    ):
        with pytest.raises(MigrationError) as caught:
            call()
        assert "--" not in str(caught.value)


def test_the_command_line_names_its_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "check", "--migrations", str(tmp_path / "missing")]) == 1
    assert "pass --migrations DIR" in capsys.readouterr().err
