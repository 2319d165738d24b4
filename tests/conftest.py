"""Shared fixtures: one real embedded PostgreSQL per test session, a fresh database per test module.

* ``embedded_server`` (session): an :class:`EmbeddedDatabase` in a temp folder with two template
  databases built once: ``phase3_template`` (Supabase shim + the repository's migrations) and
  ``phase3_shim`` (the shim only, for tests that bring their own migrations).
* ``db_url`` (module): a new database cloned from ``phase3_template`` (``CREATE DATABASE ... TEMPLATE``
  takes tens of milliseconds), so modules never see each other's rows.
* ``make_user`` (function): ``make_user(email=None, password=None) -> UUID``, a new ``auth.users`` row in
  the module's database, with a unique email by default.
* ``shim_db_url`` (function): a new database with the shim and no migrations.
* ``wheel`` (session): the wheel built from this checkout (packaging tests install it; the notebook runs
  from it), built once.

The two-backend fixtures (``backend``, ``emulator``, ``router``, ``users``) come from ``support.backends``,
loaded here as a plugin so every folder shares one definition.

Under pytest-xdist every worker builds its own server (a second or so), so no names clash.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from phase3_sdk.db import migrator
from phase3_sdk.db.embedded import EmbeddedDatabase, apply_shim

REPO_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = REPO_ROOT / "supabase" / "migrations"
TEMPLATE_DB = "phase3_template"
SHIM_TEMPLATE_DB = "phase3_shim"

pytest_plugins = ["support.backends"]

MakeUser = Callable[..., uuid.UUID]

_counter = itertools.count()


def _db_name(prefix: str, label: str) -> str:
    """A valid, unique database name that still says which test made it."""
    slug = re.sub(r"[^a-z0-9_]", "_", label.lower())[-30:]
    digest = hashlib.sha1(label.encode()).hexdigest()[:6]
    return f"{prefix}_{slug}_{digest}_{next(_counter)}".strip("_")[:63]


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Give the session a temp root of its own, outside ``/tmp/pytest-of-<user>``.

    As root, pgserver runs PostgreSQL as a user of its own, which must traverse every folder above a data
    directory or a socket (``tmp_path`` in many tests). pgserver opens them up, but every pytest session
    that starts on the machine closes ``/tmp/pytest-of-<user>`` again (0700), and the next pg_ctl, initdb
    or new connection of a running test fails with "Permission denied". Under xdist the workers' folders
    sit below the controller's, which is the only one that sets this.
    """
    if config.option.basetemp is None and not hasattr(config, "workerinput"):
        config.option.basetemp = tempfile.mkdtemp(prefix="phase3-pytest-")
        config.add_cleanup(lambda: shutil.rmtree(config.option.basetemp, ignore_errors=True))


@pytest.fixture(scope="session")
def embedded_server() -> Iterator[EmbeddedDatabase]:
    """The session's embedded server, with its template databases ready."""
    with EmbeddedDatabase() as db:
        shim_url = db.create_database(SHIM_TEMPLATE_DB)
        apply_shim(shim_url)
        db.create_database(TEMPLATE_DB, template=SHIM_TEMPLATE_DB)
        if any(MIGRATIONS_DIR.glob("*.sql")):
            migrator.migrate(db.server_url(TEMPLATE_DB), MIGRATIONS_DIR)
        yield db


@pytest.fixture(scope="module")
def db_url(embedded_server: EmbeddedDatabase, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of its own for this test module, migrated (a clone of the template)."""
    name = _db_name("m", request.module.__name__)
    url = embedded_server.create_database(name, template=TEMPLATE_DB)
    yield url
    embedded_server.drop_database(name)


@pytest.fixture
def shim_db_url(embedded_server: EmbeddedDatabase, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new database with the Supabase shim (and pgvector in ``extensions``) but no migrations."""
    name = _db_name("s", request.node.name)
    url = embedded_server.create_database(name, template=SHIM_TEMPLATE_DB)
    yield url
    embedded_server.drop_database(name)


@pytest.fixture
def make_user(db_url: str) -> MakeUser:
    """Return ``make_user(email=None, password=None) -> UUID`` creating users in this module's database."""
    from phase3_sdk.db.embedded import create_auth_user

    def make(email: str | None = None, password: str | None = None) -> uuid.UUID:
        return create_auth_user(db_url, email or f"user-{uuid.uuid4().hex[:12]}@example.test", password)

    return make


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this checkout, as ``pip wheel`` builds it (no dependencies)."""
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(REPO_ROOT)],
        cwd=out,
        # Nothing of this process's import path may reach the build.
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (path,) = out.glob("phase3_sdk-*.whl")
    return path
