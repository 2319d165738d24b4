"""``client.conversations``: the memories that search and synthesis read."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, ClassVar

from typing_extensions import TypedDict, Unpack
from uuid import UUID

from ...models import Conversation, ConversationCreate, ConversationUpdate, SalienceTier
from ...resources.query import DEFAULT_PAGE_SIZE, FilterSpec, Page
from ...resources.tables import CONVERSATIONS
from ._base import AsyncTableResource, validate_payload


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
        payloads = [validate_payload(ConversationCreate, r, what=f"conversations[{i}]") for i, r in enumerate(rows)]
        return await self._insert(payloads, user_id=user_id)

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
        self, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None, *, order: str | None = None,
        include_embedding: bool = False, **filters: Unpack[ConversationFilters],
    ) -> Page[Conversation]:
        """One page of memories."""
        return await self._page(
            filters, limit=limit, cursor=cursor, order=order, columns=self._columns(include_embedding)
        )

    async def count(self, **filters: Unpack[ConversationFilters]) -> int:
        """How many memories match the filters."""
        return await self._count(filters)
