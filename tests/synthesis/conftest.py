from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from phase3_sdk.synthesis import MemoryRecord
from phase3_sdk.testing.seed import generate_history_with_truth

START = datetime(2024, 1, 1, 8, 0, tzinfo=UTC)


@dataclass
class History:
    rows: list[dict[str, Any]]
    truth: dict[str, list[str]]
    memories: list[MemoryRecord]


def make_history(n: int, seed: int, *, planted: bool = True) -> History:
    rows, truth = generate_history_with_truth(n=n, seed=seed, start=START, planted=planted)
    return History(rows, truth, [MemoryRecord.from_row(r) for r in rows])


@pytest.fixture(scope="session")
def planted() -> History:
    return make_history(3000, seed=7)


@pytest.fixture(scope="session", params=[11, 12, 13])
def noise(request: pytest.FixtureRequest) -> History:
    return make_history(3000, seed=request.param, planted=False)
