"""Blocking helpers behind ``Phase3Client.local()``: the ``phase3 dev`` database, started or attached to.

Kept apart from the clients (both flavours call these through ``_flavour``'s ``run_blocking``) and from
``db/`` (which they only use): starting PostgreSQL and applying migrations are blocking work either way.
"""

from __future__ import annotations

import re
from pathlib import Path
from uuid import UUID

from .errors import InvalidInputError

#: Where ``phase3 dev up`` keeps its database, relative to the working directory: the same folder, so a
#: notebook's ``Phase3Client.local()`` and the command line share one database.
DEFAULT_LOCAL_PATH = Path(".phase3") / "dev"

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def start_local(path: str | Path, migrations_dir: str | Path | None) -> str:
    """Start the embedded server in ``path`` (or attach to the one running there), apply the Supabase shim
    and the migrations, and return its superuser URL. The server keeps running after this process ends,
    as ``phase3 dev up`` leaves it; ``phase3 dev down`` stops it."""
    from .db.embedded import EmbeddedDatabase

    db = EmbeddedDatabase(path, persistent=True)
    db.start()
    db.setup(migrations_dir)
    return db.url


def local_user_id(url: str, email: str) -> UUID:
    """The id of the ``auth.users`` row with ``email``, created if there is none (so re-running a notebook
    cell gives the same user)."""
    if not isinstance(email, str) or not _EMAIL.match(email):
        raise InvalidInputError(f"email must look like name@example.com, got {email!r}", field="email")
    import psycopg

    from .db.embedded import create_auth_user

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "select id from auth.users where lower(email) = lower(%s) order by created_at limit 1", (email,)
        ).fetchone()
    if row is not None:
        return UUID(str(row[0]))
    return create_auth_user(url, email)
