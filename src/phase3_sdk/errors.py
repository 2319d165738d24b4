"""One exception hierarchy for both backends.

PostgREST error codes and PostgreSQL SQLSTATEs map to the same classes, so code written against the
REST backend catches the same things on a direct connection. Every error carries ``code``,
``message``, ``details`` and ``hint``; ``str(err)`` is one readable line that says what to do.
"""

from __future__ import annotations

import re
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
    ) -> None:
        self.message = message
        self.code = code
        self.details = details
        self.hint = hint if hint is not None else self.default_hint
        self.status = status
        super().__init__(message)

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts[0] = f"[{self.code}] {self.message}"
        if self.details:
            parts.append(f"details: {self.details}")
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "; ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class ConfigurationError(Phase3Error):
    """The client was set up wrongly (missing URL or key, conflicting options)."""


class MissingExtra(ConfigurationError, ImportError):
    """A feature was used whose optional dependencies (a ``pip install 'phase3-sdk[extra]'``) are missing.

    Also an :class:`ImportError`, so code that probes a feature with ``try: import ...`` keeps working.
    """

    def __init__(self, feature: str, extra: str) -> None:
        self.feature = feature
        self.extra = extra
        super().__init__(f"{feature} needs the '{extra}' extra: pip install 'phase3-sdk[{extra}]'")


class InvalidInput(Phase3Error):
    """The input was rejected: by model validation before any request, or by a database constraint."""

    def __init__(self, message: str, *, field: str | None = None, **kwargs: Any) -> None:
        self.field = field
        super().__init__(message, **kwargs)


class UserNotFound(InvalidInput):
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

    def for_user(self, user_id: object) -> UserNotFound:
        """The same error naming ``user_id`` (which the database does not report under RLS)."""
        return UserNotFound(
            f"user {user_id} does not exist (no row in auth.users)",
            user_id=str(user_id),
            code=self.code,
            details=self.details,
            status=self.status,
        )


#: The ``user_id`` foreign keys of the schema (``<table>_user_id_fkey``, all referencing auth.users).
_USER_FK = re.compile(r'foreign key constraint "\w*_user_id_fkey"')
_USER_FK_KEY = re.compile(r"Key \(user_id\)=\(([0-9a-fA-F-]{36})\)")


def missing_user_error(code: str | None, message: str, details: str | None) -> UserNotFound | None:
    """:class:`UserNotFound` when an error is the ``user_id -> auth.users`` foreign key failing, else None.

    Postgres names the key's value only to a role that may read ``auth.users``; otherwise the detail is
    "Key is not present in table "users"" and the caller's transport fills the id in (``for_user``).
    """
    if code != "23503" or not _USER_FK.search(message) or 'table "users"' not in (details or ""):
        return None
    found = _USER_FK_KEY.search(details or "")
    user = found.group(1) if found else None
    what = f"user {user}" if user else "the user this write is for"
    return UserNotFound(
        f"{what} does not exist (no row in auth.users)", user_id=user, code=code, details=details
    )


class NotFound(Phase3Error):
    """No row matched, or the row exists but is not visible to the caller (RLS hides it)."""


class PermissionDenied(Phase3Error):
    """The database refused the operation for this identity (SQLSTATE 42501, an RLS policy)."""

    default_hint = "act as the row's owner, or use client.service() in trusted server code"


class Conflict(Phase3Error):
    """A unique constraint was violated (SQLSTATE 23505)."""


class AuthError(Phase3Error):
    """The JWT is missing, expired or invalid, or sign-in failed."""

    default_hint = "sign in again or refresh the access token"


class RateLimited(Phase3Error):
    """The server answered 429 Too Many Requests (it did not act on the request, so any call may be
    retried; ``retry_after`` is the server's ``Retry-After`` in seconds, if it sent one)."""

    unprocessed = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class TransientError(Phase3Error):
    """A failure that may pass on its own: connection errors, timeouts, 5xx, PGRST000-003.

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


class RequestFailed(Phase3Error):
    """The HTTP client could not send the request or read its answer, for a reason a retry will not fix
    (an invalid URL, a protocol violation on the client's side, an answer that cannot be decoded)."""


class ServerError(Phase3Error):
    """The server failed in a way that retrying will not fix (an unexpected SQLSTATE or PostgREST code)."""


class ExecutionError(Phase3Error):
    """A skill execution could not be started, resumed or cancelled."""


class LeaseLost(ExecutionError):
    """Another process holds the lease on this execution or job."""


class ToolTimeout(ExecutionError, TimeoutError):
    """A tool call ran past its time limit and was stopped; the skill step fails (or is retried).

    Tool faults never raise out of ``tools.run`` or a skill run: they are recorded. A step record's
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
    def from_record(cls, text: str | None) -> ToolTimeout | None:
        """The error a step record or usage row describes, or ``None`` if it is not a timeout."""
        if text is None or not text.startswith(cls.RECORD_PREFIX):
            return None
        return cls(text[len(cls.RECORD_PREFIX) :])


class SynthesisTimeout(Phase3Error, TimeoutError):
    """``synthesis.wait`` gave up before the job finished (the job itself goes on)."""

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
    "42501": PermissionDenied,
    "23505": Conflict,
    "23503": InvalidInput,  # foreign key: the referenced row does not exist (or is not visible)
    "23502": InvalidInput,
    "23514": InvalidInput,
    "22P02": InvalidInput,
    "22023": InvalidInput,
    "22000": InvalidInput,  # pgvector: "expected 768 dimensions, not 767"
    "P0002": NotFound,
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
    "08": TransientError,  # connection exceptions
    "53": TransientError,  # insufficient resources
    # Deterministic classes: the same statement fails the same way every time, so never retried.
    "42": ServerError,  # syntax error or access rule violation (undefined column, function, ...)
    "21": ServerError,  # cardinality violation (more than one row returned by a subquery)
    "54": ServerError,  # program limit exceeded (statement too complex, ...)
    "2F": ServerError,  # SQL routine exception (function ended without RETURN, ...)
    "P0": ServerError,  # PL/pgSQL errors (P0001 raise_exception: see the exact code below)
    "P0001": InvalidInput,  # RAISE EXCEPTION in a function: the SDK's functions raise it for bad input
    "22": InvalidInput,  # data exceptions
    "23": InvalidInput,  # integrity constraint violations
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
    "PGRST116": NotFound,
    "PGRST202": NotFound,  # function not found in the schema cache
    "PGRST205": NotFound,  # table not found in the schema cache
    "PGRST204": InvalidInput,  # column not found
    "PGRST100": InvalidInput,
    "PGRST102": InvalidInput,
    "PGRST103": InvalidInput,
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
    :class:`RateLimited` are, for idempotent calls; for the others only when ``unprocessed``). In order:

    1. 429 is :class:`RateLimited`, whatever the body says.
    2. A code the tables know (PostgREST code, exact SQLSTATE, then its two-character class) decides.
    3. 502/503/504/520 with no known code: :class:`TransientError` (a gateway or a restarting server).
    4. Any other SQLSTATE or PostgREST code on a 5xx is :class:`ServerError`: the database or PostgREST
       answered, and the same statement gets the same answer (42P17, 21000, 54001, PGRSTX00, XX000, ...).
    5. Otherwise the status: 401 auth, 403 permission, 404 not found, 409 conflict, 400/422 invalid
       input, another 5xx without a code (a proxy's error page) transient, anything else (300 included)
       :class:`ServerError`.
    """
    if status == 429:
        return RateLimited
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
            return PermissionDenied
        if status == 404:
            return NotFound
        if status == 409:
            return Conflict
        if status in (400, 422):
            return InvalidInput
        if status >= 500:
            return TransientError
    return ServerError


def error_class_for(code: str | None, status: int | None = None) -> type[Phase3Error]:
    """Return the error class for a PostgREST code or SQLSTATE, falling back on the HTTP status
    (see :func:`classify`; with no status, an unknown code is a :class:`ServerError`)."""
    return classify(status, code)
