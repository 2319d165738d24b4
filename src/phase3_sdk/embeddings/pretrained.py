"""Pretrained sentence-embedding models run on this machine: :class:`WordLlamaEmbedder` (the ``wordllama``
extra: a real semantic model whose wheel carries its weights, so it works offline) and
:class:`SentenceTransformerEmbedder` (the ``sentence-transformers`` extra, larger models)."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from phase3_sdk.errors import ConfigurationError, InvalidInputError

from .base import EMBEDDING_DIMENSION, EMPTY_TEXT_TOKEN


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
        cleaned = [t if t.strip() else EMPTY_TEXT_TOKEN for t in texts]
        raw = np.asarray(self._model.embed(cleaned, norm=True, batch_size=batch_size), dtype=np.float32)
        out: npt.NDArray[np.float32] = (raw @ self._projection).astype(np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out /= np.where(norms == 0.0, 1.0, norms)
        return out
