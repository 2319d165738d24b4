"""Fixtures of the skill-engine tests: a client per test and helpers to make tools and skills."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from phase3_sdk import Phase3Client

MakeUser = Callable[..., uuid.UUID]


@pytest.fixture
def client(db_url: str) -> Iterator[Phase3Client]:
    """A root (service-role) client on the module's database; each test gets its own handler registry."""
    with Phase3Client.connect(db_url) as c:
        yield c


def chain(*steps: dict[str, Any]) -> list[dict[str, Any]]:
    """Steps with ids step1, step2, ... unless given."""
    return [{"stepId": f"step{i}", **s} for i, s in enumerate(steps, 1)]
