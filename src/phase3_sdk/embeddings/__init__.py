"""Text embedders for the ``conversations.embedding vector(768)`` column, one module per kind.

* ``base``: the :class:`Embedder` protocol (``dimension`` and ``embed(texts)``), :data:`EMBEDDING_DIMENSION`,
  and :func:`check_dimension`, the guard every vector passes before it is stored.
* ``hashing``: :class:`HashingEmbedder`, the implicit default: deterministic, offline, a keyword hash.
* ``pretrained``: models run on this machine: :class:`WordLlamaEmbedder` (offline, semantic; the ``wordllama``
  extra) and :class:`SentenceTransformerEmbedder`.
* ``providers``: hosted or served models over HTTP: :class:`OpenAIEmbedder`, :class:`GeminiEmbedder`,
  :class:`OllamaEmbedder`.

Everything here needs numpy (the ``search`` extra); importing without it raises one line naming the extra.
"""

from .base import (
    EMBEDDING_DIMENSION,
    EMPTY_TEXT_TOKEN,
    Embedder,
    check_dimension,
    cosine_similarity,
    vector_text,
)
from .hashing import HashingEmbedder, tokenize
from .pretrained import WORDLLAMA_ROTATION_SEED, SentenceTransformerEmbedder, WordLlamaEmbedder
from .providers import GeminiEmbedder, OllamaEmbedder, OpenAIEmbedder, ProviderEmbedder

__all__ = [
    "EMBEDDING_DIMENSION",
    "EMPTY_TEXT_TOKEN",
    "WORDLLAMA_ROTATION_SEED",
    "Embedder",
    "GeminiEmbedder",
    "HashingEmbedder",
    "OllamaEmbedder",
    "OpenAIEmbedder",
    "ProviderEmbedder",
    "SentenceTransformerEmbedder",
    "WordLlamaEmbedder",
    "check_dimension",
    "cosine_similarity",
    "tokenize",
    "vector_text",
]
