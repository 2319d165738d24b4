"""The retry policy: a value users pass, change or switch off per client.

Modelled on the OpenAI, Anthropic and Stripe SDKs: exponential backoff with full jitter, ``Retry-After``
honoured, a cap on attempts and on total time, and only transient failures retried. A call that is not
idempotent (an RPC) is repeated only after a failure that proves the server did not act on it
(``unprocessed``: no connection was made, PostgREST never reached the database, the transaction was
rolled back, the HTTP/2 stream was refused, 429).

``Retry-After`` is honoured when it is positive and within ``max_delay``. Zero or negative (PostgREST sends
``Retry-After: 0`` on every 503 while its schema cache reloads: ``App.hs`` ``addRetryHint``) falls back
to the exponential backoff, as openai-python does. Beyond ``max_delay`` the call is not retried: the error
(``RateLimitError`` or ``TransientError``, ``retry_after`` set) reaches the caller at once, who may schedule
the call later, instead of the SDK sleeping longer than the policy allows or retrying too early.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
)

from .errors import RateLimitError, TransientError

logger = logging.getLogger("phase3_sdk.retry")


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, TransientError | RateLimitError)


def _unprocessed(exc: BaseException) -> bool:
    return bool(getattr(exc, "unprocessed", False))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How transient failures are retried.

    ``max_attempts`` counts the first try (1 = no retries). The delay before retry ``n`` is drawn
    uniformly from ``[0, min(max_delay, initial_delay * 2**n)]`` (full jitter, so a crowd of clients
    does not retry in lock-step), unless the server said a positive ``Retry-After``, which wins; one over
    ``max_delay`` ends the retries (the error, with ``retry_after``, goes to the caller).
    """

    max_attempts: int = 3
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_total: float = 30.0
    #: Set False for deterministic waits (tests, benchmarks): the full exponential delay is used.
    jitter: bool = True

    @classmethod
    def none(cls) -> RetryPolicy:
        """One attempt, no retries."""
        return cls(max_attempts=1)

    def with_(self, **changes: float | int | bool) -> RetryPolicy:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def delay_for(self, attempt: int, exc: BaseException | None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None and retry_after > 0:
            return float(min(retry_after, self.max_delay))
        return backoff_delay(
            attempt, base=self.initial_delay, cap=self.max_delay, jitter="full" if self.jitter else "none"
        )

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return self.delay_for(state.attempt_number, exc)

    def _log(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        # The error's str() carries code and message only; keys and tokens never enter an error.
        logger.info(
            "retrying after attempt %d of %d: %s: %s",
            state.attempt_number,
            self.max_attempts,
            type(exc).__name__,
            exc,
        )

    def should_retry(self, exc: BaseException, *, idempotent: bool = True) -> bool:
        """Whether a failure is worth another attempt (attempt and time caps aside)."""
        if not _is_retryable(exc):
            return False
        if not idempotent and not _unprocessed(exc):
            return False  # the server may have acted on it: sending it again could do it twice
        retry_after = getattr(exc, "retry_after", None)
        # Told to wait longer than the policy allows: give the caller the error (retry_after set) now.
        return not (retry_after is not None and retry_after > self.max_delay)

    def _kwargs(self, *, idempotent: bool, spent: float = 0.0) -> dict[str, object]:
        return {
            "stop": stop_after_attempt(max(self.max_attempts, 1)) | stop_after_delay(self.max_total - spent),
            "wait": self._wait,
            "retry": retry_if_exception(lambda exc: self.should_retry(exc, idempotent=idempotent)),
            "before_sleep": self._log,
            "reraise": True,
        }

    def retrying(self, *, idempotent: bool = True) -> Retrying:
        """A tenacity controller for a blocking call (``for attempt in policy.retrying(): with attempt:``)."""
        return Retrying(**self._kwargs(idempotent=idempotent))  # type: ignore[arg-type]

    def async_retrying(self, *, idempotent: bool = True) -> AsyncRetrying:
        """The same for a coroutine: ``async for attempt in policy.async_retrying(): with attempt: ...``."""
        return AsyncRetrying(**self._kwargs(idempotent=idempotent))  # type: ignore[arg-type]

    def retrying_after(self, spent: float, *, idempotent: bool = True) -> Retrying:
        """:meth:`retrying` for a call whose first attempt already ran, for ``spent`` seconds, outside it
        and failed with an error worth retrying: that failure is to be raised again in the controller's
        first attempt, so that it is counted, logged and waited after as its own, and the total time
        allowed is what the first attempt left of ``max_total``."""
        return Retrying(**self._kwargs(idempotent=idempotent, spent=spent))  # type: ignore[arg-type]

    def async_retrying_after(self, spent: float, *, idempotent: bool = True) -> AsyncRetrying:
        """:meth:`retrying_after` for a coroutine."""
        return AsyncRetrying(**self._kwargs(idempotent=idempotent, spent=spent))  # type: ignore[arg-type]


DEFAULT_RETRY = RetryPolicy()


def backoff_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    jitter: Literal["equal", "full", "none"] = "equal",
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): the one backoff formula.

    The due delay is ``min(cap, base * 2**(attempt - 1))``. ``"equal"`` jitter waits half of it plus a
    random part of the other half, so work that failed together (a database blip) does not come back in
    lockstep yet never sooner than half its due delay; ``"full"`` draws from all of ``[0, due)``;
    ``"none"`` waits exactly the due delay. ``rand`` returns a float in ``[0, 1)`` (pass a seeded
    ``random.Random().random`` for repeatable delays). A non-positive ``base`` means no wait.
    """
    due = min(cap, base * 2.0 ** max(attempt - 1, 0))
    if due <= 0:
        return 0.0
    if jitter == "none":
        return due
    if jitter == "full":
        return due * rand()
    half = due / 2
    return half + half * rand()
