"""The skill engine's writes, one database function each (``20260202000900_skill_engine.sql``).

Every call here is one request on either backend, and safe to retry: usage rows carry client-generated
ids, a step record is appended once per stepId, an execution starts and finishes once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from ...backends.base import Rpc
from ...engine.runs import first_execution
from ...errors import LeaseLostError
from ...models import SkillExecution
from ..transport import AsyncTransport


class AsyncExecutionStore:
    """Persistence of executions and tool calls for the engine (no policy: the executor decides)."""

    __slots__ = ("_transport",)

    def __init__(self, transport: AsyncTransport) -> None:
        self._transport = transport

    async def log_calls(self, usage: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``custom_tool_usage`` rows and bump their tools' counters, in one round trip."""
        await self._transport.rpc(
            Rpc("log_tool_calls", {"p_usage": list(usage)}, returns="scalar", casts={"p_usage": "jsonb"}),
            idempotent=True,
        )

    async def start(
        self,
        execution_id: UUID,
        skill_id: UUID,
        user_id: UUID | None,
        inputs: Mapping[str, Any],
        snapshot: list[dict[str, Any]],
        owner: str,
        lease_seconds: float,
    ) -> SkillExecution:
        """Insert the execution as ``running`` with ``owner`` holding the lease; return the row."""
        rows = await self._transport.rpc(
            Rpc(
                "start_skill_execution",
                {
                    "p_execution_id": execution_id,
                    "p_skill_id": skill_id,
                    "p_user_id": user_id,
                    "p_input": dict(inputs),
                    "p_snapshot": snapshot,
                    "p_owner": owner,
                    "p_lease_seconds": float(lease_seconds),
                },
                returns="rows",
                casts={"p_input": "jsonb", "p_snapshot": "jsonb", "p_user_id": "uuid"},
            ),
            idempotent=True,
        )
        row = first_execution(rows)
        if row is None:  # pragma: no cover - the function raises instead
            raise LeaseLostError(f"execution {execution_id} could not be started")
        return row

    async def checkpoint(
        self,
        execution_id: UUID,
        owner: str,
        lease_seconds: float,
        record: Mapping[str, Any],
        usage: Sequence[Mapping[str, Any]],
    ) -> bool:
        """Log the step's tool calls, append its record, extend the lease; return ``cancel_requested``.

        Raises :class:`~phase3_sdk.errors.LeaseLostError` when ``owner`` no longer holds the execution.
        """
        cancel = await self._transport.rpc(
            Rpc(
                "checkpoint_skill_step",
                {
                    "p_execution_id": execution_id,
                    "p_owner": owner,
                    "p_lease_seconds": float(lease_seconds),
                    "p_step": dict(record),
                    "p_usage": list(usage),
                },
                returns="scalar",
                casts={"p_step": "jsonb", "p_usage": "jsonb"},
            ),
            idempotent=True,
        )
        if cancel is None:
            raise LeaseLostError(
                f"execution {execution_id} is no longer held by this process (its lease expired and another "
                "process took it over, or it was ended); step not checkpointed"
            )
        return bool(cancel)

    async def finish(
        self,
        execution_id: UUID,
        owner: str,
        status: str,
        final_output: Any,
        error: str | None,
        execution_time_ms: float,
    ) -> SkillExecution:
        """End the execution, release the lease, count it on the skill; return the finished row."""
        rows = await self._transport.rpc(
            Rpc(
                "finish_skill_execution",
                {
                    "p_execution_id": execution_id,
                    "p_owner": owner,
                    "p_status": status,
                    "p_final_output": final_output,
                    "p_error": error,
                    "p_execution_time_ms": round(execution_time_ms, 3),
                },
                returns="rows",
                casts={"p_final_output": "jsonb", "p_error": "text"},
            ),
            idempotent=True,
        )
        row = first_execution(rows)
        if row is None:
            raise LeaseLostError(
                f"execution {execution_id} is no longer held by this process; it was not finished"
            )
        return row

    async def claim(self, execution_id: UUID, owner: str, lease_seconds: float) -> SkillExecution | None:
        """Take or extend the lease (``claim_skill_execution``); ``None`` if it is not free or not running."""
        rows = await self._transport.rpc(
            Rpc(
                "claim_skill_execution",
                {
                    "p_execution_id": execution_id,
                    "p_owner": owner,
                    # The function takes whole seconds; round up so a lease is never shorter than asked.
                    "p_lease_seconds": max(1, math.ceil(lease_seconds)),
                },
                returns="rows",
            ),
            idempotent=True,
        )
        return first_execution(rows)

    async def find_expired(self, limit: int) -> list[tuple[UUID, UUID]]:
        """``(execution id, owner)`` of running executions whose lease expired, oldest expiry first.

        ``find_expired_skill_executions`` (``20260202001200_skill_resume.sql``): expiry is judged by the
        database clock, and RLS limits a user to their own runs. Only a hint: each must still be claimed.
        """
        rows = await self._transport.rpc(
            Rpc("find_expired_skill_executions", {"p_limit": int(limit)}, returns="rows"),
            idempotent=True,
        )
        return [(UUID(str(r["id"])), UUID(str(r["user_id"]))) for r in rows]

    async def cancel(self, execution_id: UUID) -> SkillExecution | None:
        """Request cancellation (or end a run nobody holds); the row as it is now, ``None`` if invisible."""
        rows = await self._transport.rpc(
            Rpc("cancel_skill_execution", {"p_execution_id": execution_id}, returns="rows"),
            idempotent=True,
        )
        return first_execution(rows)
