"""The job queue's database calls: claim, heartbeat, finish and fail (functions in the migrations)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from ...backends.base import Rpc
from ...models import SynthesisJob
from ..transport import AsyncTransport


class AsyncJobQueue:
    """Thin wrappers over the queue's SQL functions, bound to one transport (one identity).

    The worker claims, heartbeats and fails jobs as itself (usually the service role) and finishes them as
    the job's user, so the results are written under that user's row-level security.
    """

    __slots__ = ("_transport",)

    def __init__(self, transport: AsyncTransport) -> None:
        self._transport = transport

    async def claim(self, worker: str, limit: int, lease_seconds: int) -> list[SynthesisJob]:
        """Claim up to ``limit`` due jobs (or jobs whose worker died) for ``worker``.

        Never retried: a claim whose answer was lost may have claimed jobs, and repeating it would claim
        more. Jobs claimed by a lost answer come back when their lease expires.
        """
        rows = await self._transport.rpc(
            Rpc(
                "claim_synthesis_jobs",
                {"p_worker": worker, "p_limit": limit, "p_lease_seconds": lease_seconds},
            ),
            idempotent=False,
        )
        return [SynthesisJob.model_validate(r) for r in rows]

    async def heartbeat(self, job_id: UUID, worker: str, progress: float | None, lease_seconds: int) -> bool:
        """Renew the lease and report progress; False means the job is no longer this worker's."""
        ok = await self._transport.rpc(
            Rpc(
                "heartbeat_synthesis_job",
                {
                    "p_job_id": job_id,
                    "p_worker": worker,
                    "p_progress": progress,
                    "p_lease_seconds": lease_seconds,
                },
                returns="scalar",
            ),
            idempotent=True,
        )
        return bool(ok)

    async def finish(
        self,
        job_id: UUID,
        worker: str,
        *,
        patterns: Sequence[dict[str, Any]],
        insights: dict[str, Any],
        memories_analyzed: int,
        next_run: datetime | None,
    ) -> SynthesisJob | None:
        """Merge the patterns and complete (or re-queue) the job, atomically; None if the lease was lost.

        Safe to retry: once a first attempt has committed, the job is no longer running under this lease, so
        a repeat writes nothing (and answers None).
        """
        rows = await self._transport.rpc(
            Rpc(
                "finish_synthesis_job",
                {
                    "p_job_id": job_id,
                    "p_worker": worker,
                    "p_patterns": list(patterns),
                    "p_insights": insights,
                    "p_memories_analyzed": memories_analyzed,
                    "p_next_run": next_run,
                },
                casts={"p_patterns": "jsonb", "p_insights": "jsonb", "p_next_run": "timestamptz"},
            ),
            idempotent=True,
        )
        return SynthesisJob.model_validate(rows[0]) if rows else None

    async def fail(
        self, job_id: UUID, worker: str, *, error: str, retry_in: float, next_run: datetime | None
    ) -> SynthesisJob | None:
        """Record a failed run: pending again after ``retry_in`` seconds, or ``failed``; None if not ours."""
        rows = await self._transport.rpc(
            Rpc(
                "fail_synthesis_job",
                {
                    "p_job_id": job_id,
                    "p_worker": worker,
                    "p_error": error,
                    "p_retry_in_seconds": retry_in,
                    "p_next_run": next_run,
                },
                casts={"p_next_run": "timestamptz", "p_retry_in_seconds": "double precision"},
            ),
            idempotent=True,
        )
        return SynthesisJob.model_validate(rows[0]) if rows else None
