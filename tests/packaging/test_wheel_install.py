"""From the built wheel, in a clean virtual environment, outside the repository: what a new user meets.

The wheel must carry the schema (``supabase/migrations`` as ``phase3_sdk/_migrations``), so that ``phase3
db check``, ``phase3 db migrations export`` and ``Phase3Client.local()`` work with no checkout around.
Dependencies install from the package index (pinned to CI's versions by constraints/dev.txt), which CI
reaches; pip's cache makes a second run much faster.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "supabase" / "migrations"
CONSTRAINTS = ROOT / "constraints" / "dev.txt"

QUICKSTART = """
from phase3_sdk import Phase3Client

with Phase3Client.local() as client:
    me = client.local_user("ada@example.com")
    me.tools.create(name="double", code="return { result: params.x * 2 };")
    print(me.tools.run("double", {"x": 21}).output["result"])
"""


def _run(args: list[str], *, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    # No PYTHONPATH or virtualenv of ours may leak into the new environment.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)], cwd=out
    )
    assert built.returncode == 0, built.stderr
    (path,) = out.glob("phase3_sdk-*.whl")
    return path


def test_the_wheel_carries_the_migrations_byte_for_byte(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        packaged = {
            Path(name).name: whl.read(name)
            for name in whl.namelist()
            if name.startswith("phase3_sdk/_migrations/") and name.endswith(".sql")
        }
        assert "phase3_sdk/db/shim.sql" in whl.namelist()
    on_disk = {p.name: p.read_bytes() for p in MIGRATIONS.glob("*.sql")}
    assert on_disk, "the repository has no migrations?"
    assert packaged == on_disk


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv")
    made = _run([sys.executable, "-m", "venv", str(venv)], cwd=venv)
    assert made.returncode == 0, made.stderr
    pip = _run(
        # The base is what a REST app needs; the embedded database, the command and JS tools are extras.
        [str(venv / "bin" / "pip"), "install", "-q", "-c", str(CONSTRAINTS), f"{wheel}[local,cli,skills]"],
        cwd=venv,
        timeout=900,
    )
    assert pip.returncode == 0, pip.stderr
    return venv / "bin"


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_a_new_user_gets_from_the_wheel_to_a_working_app_outside_the_repository(
    installed: Path, tmp_path: Path
) -> None:
    app = tmp_path / "my-app"
    app.mkdir()
    assert ROOT not in app.parents

    check = _run([str(installed / "phase3"), "db", "check"], cwd=app)
    assert check.returncode == 0, check.stderr
    n = len(list(MIGRATIONS.glob("*.sql")))
    assert check.stdout.startswith(f"ok: {n} of {n} migrations apply")

    export = _run([str(installed / "phase3"), "db", "migrations", "export", "supabase/migrations"], cwd=app)
    assert export.returncode == 0, export.stderr
    assert {p.name: p.read_bytes() for p in (app / "supabase" / "migrations").iterdir()} == {
        p.name: p.read_bytes() for p in MIGRATIONS.glob("*.sql")
    }

    (app / "quickstart.py").write_text(QUICKSTART)
    try:
        up = _run([str(installed / "phase3"), "dev", "up"], cwd=app)
        assert up.returncode == 0, up.stderr
        assert up.stdout.startswith("postgresql://")
        # The quickstart's Phase3Client.local() attaches to the server `dev up` left running.
        quick = _run([str(installed / "python"), "quickstart.py"], cwd=app)
        assert quick.returncode == 0, quick.stderr
        assert quick.stdout.strip() == "42"
        assert (app / ".phase3" / "dev" / "PG_VERSION").exists()
    finally:
        down = _run([str(installed / "phase3"), "dev", "down"], cwd=app)
    assert down.returncode == 0, down.stderr
