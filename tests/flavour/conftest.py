"""``half``: every test here runs once per half of ``phase3_sdk._flavour`` (asyncio, blocking)."""

from __future__ import annotations

import pytest

from .halves import HALVES, Half


@pytest.fixture(params=HALVES, ids=lambda half: half.name)
def half(request: pytest.FixtureRequest) -> Half:
    """One half of the flavour package behind the common test interface."""
    value: Half = request.param
    return value
