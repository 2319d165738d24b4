"""One exception hierarchy for both backends.

PostgREST error codes and PostgreSQL SQLSTATEs map to the same classes, so code written against the
REST backend catches the same things on a direct connection. Every error carries ``code``,
``message``, ``details`` and ``hint``; ``str(err)`` is one readable line that says what to do.
"""

from __future__ import annotations

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


class InvalidInput(Phase3Error):
    """The input was rejected: by model validation before any request, or by a database constraint."""

    def __init__(self, message: str, *, field: str | None = None, **kwargs: Any) -> None:
        self.field = field
        super().__init__(message, **kwargs)


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
    """The server answered 429 Too Many Requests."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class TransientError(Phase3Error):
    """A failure that may pass on its own: connection errors, timeouts, 5xx, PGRST000-003."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


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
    "57014": TransientError,  # statement timeout / query cancelled
    "08": TransientError,  # connection exceptions
    "53": TransientError,  # insufficient resources
    "22": InvalidInput,  # data exceptions
    "23": InvalidInput,  # integrity constraint violations
}

#: PostgREST's own error codes -> error class (see PostgREST's error documentation).
POSTGREST_ERRORS: dict[str, type[Phase3Error]] = {
    "PGRST000": TransientError,
    "PGRST001": TransientError,
    "PGRST002": TransientError,
    "PGRST003": TransientError,
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


def error_class_for(code: str | None, status: int | None = None) -> type[Phase3Error]:
    """Return the error class for a PostgREST code or SQLSTATE, falling back on the HTTP status."""
    if code:
        if code in POSTGREST_ERRORS:
            return POSTGREST_ERRORS[code]
        if code in SQLSTATE_ERRORS:
            return SQLSTATE_ERRORS[code]
        if code[:2] in SQLSTATE_ERRORS and not code.startswith("PGRST"):
            return SQLSTATE_ERRORS[code[:2]]
    if status is not None:
        if status == 401:
            return AuthError
        if status == 403:
            return PermissionDenied
        if status == 404:
            return NotFound
        if status == 409:
            return Conflict
        if status == 429:
            return RateLimited
        if status in (400, 422):
            return InvalidInput
        if status >= 500:
            return TransientError
    return ServerError
