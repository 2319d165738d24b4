"""``client.search``: the caller's memories nearest to a query, through ``semantic_search``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import TypeAdapter, ValidationError

from ...backends.base import Rpc
from ...models import Embedding, SalienceTier, SearchHit
from ...models._base import invalid_input_from
from ..transport import AsyncTransport

_EMBEDDING: TypeAdapter[list[float]] = TypeAdapter(Embedding)


class AsyncSearch:
    """Search over the caller's own memories (RLS decides whose rows are seen)."""

    def __init__(self, transport: AsyncTransport) -> None:
        self._transport = transport

    async def semantic(
        self,
        embedding: Sequence[float],
        *,
        match_count: int = 10,
        threshold: float | None = 0.0,
        salience_tier: SalienceTier | None = None,
        since: datetime | None = None,
        include_deleted: bool = False,
    ) -> list[SearchHit]:
        """The ``match_count`` memories most similar (cosine) to ``embedding``, most similar first."""
        try:
            vector = _EMBEDDING.validate_python(list(embedding))
        except ValidationError as exc:
            raise invalid_input_from(exc, what="query embedding") from None
        rows = await self._transport.rpc(
            Rpc(
                "semantic_search",
                {
                    "query_embedding": _EMBEDDING.dump_python(vector),
                    "match_count": match_count,
                    "match_threshold": threshold,
                    "filter_salience_tier": salience_tier,
                    "filter_since": since,
                    "include_deleted": include_deleted,
                },
                returns="rows",
                casts={"query_embedding": "extensions.vector"},
            ),
            idempotent=True,
        )
        return [SearchHit.model_validate(r) for r in rows]
