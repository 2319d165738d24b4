"""TaskGroup, Event and LeaseKeeper, each test run through both halves of ``phase3_sdk._flavour``."""

from __future__ import annotations

import threading

import pytest

from phase3_sdk import _flavour

from .halves import Half, Job

# -- TaskGroup --------------------------------------------------------------------------------------


def test_task_group_waits_for_every_job(half: Half) -> None:
    log: list[str] = []
    half.group([Job("slow", 0.03), Job("fast"), Job("middle", 0.01)], log)
    assert sorted(e for e in log if e.startswith("end")) == ["end fast", "end middle", "end slow"]


def test_task_group_reraises_the_error_itself_after_the_other_jobs_end(half: Half) -> None:
    log: list[str] = []
    with pytest.raises(KeyError) as caught:  # the job's own class, never an ExceptionGroup
        half.group([Job("bad", 0.0, KeyError("bad")), Job("good", 0.02)], log)
    assert type(caught.value) is KeyError
    assert "end good" in log


def test_task_group_reraises_the_first_of_several_errors(half: Half) -> None:
    first, second = ValueError("first"), ValueError("second")
    with pytest.raises(ValueError, match="first") as caught:
        half.group([Job("a", 0.0, first), Job("b", 0.03, second)], [])
    assert caught.value is first


def test_a_failing_body_propagates_and_running_jobs_are_cancelled_where_they_can_be(half: Half) -> None:
    log: list[str] = []
    with pytest.raises(RuntimeError, match="body"):
        half.group([Job("long", 0.05, ValueError("not this one"))], log, body_error=RuntimeError("body"))
    # asyncio cancels the task; a thread cannot be stopped, so it runs out and its error is dropped.
    assert log == (["start long", "cancelled long"] if half.cancels else ["start long"])


# -- Event -----------------------------------------------------------------------------------------


def test_event_wait_times_out_and_says_so(half: Half) -> None:
    assert half.wait(set_before=False, set_after=None, timeout=0.02) == (False, False)


def test_event_already_set_returns_at_once(half: Half) -> None:
    assert half.wait(set_before=True, set_after=None, timeout=0.02) == (True, True)
    assert half.wait(set_before=True, set_after=None, timeout=None) == (True, True)


def test_event_set_while_waiting_wakes_the_waiter(half: Half) -> None:
    assert half.wait(set_before=False, set_after=0.01, timeout=5.0) == (True, True)
    assert half.wait(set_before=False, set_after=0.01, timeout=None) == (True, True)


# -- LeaseKeeper -----------------------------------------------------------------------------------


class Renewals:
    """A renew function that answers from a script (True, False or an exception) and counts its calls."""

    def __init__(self, *answers: bool | Exception, then: bool = True) -> None:
        self.answers = list(answers)
        self.then = then
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> bool:
        with self._lock:
            self.calls += 1
            answer = self.answers.pop(0) if self.answers else self.then
        if isinstance(answer, Exception):
            raise answer
        return answer


def _stays(count: Renewals, ticks: int, interval: float) -> bool:
    """Whether no renewal happens during ``ticks`` more intervals."""
    before = count.calls
    threading.Event().wait(ticks * interval)
    return count.calls == before


def test_lease_keeper_renews_while_the_body_runs_and_stops_after(half: Half) -> None:
    renew = Renewals()
    lost = half.keep(renew, 0.01, until=lambda: renew.calls >= 3)
    assert lost is False
    assert renew.calls >= 3
    assert _stays(renew, 5, 0.01)


def test_lease_keeper_marks_a_lost_lease_and_stops_renewing(half: Half) -> None:
    renew = Renewals(True, False)
    lost = half.keep(renew, 0.01, until=lambda: False)
    assert lost is True
    assert renew.calls == 2
    assert _stays(renew, 5, 0.01)


def test_lease_keeper_retries_a_renewal_that_raised(half: Half) -> None:
    renew = Renewals(ConnectionError("blip"), True, True)
    lost = half.keep(renew, 0.01, until=lambda: renew.calls >= 3)
    assert lost is False
    assert renew.calls >= 3


def test_every_twin_is_exported_in_pairs() -> None:
    # The generator maps AsyncFoo -> Foo and async_foo -> foo: a half without its twin breaks _sync.
    names = set(_flavour.__all__)
    for name in names:
        if name.startswith("Async"):
            assert name[5:] in names, name
        elif name.startswith("async_"):
            assert name[6:] in names, name
    assert {"AsyncTaskGroup", "AsyncEvent", "AsyncLeaseKeeper", "AsyncLock", "async_sleep"} <= names
