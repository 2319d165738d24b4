"""Embedders backed by a hosted or local model server, for apps that store 768-dimension vectors.

* :class:`OpenAIEmbedder`: ``text-embedding-3-small`` asked for ``dimensions=768`` (``POST /v1/embeddings``).
* :class:`GeminiEmbedder`: Google's ``text-embedding-004`` (768 natively) through the Gemini API's
  ``batchEmbedContents``.
* :class:`OllamaEmbedder`: ``nomic-embed-text`` (768 natively) on a local Ollama server (``POST /api/embed``).

Each implements the :class:`~phase3_sdk.embeddings.Embedder` protocol (``embed(texts)`` is blocking, as the
protocol is; the async client runs it off the event loop). Texts are sent in batches of at most the
provider's limit, every request goes through the SDK's :class:`~phase3_sdk.retry.RetryPolicy` (429 with
``Retry-After``, 5xx and connection failures are retried; embedding is idempotent), and failures are the
SDK's typed errors: ``AuthError`` for a refused key, ``RateLimitError`` when the retries run out on 429,
``InvalidInputError`` for a request the provider rejects, ``ConfigurationError`` for an answer of the wrong
shape or width. The API key is sent in a header only: it never appears in a ``repr``, a log line or an
error message (anything echoed from the provider is scrubbed of it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from ..backends.postgrest import parse_retry_after
from ..errors import (
    AuthError,
    ConfigurationError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    Phase3ConnectionError,
    Phase3Error,
    Phase3TimeoutError,
    RateLimitError,
    RequestError,
    TransientError,
)
from ..retry import RetryPolicy
from .base import EMBEDDING_DIMENSION

__all__ = ["GeminiEmbedder", "OllamaEmbedder", "OpenAIEmbedder", "ProviderEmbedder"]

#: Providers answer a large batch in seconds, a model cold start on Ollama in tens of seconds.
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


def _redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "[redacted]") if secret else text


class ProviderEmbedder:
    """Shared machinery: batching, retries, error mapping and key hygiene. Use a subclass."""

    #: Name used in messages ("OpenAI", "Gemini", "Ollama").
    provider = "provider"
    #: The most texts the provider takes in one request.
    max_batch = 100

    def __init__(
        self,
        *,
        model: str,
        base_url: str,
        api_key: str | None,
        dimension: int = EMBEDDING_DIMENSION,
        batch_size: int | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        http_client: httpx.Client | None = None,
    ) -> None:
        limit = self.max_batch
        size = limit if batch_size is None else batch_size
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= limit:
            raise InvalidInputError(
                f"batch_size must be an integer from 1 to {limit} for {self.provider}, got {batch_size!r}",
                field="batch_size",
            )
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.dimension = dimension
        self.batch_size = size
        self.retry = retry if retry is not None else RetryPolicy()
        # Private and excluded from __repr__: the key must never reach a log or a traceback's locals dump.
        self.__key = api_key
        self._client = http_client if http_client is not None else httpx.Client(timeout=timeout)
        self._owns_client = http_client is None

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(model={self.model!r}, base_url={self.base_url!r}, dimension={self.dimension})"

    def close(self) -> None:
        """Close the HTTP connection pool (only one this embedder created)."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> ProviderEmbedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def _key(self) -> str | None:
        return self.__key

    # -- what subclasses supply ------------------------------------------------------------------------

    def _request(self, texts: Sequence[str]) -> tuple[str, dict[str, str], dict[str, Any]]:
        """URL, headers and JSON body embedding ``texts``."""
        raise NotImplementedError

    def _vectors(self, body: Any, count: int) -> list[list[float]]:
        """The vectors in a successful answer, in input order."""
        raise NotImplementedError

    # -- the protocol -------------------------------------------------------------------------------------

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One ``dimension``-float vector per text, in order; ``batch_size`` texts per request."""
        if isinstance(texts, str):
            raise InvalidInputError("texts must be a sequence of strings, not one string", field="texts")
        items = list(texts)
        for i, text in enumerate(items):
            if not isinstance(text, str):
                raise InvalidInputError(
                    f"texts[{i}] must be a string, got {type(text).__name__}", field=f"texts[{i}]"
                )
        out: list[list[float]] = []
        for start in range(0, len(items), self.batch_size):
            batch = items[start : start + self.batch_size]
            out.extend(self._send(batch))
        return out

    def _send(self, batch: Sequence[str]) -> list[list[float]]:
        url, headers, payload = self._request(batch)
        for attempt in self.retry.retrying(idempotent=True):
            with attempt:
                body = self._post(url, headers, payload)
        vectors = self._vectors(body, len(batch))
        if len(vectors) != len(batch):
            raise ConfigurationError(
                f"{self.provider} returned {len(vectors)} embeddings for {len(batch)} texts"
            )
        for vector in vectors:
            if len(vector) != self.dimension:
                raise ConfigurationError(
                    f"{self.provider} model {self.model!r} returned {len(vector)}-dimension vectors, "
                    f"expected {self.dimension}",
                    hint="choose a model (or dimensions setting) that gives 768-dimension vectors",
                )
        return vectors

    def _post(self, url: str, headers: Mapping[str, str], payload: Mapping[str, Any]) -> Any:
        try:
            response = self._client.post(url, headers=dict(headers), json=payload)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # As on the REST backend: a timeout is a Phase3TimeoutError, another broken connection a
            # Phase3ConnectionError (both transient); the code says whether anything was sent.
            never_sent = (
                Phase3TimeoutError if isinstance(exc, httpx.TimeoutException) else Phase3ConnectionError
            )
            raise never_sent(
                f"could not reach {self.provider} at {self.base_url}: {type(exc).__name__}",
                code="connection",
                unprocessed=True,
            ) from None
        except httpx.TimeoutException as exc:
            raise Phase3TimeoutError(
                f"{self.provider} request timed out: {type(exc).__name__}", code="timeout"
            ) from None
        except httpx.TransportError as exc:
            raise Phase3ConnectionError(
                f"{self.provider} request failed: {type(exc).__name__}", code="connection"
            ) from None
        if response.is_success:
            try:
                return response.json()
            except ValueError:
                raise RequestError(
                    f"{self.provider} answered HTTP {response.status_code} with non-JSON"
                ) from None
        raise self._error(response)

    def _error(self, response: httpx.Response) -> Phase3Error:
        status = response.status_code
        detail = self._error_text(response)
        message = _redact(
            f"{self.provider} HTTP {status}: {detail}" if detail else f"{self.provider} HTTP {status}",
            self._key,
        )
        if status == 429:
            return RateLimitError(
                message, retry_after=parse_retry_after(response.headers.get("retry-after")), status=status
            )
        if status == 401 or self._is_bad_key(status, response):
            return AuthError(message, status=status, hint=f"check the {self.provider} API key")
        if status == 403:
            return PermissionDeniedError(
                message, status=status, hint=f"the {self.provider} key may not use {self.model!r}"
            )
        if status == 404:
            return NotFoundError(message, status=status, hint=self._not_found_hint())
        if status >= 500 or status == 408:
            return TransientError(
                message, retry_after=parse_retry_after(response.headers.get("retry-after")), status=status
            )
        return InvalidInputError(message, status=status)

    def _error_text(self, response: httpx.Response) -> str:
        try:
            data = response.json()
        except ValueError:
            text = response.text.strip()
            return text.splitlines()[0][:200] if text else ""
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            return str(error.get("message") or json.dumps(error))[:500]
        if isinstance(error, str):
            return error[:500]
        return json.dumps(data)[:200]

    def _is_bad_key(self, status: int, response: httpx.Response) -> bool:
        return False

    def _not_found_hint(self) -> str | None:
        return f"check the model name {self.model!r} and base_url"


def _key_from(api_key: str | None, env: Sequence[str], provider: str) -> str:
    key = api_key or next((os.environ[name] for name in env if os.environ.get(name)), None)
    if not key:
        raise ConfigurationError(f"no {provider} API key", hint=f"pass api_key=... or set {' or '.join(env)}")
    return key


class OpenAIEmbedder(ProviderEmbedder):
    """OpenAI embeddings (``text-embedding-3-small`` at ``dimensions=768`` by default).

    The key comes from ``api_key`` or ``OPENAI_API_KEY``. ``base_url`` may point at any server speaking the
    same API (Azure OpenAI's compatible endpoint, a proxy). Up to 2,048 texts per request.
    """

    provider = "OpenAI"
    max_batch = 2048

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        api_key: str | None = None,
        base_url: str = "https://api.openai.com/v1",
        dimension: int = EMBEDDING_DIMENSION,
        batch_size: int | None = 256,
        retry: RetryPolicy | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            model=model,
            base_url=base_url,
            api_key=_key_from(api_key, ("OPENAI_API_KEY",), "OpenAI"),
            dimension=dimension,
            batch_size=batch_size,
            retry=retry,
            timeout=timeout,
            http_client=http_client,
        )

    def _request(self, texts: Sequence[str]) -> tuple[str, dict[str, str], dict[str, Any]]:
        # text-embedding-3 models shorten (and re-normalise) their vectors server-side when asked.
        body = {
            "model": self.model,
            "input": list(texts),
            "dimensions": self.dimension,
            "encoding_format": "float",
        }
        return f"{self.base_url}/embeddings", {"Authorization": f"Bearer {self._key}"}, body

    def _vectors(self, body: Any, count: int) -> list[list[float]]:
        try:
            data = sorted(body["data"], key=lambda item: int(item["index"]))
            return [list(map(float, item["embedding"])) for item in data]
        except (KeyError, TypeError, ValueError):
            raise ConfigurationError("OpenAI answered without data[].embedding") from None


class GeminiEmbedder(ProviderEmbedder):
    """Google's ``text-embedding-004`` (768 dimensions) through the Gemini API's ``batchEmbedContents``.

    The key comes from ``api_key``, ``GEMINI_API_KEY`` or ``GOOGLE_API_KEY`` and is sent in the
    ``x-goog-api-key`` header (never in the URL, where proxies log it). ``task_type`` tunes the vectors
    (``RETRIEVAL_DOCUMENT`` for stored memories, ``RETRIEVAL_QUERY`` for queries; ``None`` sends none).
    Up to 100 texts per request, the API's limit.
    """

    provider = "Gemini"
    max_batch = 100

    def __init__(
        self,
        model: str = "text-embedding-004",
        *,
        api_key: str | None = None,
        base_url: str = "https://generativelanguage.googleapis.com/v1beta",
        task_type: str | None = None,
        dimension: int = EMBEDDING_DIMENSION,
        batch_size: int | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            model=model if model.startswith("models/") else f"models/{model}",
            base_url=base_url,
            api_key=_key_from(api_key, ("GEMINI_API_KEY", "GOOGLE_API_KEY"), "Gemini"),
            dimension=dimension,
            batch_size=batch_size,
            retry=retry,
            timeout=timeout,
            http_client=http_client,
        )
        self.task_type = task_type

    def _request(self, texts: Sequence[str]) -> tuple[str, dict[str, str], dict[str, Any]]:
        requests = []
        for text in texts:
            item: dict[str, Any] = {"model": self.model, "content": {"parts": [{"text": text}]}}
            if self.task_type:
                item["taskType"] = self.task_type
            requests.append(item)
        url = f"{self.base_url}/{self.model}:batchEmbedContents"
        return url, {"x-goog-api-key": self._key or ""}, {"requests": requests}

    def _vectors(self, body: Any, count: int) -> list[list[float]]:
        try:
            return [list(map(float, item["values"])) for item in body["embeddings"]]
        except (KeyError, TypeError, ValueError):
            raise ConfigurationError("Gemini answered without embeddings[].values") from None

    def _is_bad_key(self, status: int, response: httpx.Response) -> bool:
        # The Gemini API answers a wrong key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
        return status == 400 and "API_KEY_INVALID" in response.text


class OllamaEmbedder(ProviderEmbedder):
    """A model served by Ollama (``nomic-embed-text``, 768 dimensions, by default) via ``POST /api/embed``.

    ``base_url`` defaults to ``OLLAMA_HOST`` or ``http://localhost:11434``. No key is needed; ``api_key`` is
    sent as a bearer token for a server behind an authenticating proxy. ``prefix`` is prepended to every
    text: nomic-embed-text was trained with task prefixes (``"search_document: "`` for stored texts,
    ``"search_query: "`` for queries), and using one embedder for both keeps stored and query vectors
    comparable.
    """

    provider = "Ollama"
    max_batch = 512

    def __init__(
        self,
        model: str = "nomic-embed-text",
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        prefix: str = "",
        dimension: int = EMBEDDING_DIMENSION,
        batch_size: int | None = 64,
        retry: RetryPolicy | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        http_client: httpx.Client | None = None,
    ) -> None:
        host = base_url or os.environ.get("OLLAMA_HOST") or "http://localhost:11434"
        if "://" not in host:
            host = f"http://{host}"  # OLLAMA_HOST is often written as host:port
        super().__init__(
            model=model,
            base_url=host,
            api_key=api_key,
            dimension=dimension,
            batch_size=batch_size,
            retry=retry,
            timeout=timeout,
            http_client=http_client,
        )
        self.prefix = prefix

    def _request(self, texts: Sequence[str]) -> tuple[str, dict[str, str], dict[str, Any]]:
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        body = {"model": self.model, "input": [self.prefix + text for text in texts]}
        return f"{self.base_url}/api/embed", headers, body

    def _vectors(self, body: Any, count: int) -> list[list[float]]:
        try:
            return [list(map(float, vector)) for vector in body["embeddings"]]
        except (KeyError, TypeError, ValueError):
            raise ConfigurationError("Ollama answered without embeddings") from None

    def _not_found_hint(self) -> str | None:
        return f"pull the model first: ollama pull {self.model}"
