"""When a failed synthesis job is tried again: the retry delay and its defaults."""

from __future__ import annotations

import random

from ...retry import backoff_delay

#: Retry backoff of a failed job: ``base * 2 ** (attempt - 1)`` seconds, capped, with jitter.
DEFAULT_RETRY_BASE = 5.0
DEFAULT_RETRY_CAP = 300.0


def retry_delay(
    attempt: int,
    *,
    base: float = DEFAULT_RETRY_BASE,
    cap: float = DEFAULT_RETRY_CAP,
    rng: random.Random | None = None,
) -> float:
    """Seconds before attempt ``attempt + 1`` of a failed job: exponential, capped, with "equal jitter".

    Half the delay is fixed and half random, so jobs that failed together (a database blip) do not all come
    back in the same second, yet none comes back sooner than half its due delay
    (:func:`phase3_sdk.retry.backoff_delay`).
    """
    return backoff_delay(attempt, base=base, cap=cap, rand=(rng or random).random)
