"""``client.conversations``: the memories that search and synthesis read."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, overload
from uuid import UUID

from typing_extensions import Unpack

from ..._deprecation import warn_deprecated
from ..._flavour import async_run_blocking
from ..._progress import ProgressBar
from ..._rows_display import AsyncRows
from ...backends.base import Insert
from ...errors import InvalidInputError
from ...filters import ConversationFilters
from ...models import Conversation, ConversationCreate, ConversationUpdate
from ...models._base import validate_payload
from ...models._memory_write import bulk_chunk, embedder_matrix, message_text, warn_cleared, warn_unembedded
from ...schema.query import DEFAULT_PAGE_SIZE, FilterSpec, Page
from ...schema.tables import CONVERSATIONS
from ..transport import AsyncTransport
from ._base import AsyncTableResource

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ...embeddings import Embedder


#: Rows per transaction of ``bulk_create``. With the stage reused and rows prepared in one pass per batch,
#: the per-transaction cost is ~2 ms, and benchmarks/ingest.py (100,000 rows x 768) measured 500, 1,000,
#: 2,000 and 5,000 within noise of each other (5,300-7,200 rows/s; bigger was not faster), so the default
#: stays at 500, the batch with the least memory in flight.
DEFAULT_BULK_BATCH = 500


async def _embed_texts(embedder: Embedder, texts: builtins.list[str]) -> npt.NDArray[np.float32]:
    """The embedder's vectors for ``texts`` as an (n, 768) float32 matrix, checked before any is stored."""
    vectors = await async_run_blocking(embedder.embed, texts)  # CPU-bound or a blocking HTTP call
    return embedder_matrix(vectors, len(texts))


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

    def __init__(self, transport: AsyncTransport, embedder: Embedder | None = None) -> None:
        super().__init__(transport)
        #: Embeds memories written without an embedding (None: they are stored without, with a warning).
        self.embedder = embedder

    async def create(self, *, user_id: UUID | str | None = None, **fields: Any) -> Conversation:
        """Store a memory (fields of :class:`~phase3_sdk.models.ConversationCreate`).

        Without an ``embedding``, the client's embedder (if one was configured) embeds the messages'
        text; with none configured the memory is stored unembedded and a
        :class:`~phase3_sdk.errors.MissingEmbeddingsWarning` says so (once per process).
        """
        payload = validate_payload(ConversationCreate, fields, what=f"{self._what} row")
        return (await self._store([payload], user_id))[0]

    async def create_many(
        self, rows: builtins.list[dict[str, Any]], *, user_id: UUID | str | None = None
    ) -> builtins.list[Conversation]:
        """Deprecated (use :meth:`bulk_create`): store several memories in one request, returning them.

        All are validated before any is sent. Rows without an ``embedding`` are embedded in one call of
        the client's embedder, as in :meth:`create`. :meth:`bulk_create` does the same in batches,
        idempotently, and returns how many were stored; give the rows their own ``id`` to know them
        afterwards.
        """
        warn_deprecated(
            "conversations.create_many()",
            "conversations.bulk_create()",
            note="it returns the count; give rows their own id to know them",
        )
        payloads = [
            validate_payload(ConversationCreate, r, what=f"conversations[{i}]") for i, r in enumerate(rows)
        ]
        return await self._store(payloads, user_id)

    async def _store(
        self, payloads: builtins.list[ConversationCreate], user_id: UUID | str | None
    ) -> builtins.list[Conversation]:
        missing = [p for p in payloads if p.embedding is None]
        if missing and self.embedder is not None:
            matrix = await _embed_texts(self.embedder, [message_text(p.messages) for p in missing])
            for payload, vector in zip(missing, matrix, strict=True):
                payload.embedding = vector.tolist()
        elif missing:
            warn_unembedded(len(missing), stacklevel=3)  # the user's create / create_many call
        return await self._insert(payloads, user_id=user_id)

    async def bulk_create(
        self,
        rows: Iterable[Mapping[str, Any]],
        *,
        batch_size: int = DEFAULT_BULK_BATCH,
        progress: bool = False,
        user_id: UUID | str | None = None,
    ) -> int:
        """Store many memories fast; returns how many of them are stored when it finishes.

        Every row is validated before anything is sent (a bad row raises :class:`InvalidInputError` naming
        ``rows[i].field``). Rows may carry their own ``id`` (and, for imports, ``is_deleted`` and
        ``updated_at``); a row without one gets a new UUID. Each batch of ``batch_size`` rows is one
        transaction, inserted ``ON CONFLICT (id) DO NOTHING``: a batch retried after a lost reply, or a
        whole import run again with the same ids, stores nothing twice (already-stored rows are counted,
        not duplicated). On a database connection a batch is sent with binary COPY; over REST it is one
        POST. ``progress=True`` shows a progress bar on the terminal.

        Rows without an ``embedding`` are embedded with the client's embedder, if one was configured
        (one call per batch, just before the batch is sent); otherwise they are stored without one and a
        :class:`~phase3_sdk.errors.MissingEmbeddingsWarning` says semantic search cannot find them.

        Memory: the validated rows are held until the end (about 1 KB per row besides its embedding, plus
        3 KB per embedding given as a list rather than a float32 array); a batch adds ~6 KB per row while
        it is sent (3 MB at the default 500).
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= 10_000:
            raise InvalidInputError(
                f"batch_size must be an integer from 1 to 10000, got {batch_size!r}", field="batch_size"
            )
        owner = self._owner(user_id)
        # COPY sends float32 arrays as binary vectors; JSON (REST, plain INSERT) needs pgvector's text form.
        binary = self._transport.backend.bulk_copy
        rows = rows if isinstance(rows, Sequence) else builtins.list(rows)
        # All of it is validated before the first batch is sent, chunk by chunk (one pydantic call and one
        # numpy pass per chunk).
        batches = [
            bulk_chunk(rows[start : start + batch_size], start, owner, binary=binary)
            for start in range(0, len(rows), batch_size)
        ]
        stored = 0
        unembedded = 0
        with ProgressBar("storing memories", total=len(rows), unit="rows", enabled=progress) as bar:
            for batch in batches:
                missing = [row for row in batch if row["embedding"] is None]
                if missing and self.embedder is not None:
                    from ...embeddings import vector_text

                    # One embedder call per batch, just before the batch is sent: bounded memory, and a
                    # provider failure leaves the earlier batches stored (re-running skips them by id).
                    matrix = await _embed_texts(self.embedder, [message_text(r["messages"]) for r in missing])
                    for row, vector in zip(missing, matrix, strict=True):
                        row["embedding"] = vector if binary else vector_text(vector)
                else:
                    unembedded += len(missing)
                written = await self._transport.insert(
                    Insert(self.table.name, batch, ("id",), self.table.json_columns, bulk=True)
                )
                stored += len(written)
                bar.advance(len(batch))
        warn_unembedded(unembedded, stacklevel=2)  # the user's bulk_create call
        return stored

    async def update(self, id: UUID | str, **fields: Any) -> Conversation:
        """Change the given fields of a memory.

        New ``messages`` without an ``embedding`` are new text, so the old embedding no longer says what the
        memory is about: the client's embedder (if one was configured) embeds the new text, as ``create``
        does; with none the embedding is cleared, and a :class:`~phase3_sdk.errors.MissingEmbeddingsWarning`
        says so (once per process). A stale vector would let semantic search find the memory by what it no
        longer says; a cleared one is what ``search.semantic`` already counts and announces.
        """
        if fields.get("messages") is not None and "embedding" not in fields:
            # Checked first: the embedder (maybe a paid API) is never called for an update that would fail.
            payload = validate_payload(ConversationUpdate, fields, what=f"{self._what} update")
            if self.embedder is not None:
                matrix = await _embed_texts(self.embedder, [message_text(payload.messages or [])])
                fields = {**fields, "embedding": matrix[0].tolist()}
            else:
                fields = {**fields, "embedding": None}
                warn_cleared(stacklevel=2)  # the user's update call
        return await self._update(id, ConversationUpdate, fields)

    async def soft_delete(self, id: UUID | str) -> Conversation:
        """Mark a memory deleted: search and synthesis skip it, and it can be restored."""
        return await self._update(id, ConversationUpdate, {"is_deleted": True})

    def _columns(self, *, include_embedding: bool) -> tuple[str, ...] | None:
        return self.table.columns if include_embedding else None

    @overload
    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        include_embedding: bool = False,
        columns: None = None,
        **filters: Unpack[ConversationFilters],
    ) -> AsyncRows[Conversation]: ...
    @overload
    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        include_embedding: bool = False,
        columns: Sequence[str],
        **filters: Unpack[ConversationFilters],
    ) -> AsyncRows[dict[str, Any]]: ...
    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        include_embedding: bool = False,
        columns: Sequence[str] | None = None,
        **filters: Unpack[ConversationFilters],
    ) -> AsyncRows[Conversation] | AsyncRows[dict[str, Any]]:
        """Memories matching the filters, newest first by default.

        ``columns=[...]`` reads only those columns; each row is then a dict of them.
        """
        if columns is not None:
            return self._list_columns(filters, columns, order=order, page_size=page_size, limit=limit)
        return self._list(
            filters,
            order=order,
            page_size=page_size,
            limit=limit,
            columns=self._columns(include_embedding=include_embedding),
        )

    async def page(
        self,
        page_size: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
        *,
        order: str | None = None,
        limit: int | None = None,
        include_embedding: bool = False,
        **filters: Unpack[ConversationFilters],
    ) -> Page[Conversation]:
        """One page of memories."""
        return await self._page(
            filters,
            page_size=page_size,
            limit=limit,
            cursor=cursor,
            order=order,
            columns=self._columns(include_embedding=include_embedding),
        )

    async def count(self, **filters: Unpack[ConversationFilters]) -> int:
        """How many memories match the filters."""
        return await self._count(filters)
