"""Provider embedders against each provider's documented request and answer shapes (HTTP mocked by respx)."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import respx

from phase3_sdk.embeddings import Embedder, GeminiEmbedder, OllamaEmbedder, OpenAIEmbedder
from phase3_sdk.errors import AuthError, ConfigurationError, InvalidInputError, NotFoundError, RateLimitError
from phase3_sdk.retry import RetryPolicy

KEY = "sk-test-0123456789abcdef-SECRET"
FAST = RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=2.0, jitter=False)


def vec(seed: int, dim: int = 768) -> list[float]:
    return [((seed * 31 + i) % 97) / 97.0 for i in range(dim)]


def openai_answer(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    # The API may list data in any order; each item carries its input index.
    data = [{"object": "embedding", "index": i, "embedding": vec(i)} for i in range(len(body["input"]))]
    return httpx.Response(
        200,
        json={
            "object": "list",
            "data": list(reversed(data)),
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": 5, "total_tokens": 5},
        },
    )


@respx.mock
def test_openai_sends_the_documented_request_and_reads_768_floats_in_order() -> None:
    route = respx.post("https://api.openai.com/v1/embeddings").mock(side_effect=openai_answer)
    embedder = OpenAIEmbedder(api_key=KEY, batch_size=2, retry=FAST)
    assert isinstance(embedder, Embedder)
    vectors = embedder.embed(["a", "b", "c"])
    assert vectors == [vec(0), vec(1), vec(0)]  # batches of 2: [a, b], [c]
    assert route.call_count == 2
    first = route.calls[0].request
    assert json.loads(first.content) == {
        "model": "text-embedding-3-small",
        "input": ["a", "b"],
        "dimensions": 768,
        "encoding_format": "float",
    }
    assert first.headers["authorization"] == f"Bearer {KEY}"


@respx.mock
def test_openai_429_with_retry_after_is_waited_out_then_succeeds(caplog: pytest.LogCaptureFixture) -> None:
    route = respx.post("https://api.openai.com/v1/embeddings").mock(
        side_effect=[
            httpx.Response(
                429,
                headers={"retry-after": "1"},
                json={
                    "error": {
                        "message": "Rate limit reached",
                        "type": "requests",
                        "code": "rate_limit_exceeded",
                    }
                },
            ),
            openai_answer,
        ]
    )
    embedder = OpenAIEmbedder(api_key=KEY, retry=FAST)
    with caplog.at_level(logging.INFO, logger="phase3_sdk.retry"):
        assert embedder.embed(["hello"]) == [vec(0)]
    assert route.call_count == 2
    assert "RateLimitError" in caplog.text
    assert KEY not in caplog.text


@respx.mock
def test_openai_429_past_the_policy_reaches_the_caller_with_retry_after() -> None:
    respx.post("https://api.openai.com/v1/embeddings").mock(
        return_value=httpx.Response(
            429, headers={"retry-after": "120"}, json={"error": {"message": "slow down"}}
        )
    )
    with pytest.raises(RateLimitError) as info:
        OpenAIEmbedder(api_key=KEY, retry=FAST).embed(["x"])
    assert info.value.retry_after == 120.0
    assert "slow down" in str(info.value)


@respx.mock
def test_openai_401_is_an_auth_error_without_the_key() -> None:
    route = respx.post("https://api.openai.com/v1/embeddings").mock(
        return_value=httpx.Response(
            401,
            json={
                "error": {
                    "message": f"Incorrect API key provided: {KEY}.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "invalid_api_key",
                }
            },
        )
    )
    embedder = OpenAIEmbedder(api_key=KEY, retry=FAST)
    with pytest.raises(AuthError) as info:
        embedder.embed(["x"])
    assert route.call_count == 1  # a refused key is not retried
    text = f"{info.value} {info.value!r} {embedder!r}"
    assert KEY not in text
    assert "Incorrect API key provided" in text
    assert "[redacted]" in text


@respx.mock
def test_openai_5xx_is_retried() -> None:
    route = respx.post("https://api.openai.com/v1/embeddings").mock(
        side_effect=[httpx.Response(503, text="upstream overloaded"), openai_answer]
    )
    assert OpenAIEmbedder(api_key=KEY, retry=FAST).embed(["x"]) == [vec(0)]
    assert route.call_count == 2


@respx.mock
def test_a_model_of_another_width_is_a_configuration_error() -> None:
    respx.post("https://api.openai.com/v1/embeddings").mock(
        return_value=httpx.Response(
            200, json={"object": "list", "data": [{"index": 0, "embedding": vec(0, 1536)}]}
        )
    )
    with pytest.raises(ConfigurationError, match="1536-dimension"):
        OpenAIEmbedder(api_key=KEY, retry=FAST).embed(["x"])


def test_missing_key_says_where_to_put_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        OpenAIEmbedder()
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert KEY not in repr(OpenAIEmbedder())


def test_bad_batch_size_and_texts_are_invalid_input() -> None:
    with pytest.raises(InvalidInputError, match="batch_size"):
        GeminiEmbedder(api_key=KEY, batch_size=101)
    with pytest.raises(InvalidInputError, match="texts"):
        OllamaEmbedder().embed("one string")  # type: ignore[arg-type]


def gemini_answer(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    return httpx.Response(
        200, json={"embeddings": [{"values": vec(i + 5)} for i in range(len(body["requests"]))]}
    )


GEMINI_URL = "https://generativelanguage.googleapis.com/v1beta/models/text-embedding-004:batchEmbedContents"


@respx.mock
def test_gemini_batch_embed_contents_request_and_answer() -> None:
    route = respx.post(GEMINI_URL).mock(side_effect=gemini_answer)
    embedder = GeminiEmbedder(api_key=KEY, task_type="RETRIEVAL_DOCUMENT", retry=FAST)
    texts = [f"t{i}" for i in range(150)]
    vectors = embedder.embed(texts)
    assert len(vectors) == 150
    assert vectors[100] == vec(5)
    assert route.call_count == 2  # the API's limit is 100 requests per batch
    request = route.calls[0].request
    assert request.headers["x-goog-api-key"] == KEY
    assert KEY not in str(request.url)  # the key never goes into a URL a proxy would log
    body = json.loads(request.content)
    assert len(body["requests"]) == 100
    assert body["requests"][0] == {
        "model": "models/text-embedding-004",
        "content": {"parts": [{"text": "t0"}]},
        "taskType": "RETRIEVAL_DOCUMENT",
    }


@respx.mock
def test_gemini_invalid_key_400_is_an_auth_error() -> None:
    respx.post(GEMINI_URL).mock(
        return_value=httpx.Response(
            400,
            json={
                "error": {
                    "code": 400,
                    "message": "API key not valid. Please pass a valid API key.",
                    "status": "INVALID_ARGUMENT",
                    "details": [
                        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
                    ],
                }
            },
        )
    )
    with pytest.raises(AuthError, match="API key not valid"):
        GeminiEmbedder(api_key=KEY, retry=FAST).embed(["x"])


@respx.mock
def test_gemini_401_and_429() -> None:
    route = respx.post(GEMINI_URL).mock(
        side_effect=[
            httpx.Response(
                429,
                headers={"Retry-After": "1"},
                json={
                    "error": {
                        "code": 429,
                        "message": "Resource has been exhausted",
                        "status": "RESOURCE_EXHAUSTED",
                    }
                },
            ),
            gemini_answer,
            httpx.Response(
                401,
                json={
                    "error": {
                        "code": 401,
                        "message": "Request had invalid credentials.",
                        "status": "UNAUTHENTICATED",
                    }
                },
            ),
        ]
    )
    embedder = GeminiEmbedder(api_key=KEY, retry=FAST)
    assert embedder.embed(["x"]) == [vec(5)]
    assert route.call_count == 2
    with pytest.raises(AuthError, match="invalid credentials"):
        embedder.embed(["y"])


def ollama_answer(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    return httpx.Response(
        200,
        json={
            "model": body["model"],
            "embeddings": [vec(len(t)) for t in body["input"]],
            "total_duration": 14143917,
            "load_duration": 1019500,
            "prompt_eval_count": 8,
        },
    )


@respx.mock
def test_ollama_api_embed_request_and_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:11500")
    route = respx.post("http://127.0.0.1:11500/api/embed").mock(side_effect=ollama_answer)
    embedder = OllamaEmbedder(prefix="search_document: ", retry=FAST)
    assert embedder.embed(["ab", "abc"]) == [vec(19), vec(20)]
    assert json.loads(route.calls[0].request.content) == {
        "model": "nomic-embed-text",
        "input": ["search_document: ab", "search_document: abc"],
    }
    assert "authorization" not in route.calls[0].request.headers


@respx.mock
def test_ollama_unknown_model_names_the_pull_command_and_429_401() -> None:
    route = respx.post("http://localhost:11434/api/embed").mock(
        side_effect=[
            httpx.Response(404, json={"error": 'model "nomic-embed-text" not found, try pulling it first'}),
            httpx.Response(429, headers={"Retry-After": "1"}, json={"error": "busy"}),
            ollama_answer,
            httpx.Response(401, json={"error": "unauthorized"}),
        ]
    )
    embedder = OllamaEmbedder(api_key=KEY, retry=FAST)
    with pytest.raises(NotFoundError) as info:
        embedder.embed(["x"])
    assert "ollama pull nomic-embed-text" in str(info.value)
    assert embedder.embed(["x"]) == [vec(1)]
    assert route.calls[2].request.headers["authorization"] == f"Bearer {KEY}"
    with pytest.raises(AuthError):
        embedder.embed(["x"])
    assert route.call_count == 4


@respx.mock
def test_unreachable_server_is_retried_then_a_transient_error() -> None:
    from phase3_sdk.errors import TransientError

    route = respx.post("http://localhost:11434/api/embed").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TransientError, match="could not reach Ollama"):
        OllamaEmbedder(retry=FAST).embed(["x"])
    assert route.call_count == 3
