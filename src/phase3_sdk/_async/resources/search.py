"""``client.search``: semantic, full-text and hybrid search over the caller's memories.

Each method is one call of a database function (``semantic_search``, ``text_search``, ``hybrid_search``)
that runs as the caller, so RLS decides whose memories are seen. Text given to ``semantic`` or ``hybrid``
is embedded here with the client's :class:`~phase3_sdk.embeddings.Embedder`; everything is validated
before any request.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from ..._extras import missing_extra

try:
    import numpy as np
    import numpy.typing as npt
except ImportError as exc:
    raise missing_extra(exc, "semantic search", "search") from None

from ..._flavour import async_run_blocking
from ...backends.base import VECTOR_CAST, Filter, Query, Rpc
from ...embeddings import EMBEDDING_DIMENSION, Embedder, HashingEmbedder, check_dimension
from ...errors import ConfigurationError, InvalidInputError, MissingEmbeddingsWarning
from ...models import SalienceTier, SearchHit
from ...models._rows import row_factory
from ...models._search_args import check_filters, check_match_count, check_number, check_text
from ...models.memory import SEARCH_METHODS, SearchMethod, SearchResults
from ...schema.tables import CONVERSATIONS
from ..transport import AsyncTransport

#: What ``semantic`` accepts as its query: text to embed, or an embedding.
QueryVector = Sequence[float] | npt.NDArray[Any]


class AsyncSearch:
    """Search over the caller's own memories. ``embedder`` turns query text into 768-dimension vectors."""

    def __init__(self, transport: AsyncTransport, embedder: Embedder | None = None) -> None:
        self._transport = transport
        self.embedder: Embedder = embedder if embedder is not None else HashingEmbedder()
        # A model of another width can never match the column; say so now, not at the first search.
        width = getattr(self.embedder, "dimension", EMBEDDING_DIMENSION)
        if width != EMBEDDING_DIMENSION:
            raise ConfigurationError(
                f"the embedder produces {width}-dimension vectors but conversations.embedding is "
                f"vector({EMBEDDING_DIMENSION})",
                hint="use a 768-dimension model (e.g. all-mpnet-base-v2) or HashingEmbedder()",
            )

    async def embed(self, text: str) -> list[float]:
        """The query embedding of ``text`` (what ``semantic(text)`` searches with)."""
        vector: list[float] = (await self._embed(check_text(text))).tolist()
        return vector

    async def _embed(self, text: str) -> npt.NDArray[np.float32]:
        # Embedding is CPU-bound (or a blocking model call): keep it off the event loop.
        vectors = await async_run_blocking(self.embedder.embed, [text])
        if len(vectors) != 1:
            raise ConfigurationError(f"the embedder returned {len(vectors)} vectors for one text")
        try:
            return check_dimension(vectors[0], field="embedder output")
        except InvalidInputError as exc:
            raise ConfigurationError(f"the embedder returned a bad vector: {exc.message}") from None

    async def _query_vector(self, query: str | QueryVector) -> npt.NDArray[np.float32]:
        if isinstance(query, str):
            return await self._embed(check_text(query))
        return check_dimension(query, field="query")

    async def _rows(self, function: str, args: dict[str, Any], casts: dict[str, str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await self._transport.rpc(
            Rpc(function, args, returns="rows", casts=casts), idempotent=True
        )
        return rows

    async def _call(self, function: str, args: dict[str, Any], casts: dict[str, str]) -> list[SearchHit]:
        return self._hits(await self._rows(function, args, casts))

    @staticmethod
    def _hits(rows: list[dict[str, Any]]) -> list[SearchHit]:
        # One validation call for the whole result (see models/_rows.py), where a model_validate per hit took
        # 0.66 ms of a search on a machine that evicted the client's caches while it waited for the server
        # (30 us where it did not). Untyped: a function's rows are JSON on the REST backend.
        return row_factory(SearchHit).build(rows, typed=False)

    async def semantic(
        self,
        query: str | QueryVector,
        *,
        match_count: int = 10,
        threshold: float | None = 0.0,
        salience_tier: SalienceTier | None = None,
        since: datetime | None = None,
        include_deleted: bool = False,
        exact: bool = False,
    ) -> SearchResults:
        """The ``match_count`` memories most similar (cosine) to ``query``, most similar first.

        ``query`` is a 768-dimension embedding, or text embedded with the client's embedder. Only hits
        with ``similarity >= threshold`` are returned (``None``: no threshold); ``salience_tier`` and
        ``since`` (``created_at >= since``) filter before ranking; deleted memories are skipped unless
        ``include_deleted``. Each hit has ``similarity`` set.

        By default the ranking is exact for callers with few memories (under 2,000) and approximate for
        larger ones: a sketch scan of all their memories, or, where ``phase3 db tune-search`` built their
        own HNSW index (from 5,000 memories), that index (recall@10 >= 0.99 measured on real text, see
        ``benchmarks/search.py``); the result's ``method`` and ``approximate`` say which was used.
        ``exact=True`` compares the query with every matching memory instead: the true top
        ``match_count``, at a cost linear in the caller's memory count.

        When nothing is found and some of the caller's memories have no embedding (semantic search
        cannot see those), a :class:`~phase3_sdk.errors.MissingEmbeddingsWarning` says how many.
        """
        check_match_count(match_count)
        if threshold is not None:
            threshold = check_number(threshold, "threshold", -1.0, 1.0)
        check_filters(salience_tier, since, include_deleted=include_deleted)
        if not isinstance(exact, bool):
            raise InvalidInputError(f"exact must be a bool, got {exact!r}", field="exact")
        vector = await self._query_vector(query)
        rows = await self._rows(
            "semantic_search",
            {
                # The checked float32 array: each backend sends it its own way (see VECTOR_CAST).
                "query_embedding": vector,
                "match_count": match_count,
                "match_threshold": threshold,
                "filter_salience_tier": salience_tier,
                "filter_since": since,
                "include_deleted": include_deleted,
                "exact": exact,
            },
            {"query_embedding": VECTOR_CAST},
        )
        method: str | None = None
        for row in rows:
            method = row.pop("search_method", None)
        if not rows and self._transport.identity.user_id is not None:
            await self._notice_unembedded(include_deleted=include_deleted)
        return SearchResults(
            self._hits(rows),
            cast(SearchMethod, method) if method in SEARCH_METHODS else None,
        )

    async def _notice_unembedded(self, *, include_deleted: bool) -> None:
        """Warn when an empty semantic result may be explained by memories that have no embedding.

        One extra count, paid only when a search returns nothing: an empty answer with thousands of
        unembedded memories behind it is otherwise indistinguishable from "nothing is similar".
        """
        filters = [Filter("embedding", "is", None)]
        if not include_deleted:
            filters.append(Filter("is_deleted", "eq", value=False))
        count = await self._transport.count(Query(CONVERSATIONS.name, ("id",), tuple(filters)))
        if count:
            warnings.warn(
                f"semantic search found nothing, and {count} of your memories have no embedding, so it "
                "cannot see them: store memories with an embedding, or give the client an embedder "
                "(embedder=...) to embed them on write; search.text finds them meanwhile",
                MissingEmbeddingsWarning,
                stacklevel=3,
            )

    async def text(
        self,
        query: str,
        *,
        match_count: int = 10,
        salience_tier: SalienceTier | None = None,
        since: datetime | None = None,
        include_deleted: bool = False,
    ) -> list[SearchHit]:
        """Full-text search: memories whose messages or topics match ``query``, best ``rank`` first.

        ``query`` uses web-search syntax (``deadline stress``, ``"exact phrase"``, ``work -meeting``,
        ``climbing or running``), English stemming, topics weighing more than message text. Needs no
        embeddings. Each hit has ``rank`` set.
        """
        check_text(query)
        check_match_count(match_count)
        check_filters(salience_tier, since, include_deleted=include_deleted)
        return await self._call(
            "text_search",
            {
                "query": query,
                "match_count": match_count,
                "filter_salience_tier": salience_tier,
                "filter_since": since,
                "include_deleted": include_deleted,
            },
            {},
        )

    async def hybrid(
        self,
        query: str,
        *,
        match_count: int = 10,
        semantic_weight: float = 1.0,
        text_weight: float = 1.0,
        rrf_k: int = 60,
        embedding: QueryVector | None = None,
        salience_tier: SalienceTier | None = None,
        since: datetime | None = None,
        include_deleted: bool = False,
    ) -> list[SearchHit]:
        """Semantic and full-text search fused by reciprocal rank, in one database call.

        A memory's ``score`` is ``semantic_weight / (rrf_k + its semantic position) + text_weight /
        (rrf_k + its text position)``, a side that did not find it adding nothing, so a memory matching
        both ways ranks above one matching one way. ``query`` is embedded with the client's embedder unless
        ``embedding`` is given. Each hit has ``score`` and, where that side found it, ``similarity`` and
        ``rank``.
        """
        check_text(query)
        check_match_count(match_count)
        w_sem = check_number(semantic_weight, "semantic_weight", 0.0, 1e6)
        w_text = check_number(text_weight, "text_weight", 0.0, 1e6)
        if w_sem == 0.0 and w_text == 0.0:
            raise InvalidInputError(
                "semantic_weight and text_weight cannot both be 0", field="semantic_weight"
            )
        if isinstance(rrf_k, bool) or not isinstance(rrf_k, int) or not 1 <= rrf_k <= 100_000:
            raise InvalidInputError(
                f"rrf_k must be an integer from 1 to 100000, got {rrf_k!r}", field="rrf_k"
            )
        check_filters(salience_tier, since, include_deleted=include_deleted)
        vector = check_dimension(embedding, field="embedding") if embedding is not None else None
        if vector is None and w_sem > 0.0:
            vector = await self._embed(query)
        return await self._call(
            "hybrid_search",
            {
                "query_text": query,
                "query_embedding": vector,
                "match_count": match_count,
                "semantic_weight": w_sem,
                "text_weight": w_text,
                "rrf_k": rrf_k,
                "filter_salience_tier": salience_tier,
                "filter_since": since,
                "include_deleted": include_deleted,
            },
            {"query_embedding": VECTOR_CAST},
        )
