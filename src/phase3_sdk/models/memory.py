"""Conversation memories and search hits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, NotRequired
from uuid import UUID

from pydantic import ConfigDict, Field
from typing_extensions import TypedDict

from ._base import Embedding, PayloadModel, RowModel
from ._update import UpdateModel

SalienceTier = Literal["critical", "high", "medium", "low"]

Unit = Field(default=None, ge=0, le=1)


class Message(PayloadModel):
    """One message of a conversation."""

    model_config = {"extra": "allow"}

    role: str
    content: str
    timestamp: datetime | None = None


class MessageDict(TypedDict):
    """:class:`Message` as a plain-dict schema, for ``bulk_create``: the same fields and checks, but
    validating into dicts rather than models is ~6x cheaper per message, and a bulk import validates
    hundreds of thousands of them. Keep the fields in step with :class:`Message` (a test compares them)."""

    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]

    role: str
    content: str
    timestamp: NotRequired[datetime | None]


class Conversation(RowModel):
    """A ``conversations`` row: one memory. ``embedding`` is only read when asked for (it is large)."""

    id: UUID
    user_id: UUID
    instance_key: str | None = None
    messages: list[dict[str, Any]] = Field(default_factory=list)
    primary_emotion: str | None = None
    secondary_emotions: list[str] | None = None
    valence: float | None = None
    arousal: float | None = None
    dominance: float | None = None
    novelty: float | None = None
    self_relevance: float | None = None
    emotional_salience: float | None = None
    salience_tier: SalienceTier | None = None
    extracted_topics: list[str] | None = None
    embedding: Embedding | None = None
    decay_multiplier: float = 1.0
    user_marked_important: bool = False
    is_deleted: bool = False
    attachment_context: str | None = None
    prospective_self_context: str | None = None
    created_at: datetime
    updated_at: datetime

    @property
    def text(self) -> str:
        """The messages' contents, one per line."""
        return "\n".join(str(m.get("content", "")) for m in self.messages)


class ConversationCreate(PayloadModel):
    """A memory to store. ``created_at`` may be given when importing history."""

    instance_key: str | None = None
    messages: list[Message] = Field(min_length=1)
    primary_emotion: str | None = None
    secondary_emotions: list[str] = Field(default_factory=list)
    valence: float | None = Field(default=None, ge=-1, le=1)
    arousal: float | None = Unit
    dominance: float | None = Unit
    novelty: float | None = Unit
    self_relevance: float | None = Unit
    emotional_salience: float | None = Unit
    salience_tier: SalienceTier | None = None
    extracted_topics: list[str] = Field(default_factory=list)
    embedding: Embedding | None = None
    decay_multiplier: float = 1.0
    user_marked_important: bool = False
    attachment_context: str | None = None
    prospective_self_context: str | None = None
    created_at: datetime | None = None


class ConversationUpdate(UpdateModel):
    """Fields to change on a memory."""

    nullable = frozenset(
        {
            "instance_key",
            "primary_emotion",
            "valence",
            "arousal",
            "dominance",
            "novelty",
            "self_relevance",
            "emotional_salience",
            "salience_tier",
            "embedding",
            "attachment_context",
            "prospective_self_context",
        }
    )

    instance_key: str | None = None
    messages: list[Message] | None = None
    primary_emotion: str | None = None
    secondary_emotions: list[str] | None = None
    valence: float | None = Field(default=None, ge=-1, le=1)
    arousal: float | None = Unit
    dominance: float | None = Unit
    novelty: float | None = Unit
    self_relevance: float | None = Unit
    emotional_salience: float | None = Unit
    salience_tier: SalienceTier | None = None
    extracted_topics: list[str] | None = None
    embedding: Embedding | None = None
    decay_multiplier: float | None = None
    user_marked_important: bool | None = None
    is_deleted: bool | None = None
    attachment_context: str | None = None
    prospective_self_context: str | None = None


class SearchHit(Conversation):
    """A memory found by search, with how well it matched.

    ``similarity`` is cosine similarity (semantic), ``rank`` the full-text rank, ``score`` the fused score
    of hybrid search; each is None where that kind of search did not run.
    """

    similarity: float | None = None
    rank: float | None = None
    score: float | None = None


#: How ``semantic_search`` ranked: ``exact`` (every matching memory compared with the query), ``hnsw``
#: (the caller's own HNSW index, best candidates re-ranked exactly, a hard query's from a second, longer
#: walk too: approximate), ``hnsw+sketch`` (a hard query with no longer list to walk: the index's candidates
#: and a sketch scan's, re-ranked exactly: approximate) or ``sketch`` (a large caller without an index:
#: sketch ranking, then exact re-ranking: approximate).
SearchMethod = Literal["exact", "hnsw", "hnsw+sketch", "sketch"]
#: The values of :data:`SearchMethod`, for checking what the database answered.
SEARCH_METHODS: frozenset[str] = frozenset({"exact", "hnsw", "hnsw+sketch", "sketch"})


class SearchResults(list[SearchHit]):
    """The hits of ``search.semantic``, most similar first, and how they were computed.

    A plain list of :class:`SearchHit` in every other way; the same class for the sync and async clients.
    """

    def __init__(self, hits: Sequence[SearchHit] = (), method: SearchMethod | None = None) -> None:
        super().__init__(hits)
        #: How the database ranked (see :data:`SearchMethod`); None when nothing was found.
        self.method: SearchMethod | None = method

    @property
    def approximate(self) -> bool:
        """True when an index chose the candidates, so a true neighbour may be missing (recall < 1)."""
        return self.method in ("hnsw", "hnsw+sketch", "sketch")
