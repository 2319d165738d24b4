"""A backend bound to one identity, with the retry policy applied around each call, once, here."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from .._flavour import AsyncOutcome
from ..backends.base import AsyncBackend, Delete, Insert, Query, Rpc, Update, row_owner
from ..errors import UserNotFoundError
from ..identity import Identity
from ..retry import RetryPolicy

T = TypeVar("T")


class AsyncTransport:
    """What resources talk to. Cheap to make: it holds three references and no connection."""

    __slots__ = ("backend", "identity", "retry")

    def __init__(self, backend: AsyncBackend, identity: Identity, retry: RetryPolicy) -> None:
        self.backend = backend
        self.identity = identity
        self.retry = retry

    @property
    def typed_rows(self) -> bool:
        """Whether the backend's rows hold values its database driver already decoded into Python types
        (UUID, datetime, ...) rather than JSON values; a backend that does not say is taken as JSON."""
        return self.backend.typed_rows

    @property
    def max_rows(self) -> int | None:
        """The most rows one read may return (PostgREST's ``db-max-rows``); None where nothing caps reads."""
        return self.backend.max_rows

    def with_identity(self, identity: Identity) -> AsyncTransport:
        """The same backend and policy acting for someone else."""
        return AsyncTransport(self.backend, identity, self.retry)

    async def _call(self, fn: Callable[[], AsyncOutcome[T]], *, idempotent: bool, op: object = None) -> T:
        try:
            # The first attempt runs outside tenacity, which is entered only after a failure worth retrying:
            # its controller (objects, a Future and a Condition per attempt) cost ~50 us of CPU per call
            # amid a search's own ~0.5 ms, for calls that nearly always succeed at once.
            started = time.monotonic()
            try:
                return await fn()
            except Exception as exc:
                if not self.retry.should_retry(exc, idempotent=idempotent):
                    raise
                failed: Exception | None = exc
            spent = time.monotonic() - started
            async for attempt in self.retry.async_retrying_after(spent, idempotent=idempotent):
                with attempt:
                    if failed is not None:
                        # The first attempt's failure, for tenacity to count, log and wait after as its own.
                        first, failed = failed, None
                        raise first
                    return await fn()
        except UserNotFoundError as exc:
            # Under RLS the database does not say which user id failed the foreign key; we know it.
            user = exc.user_id or self.identity.user_id or row_owner(op)
            if user is not None and exc.user_id is None:
                raise exc.for_user(user) from None
            raise
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def select(self, query: Query) -> list[dict[str, Any]]:
        """Rows of a query (reads are always safe to retry)."""
        return await self._call(lambda: self.backend.select(query, self.identity), idempotent=True)

    async def count(self, query: Query) -> int:
        """How many rows a query matches."""
        return await self._call(lambda: self.backend.count(query, self.identity), idempotent=True)

    async def insert(self, op: Insert) -> list[dict[str, Any]]:
        """Insert rows. Safe to retry because every row carries a client-generated id."""
        return await self._call(lambda: self.backend.insert(op, self.identity), idempotent=True, op=op)

    async def update(self, op: Update, *, idempotent: bool = True) -> list[dict[str, Any]]:
        """Update rows; setting values by key is idempotent unless the caller says otherwise."""
        return await self._call(lambda: self.backend.update(op, self.identity), idempotent=idempotent, op=op)

    async def delete(self, op: Delete) -> list[dict[str, Any]] | None:
        """Delete rows (deleting twice leaves the same state); the rows deleted, or ``None`` if unknown.

        ``None`` means the attempt that answered deleted nothing after an earlier attempt failed in
        transit (say the connection died after the commit): that attempt may have deleted the rows, so
        "not there" is all that is known. Callers must not report such a delete as not found.
        """
        attempts = 0

        async def attempt() -> list[dict[str, Any]]:
            nonlocal attempts
            attempts += 1
            return await self.backend.delete(op, self.identity)

        rows = await self._call(attempt, idempotent=True)
        return None if not rows and attempts > 1 else rows

    async def rpc(self, op: Rpc, *, idempotent: bool) -> Any:
        """Call a function; only the caller knows whether it is safe to repeat."""
        return await self._call(lambda: self.backend.rpc(op, self.identity), idempotent=idempotent)
