"""``examples/demo.py --keep``: the printed URL works after the demo exits, and a second run works too.

Before: the server was stopped on exit (the printed URL pointed at nothing), and a second ``--keep`` run
died on a raw ``UniqueViolation`` (alice@example.com already in auth.users).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from phase3_sdk.db.embedded import EmbeddedDatabase

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"


def run_demo(path: Path) -> str:
    done = subprocess.run(
        [sys.executable, str(DEMO), "--keep", "--path", str(path), "--memories", "150"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


@pytest.fixture
def kept(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "demo"
    yield path
    if EmbeddedDatabase.running_url(path) is not None:
        EmbeddedDatabase(path, persistent=True).start().stop()


@pytest.mark.timeout(600)
def test_keep_leaves_a_running_database_and_can_run_again(kept: Path) -> None:
    first = run_demo(kept)
    url = re.search(r"still running: (\S+)", first)
    assert url is not None, first[-1500:]
    assert f"phase3 dev down --path {kept}" in first
    with psycopg.connect(url.group(1)) as conn:  # the server outlived the demo's process
        emails = conn.execute("select email from auth.users order by email").fetchall()
        assert emails == [("alice@example.com",), ("bob@example.com",)]
        first_alice = conn.execute("select id from auth.users where email = 'alice@example.com'").fetchone()

    second = run_demo(kept)
    assert "removed alice@example.com and their rows from the previous run" in second
    with psycopg.connect(url.group(1)) as conn:
        alice = conn.execute("select id from auth.users where email = 'alice@example.com'").fetchone()
        assert alice != first_alice
        # The previous run's rows went with its user: one demo's worth of memories, not two.
        count = conn.execute("select count(*) from conversations").fetchone()
        assert count == (150,)
