"""``client.conversations``: the memories that search and synthesis read."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

import numpy as np
import numpy.typing as npt
from typing_extensions import TypedDict, Unpack

from ...backends.base import Insert
from ...embeddings import EMBEDDING_DIMENSION, check_dimension
from ...errors import InvalidInput
from ...models import Conversation, ConversationCreate, ConversationUpdate, SalienceTier
from ...resources.query import DEFAULT_PAGE_SIZE, FilterSpec, Page
from ...resources.tables import CONVERSATIONS
from ._base import AsyncTableResource, as_uuid, validate_payload


class ConversationFilters(TypedDict, total=False):
    """Filters of ``conversations.list``/``page``/``count``."""

    instance_key: str
    primary_emotion: str
    salience_tier: SalienceTier
    topic: str
    is_deleted: bool
    user_marked_important: bool
    since: datetime
    until: datetime


class _BulkRow(ConversationCreate):
    """A row of ``bulk_create``: a create payload plus what an import may carry over."""

    id: UUID | None = None
    is_deleted: bool = False
    updated_at: datetime | None = None


def _bulk_row(index: int, row: Mapping[str, Any], owner: UUID, binary: bool) -> dict[str, Any]:
    """One validated row of ``bulk_create``, ready for the backend."""
    if not isinstance(row, Mapping):
        raise InvalidInput(f"rows[{index}] must be a mapping of column values", field=f"rows[{index}]")
    data = dict(row)
    row_owner = data.pop("user_id", None)
    if row_owner is not None and as_uuid(row_owner, f"rows[{index}].user_id") != owner:
        raise InvalidInput(
            f"rows[{index}].user_id is not the user this call writes for", field=f"rows[{index}].user_id"
        )
    # The embedding is checked with numpy rather than pydantic: for 768 floats it is ~20x faster, which
    # matters at 100,000 rows.
    embedding = data.pop("embedding", None)
    payload = validate_payload(_BulkRow, data, what=f"rows[{index}]")
    out = payload.model_dump()
    out = {k: v for k, v in out.items() if v is not None or k in payload.model_fields_set}
    # Messages go as JSON: their timestamps must already be ISO strings.
    out["messages"] = payload.model_dump(mode="json", include={"messages"})["messages"]
    out["id"] = payload.id or uuid.uuid4()
    out["user_id"] = owner
    if embedding is not None:
        vector = _fast_vector(embedding)
        if vector is None:
            vector = check_dimension(embedding, field=f"rows[{index}].embedding")  # raises, naming the row
        out["embedding"] = vector if binary else _vector_text(vector)
    elif "embedding" in row:
        out["embedding"] = None
    return out


def _fast_vector(value: Any) -> npt.NDArray[np.float32] | None:
    """``value`` as a float32 vector if it is a good embedding (the common case, ~2 us), else None."""
    try:
        vector = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        return None
    if vector.shape != (EMBEDDING_DIMENSION,) or not bool(np.isfinite(vector).all()):
        return None
    return vector


def _vector_text(vector: Any) -> str:
    return "[" + ",".join(repr(x) for x in vector.tolist()) + "]"


@contextmanager
def _progress(show: bool, total: int) -> Iterator[Callable[[int], None]]:
    """A rich progress bar (rows, rate, time left) when ``show``; otherwise a no-op."""
    if not show:
        yield lambda n: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("storing memories"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns) as bar:
        task = bar.add_task("bulk_create", total=total, rate="")

        def advance(n: int) -> None:
            bar.advance(task, n)
            done, elapsed = bar.tasks[0].completed, bar.tasks[0].elapsed
            if elapsed:
                bar.update(task, rate=f"{done / elapsed:,.0f} rows/s")

        yield advance


class AsyncConversations(AsyncTableResource[Conversation]):
    """Conversation memories (the embedding is read only with ``include_embedding=True``)."""

    table = CONVERSATIONS
    filter_type = ConversationFilters
    filters: ClassVar = {
        "instance_key": FilterSpec("instance_key", "eq"),
        "primary_emotion": FilterSpec("primary_emotion", "eq"),
        "salience_tier": FilterSpec("salience_tier", "eq"),
        "topic": FilterSpec("extracted_topics", "cs"),
        "is_deleted": FilterSpec("is_deleted", "eq"),
        "user_marked_important": FilterSpec("user_marked_important", "eq"),
        "since": FilterSpec("created_at", "gte"),
        "until": FilterSpec("created_at", "lt"),
    }

    async def create(self, *, user_id: UUID | str | None = None, **fields: Any) -> Conversation:
        """Store a memory (fields of :class:`~phase3_sdk.models.ConversationCreate`)."""
        return await self._create(ConversationCreate, fields, user_id)

    async def create_many(
        self, rows: builtins.list[dict[str, Any]], *, user_id: UUID | str | None = None
    ) -> builtins.list[Conversation]:
        """Store several memories in one request; all are validated before any is sent."""
        payloads = [
            validate_payload(ConversationCreate, r, what=f"conversations[{i}]") for i, r in enumerate(rows)
        ]
        return await self._insert(payloads, user_id=user_id)

    async def bulk_create(
        self,
        rows: Iterable[Mapping[str, Any]],
        *,
        batch_size: int = 500,
        progress: bool = False,
        user_id: UUID | str | None = None,
    ) -> int:
        """Store many memories fast; returns how many of them are stored when it finishes.

        Every row is validated before anything is sent (a bad row raises :class:`InvalidInput` naming
        ``rows[i].field``). Rows may carry their own ``id`` (and, for imports, ``is_deleted`` and
        ``updated_at``); a row without one gets a new UUID. Each batch of ``batch_size`` rows is one
        transaction, inserted ``ON CONFLICT (id) DO NOTHING``: a batch retried after a lost reply, or a
        whole import run again with the same ids, stores nothing twice (already-stored rows are counted,
        not duplicated). On a database connection a batch is sent with binary COPY; over REST it is one
        POST. ``progress=True`` shows a progress bar on the terminal.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= 10_000:
            raise InvalidInput(
                f"batch_size must be an integer from 1 to 10000, got {batch_size!r}", field="batch_size"
            )
        owner = self._owner(user_id)
        # COPY sends numpy arrays as binary vectors; JSON (REST, plain INSERT) needs pgvector's text form.
        binary = bool(getattr(self._transport.backend, "bulk_copy", False))
        prepared = [_bulk_row(i, row, owner, binary) for i, row in enumerate(rows)]
        stored = 0
        with _progress(progress, len(prepared)) as advance:
            for start in range(0, len(prepared), batch_size):
                batch = prepared[start : start + batch_size]
                written = await self._transport.insert(
                    Insert(self.table.name, batch, ("id",), self.table.json_columns, bulk=True)
                )
                stored += len(written)
                advance(len(batch))
        return stored

    async def update(self, id: UUID | str, **fields: Any) -> Conversation:
        """Change the given fields of a memory."""
        return await self._update(id, ConversationUpdate, fields)

    async def soft_delete(self, id: UUID | str) -> Conversation:
        """Mark a memory deleted: search and synthesis skip it, and it can be restored."""
        return await self._update(id, ConversationUpdate, {"is_deleted": True})

    def _columns(self, include_embedding: bool) -> tuple[str, ...] | None:
        return self.table.columns if include_embedding else None

    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        include_embedding: bool = False,
        **filters: Unpack[ConversationFilters],
    ) -> AsyncIterator[Conversation]:
        """Memories matching the filters, newest first by default."""
        return self._list(
            filters, order=order, page_size=page_size, limit=limit, columns=self._columns(include_embedding)
        )

    async def page(
        self,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
        *,
        order: str | None = None,
        include_embedding: bool = False,
        **filters: Unpack[ConversationFilters],
    ) -> Page[Conversation]:
        """One page of memories."""
        return await self._page(
            filters, limit=limit, cursor=cursor, order=order, columns=self._columns(include_embedding)
        )

    async def count(self, **filters: Unpack[ConversationFilters]) -> int:
        """How many memories match the filters."""
        return await self._count(filters)
