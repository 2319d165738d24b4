"""Cron schedules of recurring synthesis jobs: validating an expression and finding its next run (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

from cronsim import CronSim, CronSimError

from ...errors import InvalidInputError


def check_cron(expression: str) -> str:
    """``expression`` if it is a valid 5-field cron expression, else InvalidInputError naming ``cron``."""
    try:
        CronSim(expression, datetime.now(UTC))
    except (CronSimError, ValueError, TypeError) as exc:
        raise InvalidInputError(
            f"cron must be a 5-field cron expression, got {expression!r}: {exc}", field="cron"
        ) from None
    return expression


def next_cron_run(expression: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` that ``expression`` matches, in UTC (schedules are UTC)."""
    check_cron(expression)
    start = after.astimezone(UTC) if after.tzinfo else after.replace(tzinfo=UTC)
    result: datetime = next(CronSim(expression, start))
    return result
