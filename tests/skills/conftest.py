"""Fixtures of the skill-engine tests: every test that takes ``client`` runs on both backends.

* ``client`` (function, parametrized ``postgres`` | ``rest``): a root (service-role) client on the module's
  database, with a handler registry of its own; over REST every request goes through the PostgREST
  emulator of ``support.backends`` (the only mock boundary) to the same database.
* ``backend`` / ``emulator`` / ``router`` / ``users``: the shared fixtures of ``support.backends``.
* ``chain(...)``, ``interrupted(...)``, ``wait_for_lease_expiry()``, :class:`Crash`: shared helpers.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import respx

from phase3_sdk import Phase3Client
from support.backends import Env, rest_client

__all__ = [
    "LEASE",
    "Crash",
    "Env",
    "MakeUser",
    "chain",
    "interrupted",
    "wait_for_lease_expiry",
]

MakeUser = Callable[..., uuid.UUID]

#: Seconds a "dead" process's execution stays leased: short, so the resume tests wait little.
LEASE = 1


@pytest.fixture(params=["postgres", "rest"])
def client(request: pytest.FixtureRequest, db_url: str) -> Iterator[Phase3Client]:
    """A root (service-role) client on the module's database; each test gets its own handler registry."""
    if request.param == "rest":
        request.getfixturevalue("router")  # mounts the emulator for this module
        with rest_client() as rest:
            yield rest
    else:
        with Phase3Client.connect(db_url) as direct:
            yield direct


@pytest.fixture
def kind(client: Phase3Client, request: pytest.FixtureRequest) -> str:
    """Which backend ``client`` is: ``"postgres"`` or ``"rest"``."""
    return str(request.node.callspec.params["client"])


@pytest.fixture
def rest_router(kind: str, request: pytest.FixtureRequest) -> respx.MockRouter | None:
    """The emulator's router when ``client`` is the REST one (to read the requests it got), else ``None``."""
    return request.getfixturevalue("router") if kind == "rest" else None


def chain(*steps: dict[str, Any]) -> list[dict[str, Any]]:
    """Steps with ids step1, step2, ... unless given."""
    return [{"stepId": f"step{i}", **s} for i, s in enumerate(steps, 1)]


class Crash(BaseException):
    """Stands in for the process dying: not an Exception, so nothing in the engine catches it."""


def wait_for_lease_expiry() -> None:
    """Sleep past a :data:`LEASE`-second lease (timed by the database clock, same host here)."""
    time.sleep(LEASE + 0.1)


def interrupted(
    me: Phase3Client,
    calls: list[str],
    *,
    lease: float = LEASE,
    on_resume: Callable[[], None] | None = None,
) -> uuid.UUID:
    """An execution whose process "died" in its second step, after the first was checkpointed.

    A three-step skill (``first``, ``slow``, ``last``; tools named uniquely, so tests sharing a client's
    handler registry do not clash). The handler of ``slow`` raises :class:`Crash` (a ``BaseException``)
    the first time: nothing in the engine handles it, so the run is abandoned exactly as a killed process
    leaves it -- ``running``, ``first`` checkpointed, a lease of ``lease`` seconds nobody renews. Each tool
    call that completes appends its step's name to ``calls``; ``on_resume`` runs inside ``slow`` when it is
    called again (a resume), to stage what another process does meanwhile.
    """
    tag = uuid.uuid4().hex[:8]
    crash = [True]

    def slow(params: dict[str, Any]) -> dict[str, int]:
        if crash[0]:
            crash[0] = False
            raise Crash
        if on_resume is not None:
            on_resume()
        calls.append("slow")
        return {"v": params["v"] + 1}

    def first(params: dict[str, Any]) -> dict[str, int]:
        calls.append("first")
        return {"v": 1}

    def last(params: dict[str, Any]) -> dict[str, int]:
        calls.append("last")
        return {"v": params["v"] + 1}

    me.tools.register(f"first-{tag}", first)
    me.tools.register(f"slow-{tag}", slow)
    me.tools.register(f"last-{tag}", last)
    skill = me.skills.create(
        name=f"crashy-{tag}",
        steps=[
            {"stepId": "first", "toolName": f"first-{tag}"},
            {"stepId": "slow", "toolName": f"slow-{tag}", "inputMapping": {"v": "$.first.v"}},
            {"stepId": "last", "toolName": f"last-{tag}", "inputMapping": {"v": "$.slow.v"}},
        ],
    )
    try:
        me.skills.execute(skill.id, lease_seconds=lease)
    except Crash:
        pass
    else:  # pragma: no cover - the handler always crashes the first run
        raise AssertionError("the run did not crash")
    (execution,) = me.skill_executions.list(composite_skill_id=skill.id)
    assert execution.status == "running"
    assert [r.step_id for r in execution.steps_executed] == ["first"]
    assert execution.lease_owner is not None
    return execution.id
