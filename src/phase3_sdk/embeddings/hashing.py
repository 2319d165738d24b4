"""The default embedder: :class:`HashingEmbedder`, deterministic, offline and fast, good enough for "these
two memories talk about the same things" (a keyword hash, not a semantic model)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from phase3_sdk.errors import InvalidInputError

from .base import EMBEDDING_DIMENSION, EMPTY_TEXT_TOKEN

_WORD = re.compile(r"\w+")
# Multipliers of the 64-bit mixer (splitmix64); fixed so every process hashes bigrams identically.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_CHUNK = 4096  # texts per dense block: bounds peak memory at ~25 MB whatever the batch size
_CACHE_LIMIT = 1 << 20


def tokenize(text: str) -> list[str]:
    """Lowercase unicode word tokens of ``text`` (the same normalisation the embedder hashes)."""
    return _WORD.findall(text.lower())


def _mix(h: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    with np.errstate(over="ignore"):
        h = h ^ (h >> np.uint64(30))
        h = h * _MIX1
        h = h ^ (h >> np.uint64(27))
        h = h * _MIX2
        return h ^ (h >> np.uint64(31))


class HashingEmbedder:
    """Feature-hashing embedder: words and word bigrams hashed into a signed, L2-normalised vector.

    Each lowercase word token adds ``±1`` at position ``hash(word) % dimension`` and each pair of
    adjacent words adds ``±bigram_weight``; the sign comes from another bit of the same hash, so
    collisions cancel on average instead of piling up. The hash is BLAKE2b (not Python's salted
    ``hash()``), which makes vectors identical across processes and machines. Texts that share words
    therefore have a high cosine similarity; synonyms do not (use :class:`SentenceTransformerEmbedder`
    for that).
    """

    def __init__(self, dimension: int = EMBEDDING_DIMENSION, *, bigram_weight: float = 0.5) -> None:
        if dimension <= 0:
            raise InvalidInputError(f"dimension must be positive, got {dimension}", field="dimension")
        self.dimension = dimension
        self.bigram_weight = bigram_weight
        self._cache: dict[str, int] = {}

    def _hash(self, token: str) -> int:
        return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little")

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Return one unit vector per text as plain float lists (the :class:`Embedder` protocol)."""
        result: list[list[float]] = self.embed_array(texts).tolist()
        return result

    def embed_array(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return an ``(len(texts), dimension)`` float32 matrix of unit rows; the fast path for bulk work."""
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), _CHUNK):
            out[start : start + _CHUNK] = self._embed_chunk(texts[start : start + _CHUNK])
        return out

    def _embed_chunk(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        flat: list[str] = []
        lengths = np.empty(len(texts), dtype=np.int64)
        for i, text in enumerate(texts):
            tokens = _WORD.findall(text.lower()) or [EMPTY_TEXT_TOKEN]
            flat.extend(tokens)
            lengths[i] = len(tokens)
        cache = self._cache
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        for token in set(flat).difference(cache):
            cache[token] = self._hash(token)
        hashes = np.fromiter(map(cache.__getitem__, flat), dtype=np.uint64, count=len(flat))
        owner = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
        # Bigram hashes are mixed numerically from the two word hashes, which avoids building
        # millions of "a b" strings in Python and keeps the whole pass vectorised.
        same_text = owner[:-1] == owner[1:]
        with np.errstate(over="ignore"):
            bigrams = _mix(hashes[:-1][same_text] * _GOLDEN ^ hashes[1:][same_text])
        all_hashes = np.concatenate([hashes, bigrams])
        all_owner = np.concatenate([owner, owner[:-1][same_text]])
        weights = np.concatenate([np.ones(len(hashes)), np.full(len(bigrams), self.bigram_weight)])
        signs = np.where((all_hashes >> np.uint64(63)) == 1, -1.0, 1.0)
        slot = (all_hashes % np.uint64(self.dimension)).astype(np.int64)
        dense = np.bincount(
            all_owner * self.dimension + slot, weights=signs * weights, minlength=len(texts) * self.dimension
        ).reshape(len(texts), self.dimension)
        norms = np.linalg.norm(dense, axis=1, keepdims=True)
        # A text whose features all cancelled is vanishingly rare; leave it zero rather than divide by 0.
        return dense / np.where(norms == 0.0, 1.0, norms)
