"""psycopg and pool errors as the SDK's errors (the SQLSTATE decides the class, as for PostgREST)."""

from __future__ import annotations

from ..._extras import missing_extra

try:
    import psycopg
except ImportError as exc:
    raise missing_extra(exc, "the Postgres backend (connect(), local())", "postgres") from None

from ...errors import (
    Phase3ConnectionError,
    Phase3Error,
    Phase3TimeoutError,
    error_class_for,
    missing_user_error,
)


def map_error(exc: BaseException) -> Phase3Error:
    """The SDK error for a psycopg or pool error."""
    if isinstance(exc, Phase3Error):
        return exc
    from psycopg_pool import PoolTimeout

    if isinstance(exc, PoolTimeout):
        # The pool hides why: either every connection is busy, or none could be opened at all (a wrong
        # URL, a server down), which the pool only logs. Say both, since the caller cannot tell them apart.
        return Phase3TimeoutError(
            f"could not get a database connection in time: {exc}",
            code="pool_timeout",
            hint="check that the database is reachable at that URL (psycopg_pool logs each failed connect); "
            "if it is, the pool is exhausted: raise max_connections or close idle clients",
        )
    if isinstance(exc, psycopg.Error):
        diag = exc.diag
        code = exc.sqlstate
        message = diag.message_primary or str(exc).strip() or type(exc).__name__
        if code is None:
            # No SQLSTATE: the connection itself failed (refused, reset, closed by the server).
            return Phase3ConnectionError(f"database connection failed: {message}", code="connection")
        missing = missing_user_error(code, message, diag.message_detail)
        if missing is not None:
            return missing
        cls = error_class_for(code)
        return cls(message, code=code, details=diag.message_detail, hint=diag.message_hint)
    return Phase3ConnectionError(f"{type(exc).__name__}: {exc}", code="connection")
