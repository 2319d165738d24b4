"""One exception hierarchy for both backends.

PostgREST error codes and PostgreSQL SQLSTATEs map to the same classes, so code written against the
REST backend catches the same things on a direct connection. Every error carries ``code``,
``message``, ``details`` and ``hint``; ``str(err)`` is one readable line that says what to do. Errors from
the REST backend also keep the server's ``request_id`` and the raw response ``body``.

Every class name ends in ``Error`` (PEP 8). The 0.1 names without it (``NotFound``, ``InvalidInput``,
``RateLimited``, ...) still import, with a :class:`DeprecationWarning`, until 0.3 (see CHANGELOG.md).
"""

from __future__ import annotations

import builtins
import re
import warnings
from typing import Any


class Phase3Error(Exception):
    """Base class of every error this SDK raises on purpose."""

    #: What the user should do about this class of error, appended to the message when no hint is given.
    default_hint: str | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: str | None = None,
        hint: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        body: str | None = None,
    ) -> None:
        self.message = message
        self.code = code
        self.details = details
        self.hint = hint if hint is not None else self.default_hint
        self.status = status
        #: The server's id for the request (Supabase's ``sb-request-id``, ``x-request-id`` or Cloudflare's
        #: ``cf-ray``), to quote to the project's support; None on the Postgres backend.
        self.request_id = request_id
        #: The raw response body as text (keys blanked out), for what the one-line message leaves out.
        self.body = body
        super().__init__(message)

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts[0] = f"[{self.code}] {self.message}"
        if self.details:
            parts.append(f"details: {self.details}")
        if self.hint:
            parts.append(f"hint: {self.hint}")
        if self.request_id:
            parts.append(f"request id: {self.request_id}")
        return "; ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class ConfigurationError(Phase3Error):
    """The client was set up wrongly (missing URL or key, conflicting options)."""


class MissingExtraError(ConfigurationError, ImportError):
    """A feature was used whose optional dependencies (a ``pip install 'phase3-sdk[extra]'``) are missing.

    Also an :class:`ImportError`, so code that probes a feature with ``try: import ...`` keeps working.
    """

    def __init__(self, feature: str, extra: str) -> None:
        self.feature = feature
        self.extra = extra
        super().__init__(f"{feature} needs the '{extra}' extra: pip install 'phase3-sdk[{extra}]'")


class InvalidInputError(Phase3Error):
    """The input was rejected: by model validation before any request, or by a database constraint."""

    def __init__(self, message: str, *, field: str | None = None, **kwargs: Any) -> None:
        self.field = field
        super().__init__(message, **kwargs)


class UserNotFoundError(InvalidInputError):
    """A write names a user with no ``auth.users`` row (the ``user_id`` foreign key, SQLSTATE 23503).

    Typically ``as_user(user_id=...)`` with an id that was never created (``as_user`` trusts the id and
    does not look it up). ``user_id`` is the id the write was for, when the SDK knows it.
    """

    default_hint = (
        "create the user first (client.local_user(email), or sign up through Supabase Auth); "
        "as_user(user_id=) does not create users"
    )

    def __init__(self, message: str, *, user_id: str | None = None, **kwargs: Any) -> None:
        self.user_id = user_id
        kwargs.setdefault("field", "user_id")
        super().__init__(message, **kwargs)

    def for_user(self, user_id: object) -> UserNotFoundError:
        """The same error naming ``user_id`` (which the database does not report under RLS)."""
        return UserNotFoundError(
            f"user {user_id} does not exist (no row in auth.users)",
            user_id=str(user_id),
            code=self.code,
            details=self.details,
            status=self.status,
        )


#: The ``user_id`` foreign keys of the schema (``<table>_user_id_fkey``, all referencing auth.users).
_USER_FK = re.compile(r'foreign key constraint "\w*_user_id_fkey"')
_USER_FK_KEY = re.compile(r"Key \(user_id\)=\(([0-9a-fA-F-]{36})\)")


def missing_user_error(code: str | None, message: str, details: str | None) -> UserNotFoundError | None:
    """:class:`UserNotFoundError` when an error is the ``user_id -> auth.users`` foreign key failing.

    Postgres names the key's value only to a role that may read ``auth.users``; otherwise the detail is
    "Key is not present in table "users"" and the caller's transport fills the id in (``for_user``).
    """
    if code != "23503" or not _USER_FK.search(message) or 'table "users"' not in (details or ""):
        return None
    found = _USER_FK_KEY.search(details or "")
    user = found.group(1) if found else None
    what = f"user {user}" if user else "the user this write is for"
    return UserNotFoundError(
        f"{what} does not exist (no row in auth.users)", user_id=user, code=code, details=details
    )


class NotFoundError(Phase3Error):
    """No row matched, or the row exists but is not visible to the caller (RLS hides it)."""


class PermissionDeniedError(Phase3Error):
    """The database refused the operation for this identity (SQLSTATE 42501, an RLS policy)."""

    default_hint = "act as the row's owner, or use client.service() in trusted server code"


class ConflictError(Phase3Error):
    """A unique constraint was violated (SQLSTATE 23505)."""


class AuthError(Phase3Error):
    """The JWT is missing, expired or invalid, or sign-in failed."""

    default_hint = "sign in again or refresh the access token"


class TransientError(Phase3Error):
    """A failure that may pass on its own: 5xx, PGRST000-003, deadlocks, serialization failures; and the
    subclasses :class:`RateLimitError`, :class:`Phase3ConnectionError` and :class:`Phase3TimeoutError`.

    ``unprocessed`` is True when the server provably did not act on the request (the connection was never
    made, PostgREST never reached the database, the transaction was rolled back, an HTTP/2 stream was
    refused): then even a call that is not idempotent (an RPC) may be sent again. Left as None it is
    derived from ``code`` (:data:`UNPROCESSED_CODES`).
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        unprocessed: bool | None = None,
        **kwargs: Any,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)
        self.unprocessed = unprocessed if unprocessed is not None else self.code in UNPROCESSED_CODES


class RateLimitError(TransientError):
    """The server answered 429 Too Many Requests (it did not act on the request, so any call may be
    retried; ``retry_after`` is the server's ``Retry-After`` in seconds, if it sent one)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        kwargs.pop("unprocessed", None)  # a 429 is never processed, whatever the caller says
        super().__init__(message, retry_after=retry_after, unprocessed=True, **kwargs)


class Phase3ConnectionError(TransientError, builtins.ConnectionError):
    """The connection to the server failed (refused, reset, closed, an HTTP/2 stream refused), on either
    backend. Also a builtin :class:`ConnectionError`, so ``except ConnectionError`` catches it; named with
    the prefix so that it never shadows the builtin in a user's ``from phase3_sdk.errors import *``."""


class Phase3TimeoutError(TransientError, builtins.TimeoutError):
    """The client gave up waiting: connecting, reading or writing timed out over HTTP, or no pooled
    database connection came free in time. Also a builtin :class:`TimeoutError`."""


class RequestError(Phase3Error):
    """The HTTP client could not send the request or read its answer, for a reason a retry will not fix
    (an invalid URL, a protocol violation on the client's side, an answer that cannot be decoded)."""


class ServerError(Phase3Error):
    """The server failed in a way that retrying will not fix (an unexpected SQLSTATE or PostgREST code)."""


class ExecutionError(Phase3Error):
    """A skill execution could not be started, resumed or cancelled."""


class LeaseLostError(ExecutionError):
    """Another process holds the lease on this execution or job."""


class ToolTimeoutError(ExecutionError, TimeoutError):
    """A tool call ran past its time limit and was stopped; the skill step fails (or is retried).

    Tool faults never raise out of ``tools.execute`` or a skill run: they are recorded. A step record's
    ``error`` and a usage row's ``error_message`` read ``"ToolTimeout: <message>"``
    (:meth:`record_text`), and :meth:`from_record` turns such text back into this error. ``killed``
    says the code was stuck where the engine cannot interrupt it (a long native call in the
    JavaScript sandbox) and its worker process was killed.
    """

    #: How a timeout starts in a step record or usage row.
    RECORD_PREFIX = "ToolTimeout: "

    def __init__(
        self,
        message: str,
        *,
        tool_name: str | None = None,
        limit_seconds: float | None = None,
        killed: bool = False,
        **kwargs: Any,
    ) -> None:
        self.tool_name = tool_name
        self.limit_seconds = limit_seconds
        self.killed = killed
        kwargs.setdefault("code", "tool_timeout")
        super().__init__(message, **kwargs)

    def record_text(self) -> str:
        """The text stored as the step's / call's error."""
        return self.RECORD_PREFIX + self.message

    @classmethod
    def from_record(cls, text: str | None) -> ToolTimeoutError | None:
        """The error a step record or usage row describes, or ``None`` if it is not a timeout."""
        if text is None or not text.startswith(cls.RECORD_PREFIX):
            return None
        return cls(text[len(cls.RECORD_PREFIX) :])


class SynthesisTimeoutError(Phase3Error, TimeoutError):
    """``synthesis_jobs.wait`` gave up before the job finished (the job itself goes on)."""

    default_hint = "wait longer, check that a worker is running (phase3 synthesis worker), or poll later"


class MigrationError(Phase3Error):
    """A migration failed; ``file`` and ``line`` name the failing statement."""

    def __init__(
        self, message: str, *, file: str | None = None, line: int | None = None, **kwargs: Any
    ) -> None:
        self.file = file
        self.line = line
        super().__init__(message, **kwargs)

    def __str__(self) -> str:
        where = (
            f"{self.file}:{self.line}: "
            if self.file and self.line
            else (f"{self.file}: " if self.file else "")
        )
        return where + super().__str__()


class MissingEmbeddingsWarning(UserWarning):
    """Memories were stored without an embedding, or a semantic search found nothing while some of the
    caller's memories have none: semantic search cannot see those memories."""


#: SQLSTATE (exact, or its two-character class) -> error class. Exact codes win over classes.
SQLSTATE_ERRORS: dict[str, type[Phase3Error]] = {
    "42501": PermissionDeniedError,
    "23505": ConflictError,
    "23503": InvalidInputError,  # foreign key: the referenced row does not exist (or is not visible)
    "23502": InvalidInputError,
    "23514": InvalidInputError,
    "22P02": InvalidInputError,
    "22023": InvalidInputError,
    "22000": InvalidInputError,  # pgvector: "expected 768 dimensions, not 767"
    "P0002": NotFoundError,
    "28000": AuthError,
    "28P01": AuthError,
    "40001": TransientError,  # serialization failure: safe to retry the transaction
    "40P01": TransientError,  # deadlock detected
    "55P03": TransientError,  # lock not available
    "57P01": TransientError,  # admin shutdown
    "57P02": TransientError,  # crash shutdown
    "57P03": TransientError,  # cannot connect now (the server is starting up)
    "57014": TransientError,  # statement timeout / query cancelled
    "53400": ServerError,  # configuration limit exceeded: the same request exceeds it again
    "42P17": ServerError,  # infinite recursion detected in a policy: a schema bug, never passes
    "08": Phase3ConnectionError,  # connection exceptions
    "53": TransientError,  # insufficient resources
    # Deterministic classes: the same statement fails the same way every time, so never retried.
    "42": ServerError,  # syntax error or access rule violation (undefined column, function, ...)
    "21": ServerError,  # cardinality violation (more than one row returned by a subquery)
    "54": ServerError,  # program limit exceeded (statement too complex, ...)
    "2F": ServerError,  # SQL routine exception (function ended without RETURN, ...)
    "P0": ServerError,  # PL/pgSQL errors (P0001 raise_exception: see the exact code below)
    "P0001": InvalidInputError,  # RAISE EXCEPTION in a function: the SDK's functions raise it for bad input
    "22": InvalidInputError,  # data exceptions
    "23": InvalidInputError,  # integrity constraint violations
}

#: PostgREST's own error codes -> error class (see PostgREST's error documentation).
POSTGREST_ERRORS: dict[str, type[Phase3Error]] = {
    "PGRST000": TransientError,
    "PGRST001": TransientError,
    "PGRST002": TransientError,
    "PGRST003": TransientError,
    "PGRSTX00": ServerError,  # PostgREST could not decode the database's answer: the same every time
    "PGRST203": ServerError,  # HTTP 300: overloaded function is ambiguous; the schema must be fixed
    "PGRST201": ServerError,  # HTTP 300: ambiguous embedding
    "PGRST111": ServerError,  # invalid response.headers GUC set by a function
    "PGRST112": ServerError,  # invalid response.status GUC set by a function
    "PGRST116": NotFoundError,
    "PGRST202": NotFoundError,  # function not found in the schema cache
    "PGRST205": NotFoundError,  # table not found in the schema cache
    "PGRST204": InvalidInputError,  # column not found
    "PGRST100": InvalidInputError,
    "PGRST102": InvalidInputError,
    "PGRST103": InvalidInputError,
    "PGRST300": AuthError,
    "PGRST301": AuthError,
    "PGRST302": AuthError,
    "PGRST303": AuthError,
}


#: HTTP statuses that mean "may pass on its own" when the answer carries no code of its own: a gateway's
#: 502, 503 and 504 and Cloudflare's 520 ("unknown error") in front of Supabase.
TRANSIENT_STATUSES = frozenset({502, 503, 504, 520})

#: Codes of failures after which the server provably did not act on the request, so that even a call that
#: is not idempotent may be sent again. PGRST000/002/003: PostgREST never reached the database (no
#: connection, no schema cache, no free pool connection: PostgREST ``Error.hs``). The SQLSTATEs abort the
#: statement, and PostgREST (or the Postgres backend) runs each request in one transaction, which is then
#: rolled back. ``pool_timeout``: the SDK never got a database connection to send the statement on.
UNPROCESSED_CODES = frozenset(
    {"PGRST000", "PGRST002", "PGRST003", "40001", "40P01", "55P03", "57014", "pool_timeout"}
)

_SQLSTATE_OR_PGRST = re.compile(r"[0-9A-Z]{5}|PGRST[0-9A-Z]{3}")


def _class_for_code(code: str) -> type[Phase3Error] | None:
    if code in POSTGREST_ERRORS:
        return POSTGREST_ERRORS[code]
    if code in SQLSTATE_ERRORS:
        return SQLSTATE_ERRORS[code]
    if not code.startswith("PGRST") and code[:2] in SQLSTATE_ERRORS:
        return SQLSTATE_ERRORS[code[:2]]
    return None


def classify(status: int | None, code: str | None) -> type[Phase3Error]:
    """The error class for an answer's HTTP status and code: the one retry classification of the SDK.

    Whether a failure is retried follows from the class alone (:class:`TransientError` and
    :class:`RateLimitError` are, for idempotent calls; for the others only when ``unprocessed``). In order:

    1. 429 is :class:`RateLimitError`, whatever the body says.
    2. A code the tables know (PostgREST code, exact SQLSTATE, then its two-character class) decides.
    3. 502/503/504/520 with no known code: :class:`TransientError` (a gateway or a restarting server).
    4. Any other SQLSTATE or PostgREST code on a 5xx is :class:`ServerError`: the database or PostgREST
       answered, and the same statement gets the same answer (42P17, 21000, 54001, PGRSTX00, XX000, ...).
    5. Otherwise the status: 401 auth, 403 permission, 404 not found, 409 conflict, 400/422 invalid
       input, another 5xx without a code (a proxy's error page) transient, anything else (300 included)
       :class:`ServerError`.
    """
    if status == 429:
        return RateLimitError
    if status == 401 and code == "22023":
        return AuthError  # "role ... does not exist": the JWT names a role the database lacks (Error.hs)
    if code:
        known = _class_for_code(code)
        if known is not None:
            return known
    if status in TRANSIENT_STATUSES:
        return TransientError
    if status is not None and status >= 500 and code and _SQLSTATE_OR_PGRST.fullmatch(code):
        return ServerError
    if status is not None:
        if status == 401:
            return AuthError
        if status == 403:
            return PermissionDeniedError
        if status == 404:
            return NotFoundError
        if status == 409:
            return ConflictError
        if status in (400, 422):
            return InvalidInputError
        if status >= 500:
            return TransientError
    return ServerError


def error_class_for(code: str | None, status: int | None = None) -> type[Phase3Error]:
    """Return the error class for a PostgREST code or SQLSTATE, falling back on the HTTP status
    (see :func:`classify`; with no status, an unknown code is a :class:`ServerError`)."""
    return classify(status, code)


#: The 0.1 names, kept for one release: importing one warns and gives the new class.
_DEPRECATED_NAMES: dict[str, str] = {
    "InvalidInput": "InvalidInputError",
    "NotFound": "NotFoundError",
    "PermissionDenied": "PermissionDeniedError",
    "Conflict": "ConflictError",
    "RateLimited": "RateLimitError",
    "RequestFailed": "RequestError",
    "LeaseLost": "LeaseLostError",
    "ToolTimeout": "ToolTimeoutError",
    "SynthesisTimeout": "SynthesisTimeoutError",
    "UserNotFound": "UserNotFoundError",
    "MissingExtra": "MissingExtraError",
}


def deprecated_error(name: str, module: str) -> type[Phase3Error]:
    """The class a deprecated 0.1 error name stands for, with a :class:`DeprecationWarning` naming the new
    one (``module`` is where it was looked up); :class:`AttributeError` for any other name."""
    new = _DEPRECATED_NAMES.get(name)
    if new is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    warnings.warn(
        f"{module}.{name} is deprecated and will be removed in 0.3; use {new}",
        DeprecationWarning,
        stacklevel=3,
    )
    cls: type[Phase3Error] = globals()[new]
    return cls


def __getattr__(name: str) -> type[Phase3Error]:
    return deprecated_error(name, __name__)
