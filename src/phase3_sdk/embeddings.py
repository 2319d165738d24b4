"""Text embedders for the ``conversations.embedding vector(768)`` column.

:class:`HashingEmbedder` is the default: deterministic, offline and fast, good enough for "these two
memories talk about the same things". :class:`WordLlamaEmbedder` is a real semantic model that also works
offline (the ``wordllama`` extra); :class:`SentenceTransformerEmbedder` adapts larger models.
:func:`check_dimension` is the guard every vector passes before it is stored.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from phase3_sdk._extras import missing_extra

try:
    import numpy as np
    import numpy.typing as npt
except ImportError as exc:
    raise missing_extra(exc, "embeddings (semantic search)", "search") from None

from phase3_sdk.errors import ConfigurationError, InvalidInputError

#: Width of the ``embedding`` column in the schema.
EMBEDDING_DIMENSION = 768

_WORD = re.compile(r"\w+")
# Multipliers of the 64-bit mixer (splitmix64); fixed so every process hashes bigrams identically.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
# An empty text still gets a unit vector, because pgvector's cosine distance of a zero vector is NaN.
_EMPTY_TOKEN = "\x00empty"
_CHUNK = 4096  # texts per dense block: bounds peak memory at ~25 MB whatever the batch size
_CACHE_LIMIT = 1 << 20


@runtime_checkable
class Embedder(Protocol):
    """Anything that turns texts into fixed-width float vectors."""

    dimension: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Return one vector of ``dimension`` floats per text, in order."""
        ...


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
            tokens = _WORD.findall(text.lower()) or [_EMPTY_TOKEN]
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


class SentenceTransformerEmbedder:
    """Adapter for a ``sentence-transformers`` model; needs the ``sentence-transformers`` extra.

    The default model, ``all-mpnet-base-v2``, produces 768-dimensional vectors, matching the schema.
    ``dimension`` is read from the model, so :func:`check_dimension` catches a model of another width.
    """

    def __init__(
        self,
        model_name: str = "sentence-transformers/all-mpnet-base-v2",
        *,
        device: str | None = None,
        normalize: bool = True,
    ) -> None:
        try:
            module = importlib.import_module("sentence_transformers")
        except ImportError as exc:
            raise ConfigurationError(
                "SentenceTransformerEmbedder needs the optional 'sentence-transformers' package",
                hint="pip install 'phase3-sdk[sentence-transformers]', or use HashingEmbedder",
            ) from exc
        self._model: Any = module.SentenceTransformer(model_name, device=device)
        self.dimension: int = int(self._model.get_sentence_embedding_dimension())
        self.normalize = normalize

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Encode ``texts`` with the model; rows are unit length when ``normalize`` is true."""
        vectors = self._model.encode(list(texts), normalize_embeddings=self.normalize, convert_to_numpy=True)
        result: list[list[float]] = np.asarray(vectors, dtype=np.float32).tolist()
        return result


#: Seed of :class:`WordLlamaEmbedder`'s rotation. Part of the stored vectors' meaning: changing it makes every
#: embedding written before incomparable with the queries embedded after.
WORDLLAMA_ROTATION_SEED = 20260202


def _rotation(width: int, seed: int) -> npt.NDArray[np.float32]:
    """A fixed ``width x width`` orthogonal matrix (QR of a seeded Gaussian, signs fixed so QR is unique)."""
    gaussian = np.random.default_rng(seed).standard_normal((width, width))
    q, r = np.linalg.qr(gaussian)
    # numpy's QR leaves the sign of each column to the LAPACK build; pinning diag(r) > 0 makes Q the same
    # everywhere, which stored vectors depend on.
    rotation: npt.NDArray[np.float32] = (q * np.sign(np.diag(r))).astype(np.float32)
    return rotation


class WordLlamaEmbedder:
    """WordLlama (``l2_supercat``, 256 dimensions), widened to the schema's 768 without changing similarity.

    Needs the ``wordllama`` extra (``pip install 'phase3-sdk[wordllama]'``). The wheel ships the model's
    weights and tokenizer, so loading needs no network: the package folder itself is passed as
    WordLlama's cache directory, where its loader finds ``tokenizers/...`` (its first guess,
    ``tokenizer/...`` beside the module, does not exist in the wheel) and nothing is downloaded.

    Each 256-dimension unit vector is zero-padded to ``dimension`` and multiplied by a fixed orthogonal
    matrix (seeded, :data:`WORDLLAMA_ROTATION_SEED`). Padding and rotation both keep dot products, so
    cosine similarities are exactly the model's (to float32 rounding); the rotation spreads the signal over
    all 768 coordinates instead of leaving 512 of them zero, which the search's sign sketches need.
    Deterministic: the same text gives the same vector in every process.
    """

    #: The model's own width.
    MODEL_DIMENSION = 256

    def __init__(self, dimension: int = EMBEDDING_DIMENSION, *, seed: int = WORDLLAMA_ROTATION_SEED) -> None:
        if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < self.MODEL_DIMENSION:
            raise InvalidInputError(
                f"dimension must be an integer >= {self.MODEL_DIMENSION} (the model's width), "
                f"got {dimension!r}",
                field="dimension",
            )
        try:
            module = importlib.import_module("wordllama")
        except ImportError as exc:
            raise ConfigurationError(
                "WordLlamaEmbedder needs the optional 'wordllama' package",
                hint="pip install 'phase3-sdk[wordllama]', or use HashingEmbedder",
            ) from exc
        package = Path(module.__file__ or "").parent
        try:
            self._model: Any = module.WordLlama.load(
                config="l2_supercat", dim=self.MODEL_DIMENSION, cache_dir=package, disable_download=True
            )
        except FileNotFoundError as exc:
            raise ConfigurationError(
                f"the installed wordllama package has no bundled model files: {exc}",
                hint="reinstall it: pip install --force-reinstall 'phase3-sdk[wordllama]'",
            ) from exc
        self.dimension = dimension
        self.seed = seed
        # Only the first 256 rows of the rotation ever multiply a non-zero coordinate.
        self._projection = _rotation(dimension, seed)[: self.MODEL_DIMENSION]

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Return one unit vector of ``dimension`` floats per text (the :class:`Embedder` protocol)."""
        result: list[list[float]] = self.embed_array(texts).tolist()
        return result

    def embed_array(self, texts: Sequence[str], *, batch_size: int = 256) -> npt.NDArray[np.float32]:
        """Return an ``(len(texts), dimension)`` float32 matrix of unit rows; the fast path for bulk work."""
        if isinstance(texts, str):
            raise InvalidInputError("texts must be a sequence of strings, not one string", field="texts")
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        # WordLlama embeds an empty text as 0/0 (NaN), which pgvector would refuse; a blank text gets the
        # vector of one fixed placeholder instead, so it is a valid (if meaningless) point.
        cleaned = [t if t.strip() else _EMPTY_TOKEN for t in texts]
        raw = np.asarray(self._model.embed(cleaned, norm=True, batch_size=batch_size), dtype=np.float32)
        out: npt.NDArray[np.float32] = (raw @ self._projection).astype(np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out /= np.where(norms == 0.0, 1.0, norms)
        return out


def check_dimension(
    vector: Sequence[float] | npt.NDArray[Any], expected: int = EMBEDDING_DIMENSION, field: str = "embedding"
) -> npt.NDArray[np.float32]:
    """Validate one embedding before it is stored and return it as a float32 array.

    Raises :class:`~phase3_sdk.errors.InvalidInputError` (with ``field`` set) when the vector is not a flat
    list of ``expected`` numbers or contains NaN or infinity, which pgvector would reject or, worse,
    store and then return NaN distances for.
    """
    try:
        array = np.asarray(vector, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{field} must be a list of numbers: {exc}", field=field) from exc
    if array.ndim != 1:
        raise InvalidInputError(
            f"{field} must be a flat vector of {expected} floats, got an array of shape {array.shape}",
            field=field,
        )
    if array.shape[0] != expected:
        raise InvalidInputError(
            f"{field} must have {expected} dimensions, got {array.shape[0]}",
            field=field,
            hint="embed with a model of the schema's width (768), e.g. HashingEmbedder()",
        )
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        first = int(bad[0])
        raise InvalidInputError(
            f"{field} contains {bad.size} non-finite value(s) (NaN or infinity), first at index {first}: "
            f"{array[first]}",
            field=field,
        )
    return array.astype(np.float32)


_VECTOR_TEXT_FORMATS: dict[int, str] = {}


def vector_text(vector: Sequence[float] | npt.NDArray[Any]) -> str:
    """pgvector's text form of ``vector``, exact for what pgvector stores (float32).

    Nine significant digits round-trip any float32, so the value is rounded to float32 here, once, exactly
    as pgvector would round it, and printed that short: ~0.1 ms for 768 dimensions where ``repr`` of each
    float takes ~0.5 ms and sends 60% more text for the server to parse.
    """
    values = np.asarray(vector, dtype=np.float32).tolist()
    template = _VECTOR_TEXT_FORMATS.get(len(values))
    if template is None:
        template = _VECTOR_TEXT_FORMATS.setdefault(len(values), "[" + ",".join(["%.9g"] * len(values)) + "]")
    return template % tuple(values)


def cosine_similarity(a: Sequence[float] | npt.NDArray[Any], b: Sequence[float] | npt.NDArray[Any]) -> float:
    """Cosine similarity of two vectors (0.0 when either is all zeros)."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    denominator = float(np.linalg.norm(x) * np.linalg.norm(y))
    if denominator == 0.0 or math.isnan(denominator):
        return 0.0
    return float(np.dot(x, y) / denominator)
