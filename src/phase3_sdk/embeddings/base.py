"""What every embedder shares: the :class:`Embedder` protocol, the schema's width, and the checks and text
form every vector passes on its way to the ``conversations.embedding vector(768)`` column."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from phase3_sdk._extras import missing_extra

try:
    import numpy as np
    import numpy.typing as npt
except ImportError as exc:
    raise missing_extra(exc, "embeddings (semantic search)", "search") from None

from phase3_sdk.errors import InvalidInputError

#: Width of the ``embedding`` column in the schema.
EMBEDDING_DIMENSION = 768

# What an empty text is embedded as: it still gets a unit vector, because pgvector's cosine distance of a
# zero vector is NaN.
EMPTY_TEXT_TOKEN = "\x00empty"


@runtime_checkable
class Embedder(Protocol):
    """Anything that turns texts into fixed-width float vectors."""

    dimension: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Return one vector of ``dimension`` floats per text, in order."""
        ...


def check_dimension(
    vector: Sequence[float] | npt.NDArray[Any], expected: int = EMBEDDING_DIMENSION, field: str = "embedding"
) -> npt.NDArray[np.float32]:
    """Validate one embedding before it is stored and return it as a float32 array.

    Raises :class:`~phase3_sdk.errors.InvalidInputError` (with ``field`` set) when the vector is not a flat
    list of ``expected`` numbers or contains NaN or infinity, which pgvector would reject or, worse,
    store and then return NaN distances for.
    """
    if type(vector) is np.ndarray and vector.dtype == np.float32 and vector.shape == (expected,):
        # What an embedder returns, already in the stored form: a copy and one dot product, where the general
        # path's five numpy calls took ~0.9 ms of a search on a machine that evicted the client's caches
        # while it waited for the server. v.v is finite exactly when every element is, unless it overflows
        # (elements past ~1e19), which the general path then decides.
        array32 = vector.copy()
        if math.isfinite(array32.dot(array32)):
            return array32
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
