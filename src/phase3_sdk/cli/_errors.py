"""Every failure of a command as one line, ``phase3: error: ...``: never a traceback, never a password."""

from __future__ import annotations

import argparse
import contextlib
import os

from phase3_sdk._extras import missing_extra

try:
    import psycopg
except ImportError as exc:
    raise missing_extra(exc, "the phase3 command", "cli") from None

from phase3_sdk.errors import Phase3Error

__all__ = ["error_line", "one_line"]


def error_line(exc: Exception, args: argparse.Namespace) -> str:
    """The one line for a command's failure, scrubbed of the database password it was given.

    An error that is not the SDK's or the database's (a bug, a server that will not start) is re-raised
    when ``PHASE3_DEBUG`` is set, for its traceback.
    """
    if isinstance(exc, Phase3Error):
        message = _unmigrated(exc.code, exc.message) or str(exc)
    elif isinstance(exc, psycopg.Error):
        sqlstate = f"[{exc.sqlstate}] " if exc.sqlstate else ""
        primary = exc.diag.message_primary or str(exc)
        message = _unmigrated(exc.sqlstate, primary) or sqlstate + primary
    else:
        if os.environ.get("PHASE3_DEBUG"):
            raise exc
        message = f"{type(exc).__name__}: {exc} (set PHASE3_DEBUG=1 for a traceback)"
    return f"phase3: error: {_scrub(one_line(message), args)}"


def one_line(text: str) -> str:
    """``text``'s non-blank lines joined by spaces."""
    return " ".join(part.strip() for part in text.strip().splitlines() if part.strip())


#: A missing table (42P01) or function (42883): what a database the migrations never ran on answers.
_UNMIGRATED = ("42P01", "42883")


def _unmigrated(sqlstate: str | None, primary: str) -> str | None:
    """The one line for an error that means the schema is missing, or None for any other error.

    Postgres' own hint for 42883 (add explicit casts) sends users the wrong way here, so it is dropped.
    """
    if sqlstate not in _UNMIGRATED:
        return None
    return (
        f"[{sqlstate}] {primary}: this database lacks the Phase 3 schema (or part of it); "
        "run phase3 db migrate (phase3 db status lists what is pending)"
    )


def _scrub(message: str, args: argparse.Namespace) -> str:
    """Remove any database password the command was given from ``message``, and each '@'-separated part of
    it (libpq reads an unescaped '@' in a password as the start of the host name and may print the rest).
    """
    from urllib.parse import unquote, urlsplit

    urls = [getattr(args, "db_url", None), os.environ.get("SUPABASE_DB_URL")]
    with contextlib.suppress(Exception):  # a .env that cannot be read has no password to hide
        from phase3_sdk.config import Settings

        from_file = Settings.from_env(getattr(args, "env_file", ".env")).db_url
        urls.append(from_file.get_secret_value() if from_file else None)
    for url in filter(None, urls):
        authority = str(url).partition("://")[2].split("/", 1)[0]
        userinfo = authority.rpartition("@")[0]
        password = userinfo.partition(":")[2]
        if not password:
            with contextlib.suppress(ValueError):
                password = urlsplit(str(url)).password or ""
        for secret in {password, unquote(password), *password.split("@")}:
            if len(secret) >= 3:
                message = message.replace(secret, "***")
    return message
