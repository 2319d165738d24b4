"""What the REST backend retries, and what it raises, answered as PostgREST answers.

Statuses and bodies come from PostgREST's source: ``src/library/PostgREST/Error.hs`` (``mapSQLtoHTTP``:
42P17, 21000 and 54xxx are 500, ``PGRSTX00`` for an undecodable result, 503 for PGRST000-002, 504 for
PGRST003, 300 for PGRST203), ``src/library/PostgREST/App.hs`` (``addRetryHint``: ``Retry-After`` on
every 503, 0 while the schema cache loads) and ``test/spec/Feature/Query/RpcSpec.hs`` (the 300 body).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import h2.errors
import h2.events
import h2.exceptions
import httpcore
import httpx
import pytest
import respx

from phase3_sdk import (
    AuthError,
    InvalidInputError,
    Phase3Client,
    Phase3Error,
    RateLimitError,
    RetryPolicy,
    ServerError,
    TransientError,
)
from phase3_sdk.backends import postgrest as pt
from phase3_sdk.backends.base import Rpc
from phase3_sdk.errors import RequestError
from support.backends import ANON_KEY, BASE_URL, JWT_SECRET, SERVICE_KEY

FAST = RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=2.0, max_total=15.0, jitter=False)
EMPTY_COUNT = httpx.Response(200, headers={"Content-Range": "*/0"})
RPC = Rpc("record_tool_use", {"p_tool_id": "00000000-0000-0000-0000-000000000001"}, returns="none")


def _client(retry: RetryPolicy = FAST) -> Phase3Client:
    return Phase3Client(BASE_URL, SERVICE_KEY, anon_key=ANON_KEY, jwt_secret=JWT_SECRET, retry=retry)


def _error(
    status: int, code: str | None, message: str = "x", headers: dict[str, str] | None = None
) -> httpx.Response:
    body = {"code": code, "details": None, "hint": None, "message": message}
    return httpx.Response(status, json=body, headers=headers or {})


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router


def _script(router: respx.MockRouter, method: str, *answers: Any) -> respx.Route:
    """The next answers (responses or exceptions) of ``method`` requests, then 200 / 204."""
    final = EMPTY_COUNT if method == "HEAD" else httpx.Response(204)
    route = router.route(method=method)
    route.side_effect = [*answers, final, final]
    return route


# -- 3. Retry-After --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0.0, -3.0])
def test_a_zero_or_negative_retry_after_uses_the_backoff(value: float) -> None:
    policy = RetryPolicy(initial_delay=0.25, max_delay=8, jitter=False)
    assert policy.delay_for(1, TransientError("x", retry_after=value)) == 0.25
    assert policy.delay_for(2, TransientError("x", retry_after=value)) == 0.5
    assert policy.delay_for(1, TransientError("x", retry_after=3)) == 3


def test_503_with_retry_after_0_backs_off_instead_of_retrying_at_once(mock: respx.MockRouter) -> None:
    schema_cache = _error(503, "PGRST002", "Could not query the database for the schema cache. Retrying.")
    schema_cache.headers["Retry-After"] = "0"
    route = _script(mock, "HEAD", schema_cache, schema_cache)
    slow = RetryPolicy(max_attempts=3, initial_delay=0.2, max_delay=2.0, jitter=False)
    started = time.monotonic()
    assert _client(slow).tools.count() == 0
    # Two waits of the backoff (0.2 s, then 0.4 s), not two immediate retries.
    assert time.monotonic() - started >= 0.6
    assert route.call_count == 3


@pytest.mark.parametrize(("status", "cls"), [(503, TransientError), (429, RateLimitError)])
def test_a_retry_after_beyond_the_cap_raises_with_it_instead_of_sleeping(
    mock: respx.MockRouter, status: int, cls: type[Phase3Error]
) -> None:
    route = _script(mock, "HEAD", _error(status, None, "busy", {"Retry-After": "120"}))
    with pytest.raises(cls) as err:
        _client().tools.count()
    assert err.value.retry_after == 120  # type: ignore[attr-defined]
    assert route.call_count == 1


def test_each_failed_attempt_is_counted_logged_and_waited_after(
    mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    # The first attempt runs outside the retry controller; its failure must still be its attempt 1.
    unavailable = _error(503, "PGRST001", "Database client error. Retrying the connection.")
    route = _script(mock, "HEAD", unavailable, unavailable)
    policy = RetryPolicy(max_attempts=3, initial_delay=0.1, max_delay=2.0, jitter=False)
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="phase3_sdk.retry"):
        assert _client(policy).tools.count() == 0
    assert time.monotonic() - started >= 0.3  # 0.1 s after attempt 1, 0.2 s after attempt 2
    assert route.call_count == 3
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "retrying after attempt 1 of 3",
        "retrying after attempt 2 of 3",
    ]
    mock.reset()  # the call counts
    route = _script(mock, "HEAD", unavailable, unavailable, unavailable)
    with pytest.raises(TransientError):
        _client(policy).tools.count()
    assert route.call_count == 3


def test_the_first_attempt_counts_toward_max_total(mock: respx.MockRouter) -> None:
    answers = iter([_error(503, "PGRST001"), EMPTY_COUNT])

    def slow_then_fine(request: httpx.Request) -> httpx.Response:
        time.sleep(0.3)
        return next(answers)

    mock.route(method="HEAD").side_effect = slow_then_fine
    # 0.3 s of a 0.2 s budget are gone when the first attempt fails: no second attempt.
    with pytest.raises(TransientError):
        _client(RetryPolicy(initial_delay=0.01, max_total=0.2, jitter=False)).tools.count()
    answers = iter([_error(503, "PGRST001"), EMPTY_COUNT])
    assert _client(RetryPolicy(initial_delay=0.01, max_total=5.0, jitter=False)).tools.count() == 0


# -- 4. permanent 500s are not retried; PostgREST's connection codes are --------------------------------


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (500, "42P17", ServerError),  # infinite recursion detected in policy
        (500, "21000", ServerError),  # more than one row returned by a subquery
        (500, "54001", ServerError),  # statement too complex
        (500, "PGRSTX00", ServerError),  # internal: result could not be decoded
        (400, "2F005", ServerError),  # function finished without RETURN
        (500, "P0004", ServerError),  # assert_failure
        (500, "XX000", ServerError),
        (500, "53400", ServerError),
        (401, "22023", AuthError),  # role in the JWT does not exist (Error.hs: 401)
    ],
)
def test_deterministic_failures_are_raised_after_one_request(
    mock: respx.MockRouter, status: int, code: str, cls: type[Phase3Error]
) -> None:
    route = _script(mock, "HEAD", _error(status, code))
    with pytest.raises(cls) as err:
        _client().tools.count()
    assert err.value.code == code
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("status", "code"), [(503, "PGRST000"), (503, "PGRST002"), (504, "PGRST003"), (500, "40001")]
)
def test_failures_that_never_ran_are_retried_even_for_an_rpc(
    mock: respx.MockRouter, status: int, code: str
) -> None:
    route = _script(mock, "POST", _error(status, code, headers={"Retry-After": "0"}))
    assert _client()._transport.rpc(RPC, idempotent=False) is None
    assert route.call_count == 2


@pytest.mark.parametrize(("status", "code"), [(503, "PGRST001"), (502, None), (520, None)])
def test_failures_that_may_have_run_are_not_repeated_for_an_rpc_but_are_for_a_read(
    mock: respx.MockRouter, status: int, code: str | None
) -> None:
    route = _script(mock, "POST", _error(status, code))
    with pytest.raises(TransientError):
        _client()._transport.rpc(RPC, idempotent=False)
    assert route.call_count == 1
    reads = _script(mock, "HEAD", _error(status, code))
    assert _client().tools.count() == 0
    assert reads.call_count == 2


# -- 5. 300 and every other non-2xx ----------------------------------------------------------------------


def test_300_ambiguous_function_is_a_typed_error_not_data(mock: respx.MockRouter) -> None:
    # Body and status as in test/spec/Feature/Query/RpcSpec.hs ("overloaded_same_args").
    body = {
        "hint": "Try renaming the parameters or the function itself in the database so function "
        "overloading can be resolved",
        "message": "Could not choose the best candidate function between: public.search_memories(...), "
        "public.search_memories(...)",
        "code": "PGRST203",
        "details": None,
    }
    route = mock.route(method="POST").mock(return_value=httpx.Response(300, json=body))
    me = _client().as_user(user_id="00000000-0000-0000-0000-000000000002")
    with pytest.raises(ServerError) as err:
        me.search.semantic("anything")
    assert err.value.code == "PGRST203"
    assert err.value.status == 300
    assert route.call_count == 1


def test_a_redirect_is_an_error_not_rows(mock: respx.MockRouter) -> None:
    mock.route(method="GET").mock(return_value=httpx.Response(301, headers={"Location": "https://elsewhere"}))
    with pytest.raises(ServerError) as err:
        _client().tools.page()
    assert err.value.status == 301


# -- 7. transport errors: typed, and retried only where the transport failed --------------------------------


def _goaway_closed() -> Exception:
    # The raw h2 error issue 15 saw reach the caller when nginx ended a connection with GOAWAY.
    return h2.exceptions.ProtocolError(
        "Invalid input ConnectionInputs.RECV_DATA in state ConnectionState.CLOSED"
    )


NEVER_RAN: list[Callable[[], BaseException]] = [
    lambda: httpx.ConnectError("[Errno 111] Connection refused"),
    lambda: httpx.ConnectTimeout("timed out"),
    lambda: httpx.PoolTimeout("no connection"),
]
MAY_HAVE_RUN: list[Callable[[], BaseException]] = [
    lambda: httpx.ReadTimeout("timed out"),
    lambda: httpx.RemoteProtocolError("Server disconnected without sending a response."),
    lambda: httpx.ReadError("connection reset by peer"),
    lambda: httpcore.ReadError("raw httpcore"),
    _goaway_closed,
    # httpcore's HTTP/2 connection shared by threads raised this under GOAWAY churn (test_rest_goaway.py).
    lambda: KeyError(140431633537920),
]
NOT_TRANSPORT: list[Callable[[], BaseException]] = [
    lambda: httpx.DecodingError("bad gzip"),
    lambda: httpx.InvalidURL("URL component 'query' too long"),
    lambda: httpx.TooManyRedirects("loop"),
    lambda: h2.exceptions.FrameTooLargeError("frame"),
]


@pytest.mark.parametrize("make", NEVER_RAN)
def test_a_request_that_never_reached_the_server_is_resent_even_as_an_rpc(
    mock: respx.MockRouter, make: Callable[[], BaseException]
) -> None:
    route = _script(mock, "POST", make())
    assert _client()._transport.rpc(RPC, idempotent=False) is None
    assert route.call_count == 2


class _RefusesFirstStream(httpx.BaseTransport):
    """An HTTP/2 server that resets the first stream with REFUSED_STREAM, then answers 204.

    The error is raised as httpx raises it: httpcore turns the h2 ``StreamReset`` event into
    ``httpcore.RemoteProtocolError(event)`` (``httpcore/_async/http2.py``) and httpx re-raises that as
    ``httpx.RemoteProtocolError(str(exc)) from exc`` (``httpx/_transports/default.py``). (respx cannot
    be used here: it replaces the exception's ``__cause__``.)
    """

    def __init__(self) -> None:
        self.calls = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.calls == 1:
            event = h2.events.StreamReset(stream_id=1, error_code=h2.errors.ErrorCodes.REFUSED_STREAM)
            cause = httpcore.RemoteProtocolError(event)
            raise httpx.RemoteProtocolError(str(cause)) from cause
        return httpx.Response(204)


def test_a_refused_http2_stream_is_resent_even_as_an_rpc() -> None:
    from phase3_sdk import Identity
    from phase3_sdk._sync.backends.rest import RestBackend
    from phase3_sdk._sync.transport import Transport

    server = _RefusesFirstStream()
    backend = RestBackend(
        BASE_URL,
        anon_key=ANON_KEY,
        service_role_key=SERVICE_KEY,
        timeout=5,
        connect_timeout=5,
        http_client=httpx.Client(transport=server),
    )
    assert Transport(backend, Identity.service(), FAST).rpc(RPC, idempotent=False) is None
    assert server.calls == 2


@pytest.mark.parametrize("make", MAY_HAVE_RUN)
def test_a_request_that_may_have_run_is_resent_only_when_idempotent(
    mock: respx.MockRouter, make: Callable[[], BaseException]
) -> None:
    route = _script(mock, "POST", make())
    with pytest.raises(TransientError) as err:
        _client()._transport.rpc(RPC, idempotent=False)
    assert not err.value.unprocessed
    assert route.call_count == 1
    reads = _script(mock, "HEAD", make())
    assert _client().tools.count() == 0
    assert reads.call_count == 2


@pytest.mark.parametrize("make", NOT_TRANSPORT)
def test_other_http_stack_errors_are_typed_and_not_retried(
    mock: respx.MockRouter, make: Callable[[], BaseException]
) -> None:
    route = _script(mock, "HEAD", make())
    with pytest.raises(RequestError) as err:
        _client().tools.count()
    assert SERVICE_KEY not in str(err.value)
    assert route.call_count == 1


def test_a_url_over_8_kb_is_refused_before_it_is_sent(mock: respx.MockRouter) -> None:
    route = mock.route().mock(return_value=httpx.Response(200, json=[]))
    with pytest.raises(RequestError) as err:
        _client().conversations.page(instance_key="k" * 9000)
    assert err.value.code == "url_too_long"
    assert route.call_count == 0


def test_both_clients_speak_http_1_1_by_default() -> None:
    from phase3_sdk import AsyncPhase3Client

    for client in (_client(), AsyncPhase3Client(BASE_URL, SERVICE_KEY)):
        pool = client._shared.backend.http._transport._pool  # type: ignore[attr-defined]
        assert pool._http2 is False
        assert pool._http1 is True
    h2_client = Phase3Client(BASE_URL, SERVICE_KEY, http2=True)
    assert h2_client._shared.backend.http._transport._pool._http2 is True  # type: ignore[attr-defined]


def test_invalid_max_rows_is_a_configuration_error() -> None:
    from phase3_sdk import ConfigurationError

    for bad in (0, -1, True, "1000"):
        with pytest.raises(ConfigurationError):
            Phase3Client(BASE_URL, SERVICE_KEY, max_rows=bad)  # type: ignore[arg-type]


# -- the README's table is the code's ---------------------------------------------------------------------


def test_the_readme_retry_table_is_generated_from_the_classification() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = readme.index("<!-- retry-table:start -->\n") + len("<!-- retry-table:start -->\n")
    end = readme.index("<!-- retry-table:end -->")
    assert readme[start:end] == pt.retry_table_markdown(), (
        "paste phase3_sdk.backends.postgrest.retry_table_markdown() into the README"
    )


def test_the_table_rows_match_the_errors_really_raised() -> None:
    rows = {(r.status, r.code): r for r in pt.retry_table()}
    assert rows[("500", "42P17")].idempotent == "raised"
    assert rows[("503", "PGRST002")].not_idempotent == "retried"
    assert rows[("503", "PGRST001")].not_idempotent == "raised"
    assert rows[("300", "PGRST203")].error == "ServerError"
    assert rows[("(no answer)", "InvalidURL")].error == "RequestError"
    assert InvalidInputError.__name__ == rows[("400", "PGRST100")].error
