"""The I/O half of the skill engine: tool runs and durable executions (pure half: ``phase3_sdk.engine``)."""

from .executor import DEFAULT_LEASE_SECONDS, DEFAULT_RETRY_BACKOFF, AsyncSkillExecutor
from .store import AsyncExecutionStore
from .tools import AsyncToolRunner

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_RETRY_BACKOFF",
    "AsyncExecutionStore",
    "AsyncSkillExecutor",
    "AsyncToolRunner",
]
