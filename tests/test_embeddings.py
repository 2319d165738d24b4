from __future__ import annotations

import math
import socket
import sys

import numpy as np
import psycopg
import pytest

from phase3_sdk.embeddings import (
    EMBEDDING_DIMENSION,
    Embedder,
    HashingEmbedder,
    SentenceTransformerEmbedder,
    WordLlamaEmbedder,
    check_dimension,
    cosine_similarity,
    vector_text,
)
from phase3_sdk.errors import ConfigurationError, InvalidInputError


def test_vectors_are_deterministic_across_instances_and_unit_length() -> None:
    texts = ["Climbing at the gym tonight", "Grocery run, forgot the milk", ""]
    first = HashingEmbedder().embed(texts)
    second = HashingEmbedder().embed(texts)
    assert first == second
    assert all(len(v) == EMBEDDING_DIMENSION for v in first)
    assert all(math.isclose(float(np.linalg.norm(v)), 1.0, rel_tol=1e-5) for v in first)


def test_similar_texts_score_higher_than_unrelated() -> None:
    embedder = HashingEmbedder()
    a, b, c = embedder.embed(
        [
            "anxious about the Monday meeting with my manager",
            "the Monday meeting with my manager makes me anxious",
            "planted tomatoes on the balcony",
        ]
    )
    assert cosine_similarity(a, b) > 0.6
    assert cosine_similarity(a, c) < 0.2


def test_normalisation_ignores_case_and_punctuation() -> None:
    embedder = HashingEmbedder()
    a, b = embedder.embed(["Hello, World!", "hello world"])
    assert cosine_similarity(a, b) == pytest.approx(1.0)


def test_embed_array_matches_embed() -> None:
    # 20,000 texts take ~0.3 s on a quiet machine (100,000 ~2 s); that is a figure, not an assert: a bound
    # here failed whenever the machine was busy (2.2 s).
    embedder = HashingEmbedder()
    texts = [f"memory number {i} about topic {i % 97} with friend {i % 13}" for i in range(20_000)]
    matrix = embedder.embed_array(texts)
    assert matrix.shape == (20_000, EMBEDDING_DIMENSION)
    assert matrix.dtype == np.float32
    assert np.allclose(matrix[:3], np.array(embedder.embed(texts[:3]), dtype=np.float32))


def test_hashing_embedder_satisfies_the_protocol() -> None:
    assert isinstance(HashingEmbedder(), Embedder)


def test_check_dimension_names_field_and_sizes() -> None:
    with pytest.raises(InvalidInputError) as info:
        check_dimension([0.1] * 767, field="query_embedding")
    assert info.value.field == "query_embedding"
    assert "768" in str(info.value)
    assert "767" in str(info.value)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_check_dimension_rejects_non_finite(bad: float) -> None:
    vector = [0.0] * 768
    vector[5] = bad
    with pytest.raises(InvalidInputError, match=r"non-finite.*index 5") as info:
        check_dimension(vector)
    assert info.value.field == "embedding"


def test_check_dimension_rejects_nested_and_non_numeric() -> None:
    with pytest.raises(InvalidInputError, match="shape"):
        check_dimension(np.zeros((1, 768)))
    with pytest.raises(InvalidInputError, match="numbers"):
        check_dimension(["a"] * 768)  # type: ignore[list-item]


def test_check_dimension_returns_float32_array() -> None:
    out = check_dimension(np.ones(4), expected=4)
    assert out.dtype == np.float32
    assert out.tolist() == [1.0] * 4


def test_sentence_transformer_adapter_explains_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(ConfigurationError, match="sentence-transformers") as info:
        SentenceTransformerEmbedder()
    assert "pip install 'phase3-sdk[sentence-transformers]'" in str(info.value)


def test_vector_text_is_exact_for_what_pgvector_stores(db_url: str) -> None:
    """pgvector keeps float32: the short text form must read back as exactly the float32 values."""
    rng = np.random.default_rng(3)
    vectors = [
        rng.normal(size=768),  # float64 in: rounded to float32 once, as pgvector would
        rng.normal(size=768).astype(np.float32) * np.float32(1e-30),
        rng.normal(size=768).astype(np.float32) * np.float32(1e30),
        np.nextafter(np.ones(768, dtype=np.float32), np.float32(2)),
    ]
    with psycopg.connect(db_url) as conn:
        for vector in vectors:
            text = vector_text(vector)
            stored = conn.execute("select %s::extensions.vector::real[]", (text,)).fetchone()
            assert stored is not None
            assert np.array_equal(np.array(stored[0], dtype=np.float32), np.asarray(vector, dtype=np.float32))


# WordLlama: a real model that ships inside its wheel (the dev extra installs it).


@pytest.fixture(scope="module")
def wordllama() -> WordLlamaEmbedder:
    return WordLlamaEmbedder()


def test_wordllama_loads_with_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """The weights and tokenizer come from the installed wheel: any attempt to connect anywhere fails."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"WordLlamaEmbedder tried to open a connection: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    embedder = WordLlamaEmbedder()
    vectors = embedder.embed(["a walk in the park"])
    assert isinstance(embedder, Embedder)
    assert embedder.dimension == EMBEDDING_DIMENSION
    assert len(vectors) == 1
    assert len(vectors[0]) == EMBEDDING_DIMENSION


def test_wordllama_ranks_paraphrases_above_unrelated_text(wordllama: WordLlamaEmbedder) -> None:
    anxious, paraphrase, unrelated, also_unrelated = wordllama.embed_array(
        [
            "I am nervous about the presentation to my boss on Monday",
            "Monday's talk in front of my manager is making me anxious",
            "The tomatoes on the balcony finally turned red",
            "Interest rates rose again this quarter",
        ]
    )
    close = float(anxious @ paraphrase)
    assert close > float(anxious @ unrelated) + 0.2
    assert close > float(anxious @ also_unrelated) + 0.2


def test_wordllama_widening_keeps_the_models_cosine_similarity(wordllama: WordLlamaEmbedder) -> None:
    texts = [
        "climbing at the gym tonight",
        "bouldering session after work",
        "quarterly tax return is due",
        "my sister called about the wedding",
        "",
    ]
    wide = wordllama.embed_array(texts)
    assert wide.shape == (len(texts), EMBEDDING_DIMENSION)
    assert np.allclose(np.linalg.norm(wide, axis=1), 1.0, atol=1e-5)
    assert np.isfinite(wide).all()  # a blank text is a valid point, not 0/0
    model = wordllama._model.embed(texts[:4], norm=True)
    assert np.allclose(wide[:4] @ wide[:4].T, model @ model.T, atol=1e-5)
    # The signal is spread over every coordinate, not left in the first 256.
    assert np.abs(wide[:, 256:]).max() > 0.05
    # Deterministic across instances (stored vectors must stay comparable with later queries).
    assert np.array_equal(WordLlamaEmbedder().embed_array(texts), wide)


def test_wordllama_rejects_bad_arguments_and_explains_a_missing_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(InvalidInputError, match="dimension"):
        WordLlamaEmbedder(dimension=128)
    with pytest.raises(InvalidInputError, match="one string"):
        WordLlamaEmbedder().embed_array("not a list")
    monkeypatch.setitem(sys.modules, "wordllama", None)
    with pytest.raises(ConfigurationError, match="wordllama") as info:
        WordLlamaEmbedder()
    assert "pip install 'phase3-sdk[wordllama]'" in str(info.value)
