"""The arguments every ``client.search`` method checks before any request (pure: one copy for both)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from ..errors import InvalidInputError

#: The most hits one call returns (the functions clamp to the same bound).
MAX_MATCH_COUNT = 1000
_TIERS = frozenset({"critical", "high", "medium", "low"})


def check_match_count(match_count: int) -> int:
    """``match_count`` if it is an integer from 1 to :data:`MAX_MATCH_COUNT`, else InvalidInputError."""
    if (
        isinstance(match_count, bool)
        or not isinstance(match_count, int)
        or not 1 <= match_count <= MAX_MATCH_COUNT
    ):
        raise InvalidInputError(
            f"match_count must be an integer from 1 to {MAX_MATCH_COUNT}, got {match_count!r}",
            field="match_count",
        )
    return match_count


def check_filters(salience_tier: str | None, since: datetime | None, *, include_deleted: bool) -> None:
    """InvalidInputError naming the first of the filters every search takes that is not valid."""
    if salience_tier is not None and salience_tier not in _TIERS:
        raise InvalidInputError(
            f"salience_tier must be one of {sorted(_TIERS)} or None, got {salience_tier!r}",
            field="salience_tier",
        )
    if since is not None and not isinstance(since, datetime):
        raise InvalidInputError(f"since must be a datetime, got {type(since).__name__}", field="since")
    if not isinstance(include_deleted, bool):
        raise InvalidInputError(
            f"include_deleted must be a bool, got {include_deleted!r}", field="include_deleted"
        )


def check_number(value: Any, field: str, low: float, high: float) -> float:
    """``value`` as a float if it is a finite number from ``low`` to ``high``, else InvalidInputError."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInputError(f"{field} must be a number, got {value!r}", field=field)
    if not low <= value <= high:
        raise InvalidInputError(f"{field} must be between {low} and {high}, got {value}", field=field)
    return float(value)


def check_text(query: Any, field: str = "query") -> str:
    """``query`` if it is a non-empty string, else InvalidInputError."""
    if not isinstance(query, str) or not query.strip():
        raise InvalidInputError(f"{field} must be a non-empty string, got {query!r}", field=field)
    return query
