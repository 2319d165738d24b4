"""The one backoff formula (``retry.backoff_delay``) and the two callers that used to carry their own."""

from __future__ import annotations

import random

import pytest

from phase3_sdk.engine.runs import MAX_BACKOFF_SECONDS
from phase3_sdk.engine.runs import backoff_delay as step_delay
from phase3_sdk.retry import backoff_delay
from phase3_sdk.synthesis.jobs.backoff import retry_delay as job_delay


def test_equal_jitter_waits_between_half_and_all_of_the_due_delay() -> None:
    assert backoff_delay(1, base=2.0, cap=100.0, rand=lambda: 0.0) == 1.0
    assert backoff_delay(3, base=2.0, cap=100.0, rand=lambda: 0.5) == 6.0  # due 8: 4 + 4 * 0.5
    assert backoff_delay(10, base=2.0, cap=100.0, rand=lambda: 0.0) == 50.0  # capped before the jitter
    rng = random.Random(7)
    for attempt in range(1, 12):
        due = min(100.0, 2.0 * 2 ** (attempt - 1))
        delay = backoff_delay(attempt, base=2.0, cap=100.0, rand=rng.random)
        assert due / 2 <= delay <= due


def test_full_and_no_jitter() -> None:
    assert backoff_delay(3, base=0.5, cap=8.0, jitter="none") == 2.0
    assert backoff_delay(9, base=0.5, cap=8.0, jitter="none") == 8.0
    assert backoff_delay(3, base=0.5, cap=8.0, jitter="full", rand=lambda: 0.25) == 0.5
    rng = random.Random(3)
    delays = [backoff_delay(4, base=0.5, cap=8.0, jitter="full", rand=rng.random) for _ in range(200)]
    assert min(delays) < 1.0  # full jitter reaches well below half the due delay of 4
    assert max(delays) < 4.0


@pytest.mark.parametrize("base", [0.0, -1.0])
def test_no_base_means_no_wait(base: float) -> None:
    assert backoff_delay(3, base=base, cap=10.0) == 0.0
    assert step_delay(3, base) == 0.0


def test_skill_step_retries_keep_their_delays() -> None:
    # The formula engine/runs.py carried before it called retry.backoff_delay: jitter, then the cap.
    def before(attempt: int, base: float, r: float) -> float:
        return min(MAX_BACKOFF_SECONDS, base * 2 ** (attempt - 1) * (0.5 + r / 2))

    for r in (0.0, 0.3, 0.999):
        for attempt in range(1, 8):
            for base in (0.1, 1.0, 3.0):
                expected = before(attempt, base, r)
                assert step_delay(attempt, base, rand=lambda r=r: r) == pytest.approx(expected)


def test_job_retries_keep_their_delays() -> None:
    # The formula synthesis/jobs.py carried before: cap, then half fixed and half uniform.
    def before(attempt: int, base: float, cap: float, rng: random.Random) -> float:
        delay = min(cap, base * 2.0 ** max(attempt - 1, 0))
        return delay / 2 + rng.uniform(0, delay / 2)

    for attempt in range(0, 12):
        old, new = random.Random(attempt), random.Random(attempt)
        assert job_delay(attempt, base=5.0, cap=300.0, rng=new) == before(attempt, 5.0, 300.0, old)
