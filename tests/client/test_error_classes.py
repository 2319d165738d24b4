"""The error hierarchy of 0.2: connection failures and timeouts as their own transient classes on both
backends, 429 a transient error, the request id and raw body kept, and the 0.1 names as warning aliases."""

from __future__ import annotations

import builtins
import socket
import warnings
from collections.abc import Iterator

import httpx
import psycopg
import pytest
import respx

import phase3_sdk
from phase3_sdk import (
    NotFoundError,
    Phase3Client,
    Phase3ConnectionError,
    Phase3Error,
    Phase3TimeoutError,
    RateLimitError,
    RetryPolicy,
    TransientError,
)
from phase3_sdk import errors as errors_module
from phase3_sdk.backends import postgrest as pt
from phase3_sdk.backends.sql import map_error
from support.backends import ANON_KEY, BASE_URL, JWT_SECRET, SERVICE_KEY


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router


def _client() -> Phase3Client:
    return Phase3Client(
        BASE_URL, SERVICE_KEY, anon_key=ANON_KEY, jwt_secret=JWT_SECRET, retry=RetryPolicy.none()
    )


def test_a_429_is_a_transient_error_and_any_call_may_be_repeated() -> None:
    err = RateLimitError("slow down", retry_after=2.0, unprocessed=False)
    assert isinstance(err, TransientError)
    assert err.unprocessed is True  # a 429 never ran, whatever the caller says
    assert RetryPolicy().should_retry(err, idempotent=False)


def test_connection_and_timeout_errors_are_transient_and_the_builtins() -> None:
    assert issubclass(Phase3ConnectionError, TransientError)
    assert issubclass(Phase3ConnectionError, builtins.ConnectionError)
    assert issubclass(Phase3TimeoutError, TransientError)
    assert issubclass(Phase3TimeoutError, builtins.TimeoutError)
    err = Phase3TimeoutError("the request timed out", code="timeout", unprocessed=False)
    assert str(err) == "[timeout] the request timed out"
    assert err.code == "timeout"
    assert err.unprocessed is False


def test_rest_connection_refused_is_a_connection_error(mock: respx.MockRouter) -> None:
    mock.route(method="HEAD").side_effect = httpx.ConnectError("[Errno 111] Connection refused")
    with pytest.raises(ConnectionError) as err:  # the builtin catches it
        _client().tools.count()
    assert isinstance(err.value, Phase3ConnectionError)
    assert err.value.code == "connection"
    assert err.value.unprocessed is True


def test_rest_read_timeout_is_a_timeout_error(mock: respx.MockRouter) -> None:
    mock.route(method="HEAD").side_effect = httpx.ReadTimeout("timed out")
    with pytest.raises(TimeoutError) as err:
        _client().tools.count()
    assert isinstance(err.value, Phase3TimeoutError)
    assert err.value.code == "timeout"
    assert err.value.unprocessed is False


def test_the_rest_backend_keeps_the_request_id_and_the_raw_body(mock: respx.MockRouter) -> None:
    body = b'{"code":"PGRST116","details":"The result contains 0 rows","hint":null,"message":"no row"}'
    mock.route(method="GET").respond(
        406,
        content=body,
        headers={"Content-Type": "application/json", "sb-request-id": "019a-req", "cf-ray": "8f-AMS"},
    )
    with pytest.raises(NotFoundError) as err:
        _client().tools.get("00000000-0000-0000-0000-000000000001")
    assert err.value.request_id == "019a-req"  # Supabase's own id wins over Cloudflare's ray
    assert err.value.body == body.decode()
    assert str(err.value).endswith("; request id: 019a-req")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Request-Id": "abc"}, "abc"),
        ({"CF-RAY": "8f1c2d-FRA"}, "8f1c2d-FRA"),
        ({"x-request-id": "px", "cf-ray": "ray"}, "px"),
        ({}, None),
    ],
)
def test_the_request_id_comes_from_the_first_header_present(
    headers: dict[str, str], expected: str | None
) -> None:
    err = pt.error_from_response(503, headers, b"<html>bad gateway</html>")
    assert err.request_id == expected
    assert err.body == "<html>bad gateway</html>"


def test_a_key_echoed_in_the_body_is_blanked_out_of_the_kept_body() -> None:
    err = pt.error_from_response(401, {}, b'{"message":"bad key sk-secret-1"}', secrets=["sk-secret-1"])
    assert err.body is not None
    assert "sk-secret-1" not in err.body
    assert "[redacted]" in err.body


def test_postgres_connection_failures_are_connection_errors() -> None:
    refused = map_error(psycopg.OperationalError("connection refused"))
    assert isinstance(refused, Phase3ConnectionError)
    assert refused.code == "connection"
    # SQLSTATE class 08 (connection exception) from the server is the same class.
    assert errors_module.classify(None, "08006") is Phase3ConnectionError


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_postgres_unreachable_server_is_a_connection_error_at_once() -> None:
    # A refused connection is known on the first connect: no pool wait (it was a 10 s pool_timeout).
    url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/postgres"
    client = Phase3Client.connect(url, retry=RetryPolicy.none(), min_connections=0, connect_timeout=1)
    try:
        with pytest.raises(ConnectionError) as err:
            client.tools.count()
        assert isinstance(err.value, Phase3ConnectionError)
        assert err.value.code == "connection"
        assert err.value.unprocessed is True
    finally:
        client.close()


OLD_NAMES = {
    "InvalidInput": "InvalidInputError",
    "NotFound": "NotFoundError",
    "PermissionDenied": "PermissionDeniedError",
    "Conflict": "ConflictError",
    "RateLimited": "RateLimitError",
    "RequestFailed": "RequestError",
    "LeaseLost": "LeaseLostError",
    "ToolTimeout": "ToolTimeoutError",
    "SynthesisTimeout": "SynthesisTimeoutError",
    "UserNotFound": "UserNotFoundError",
    "MissingExtra": "MissingExtraError",
}


@pytest.mark.parametrize("module", [phase3_sdk, errors_module], ids=["phase3_sdk", "errors"])
@pytest.mark.parametrize(("old", "new"), sorted(OLD_NAMES.items()))
def test_a_0_1_error_name_warns_and_is_the_renamed_class(module: object, old: str, new: str) -> None:
    with pytest.warns(DeprecationWarning, match=f"{old} is deprecated.*use {new}"):
        cls = getattr(module, old)
    assert cls is getattr(errors_module, new)
    assert issubclass(cls, Phase3Error)


def test_from_import_of_an_old_name_warns_and_a_new_one_does_not() -> None:
    with pytest.warns(DeprecationWarning, match="NotFound is deprecated"):
        from phase3_sdk.errors import NotFound  # noqa: F401
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from phase3_sdk.errors import NotFoundError as Fresh  # noqa: F401


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchError"):
        _ = phase3_sdk.NoSuchError  # type: ignore[attr-defined]
