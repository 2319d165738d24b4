"""Pure PostgREST mapping: the grammar the REST backend emits, and how answers become rows or errors."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime
from uuid import UUID

import pytest

from phase3_sdk import (
    AuthError,
    ConfigurationError,
    ConflictError,
    Identity,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TransientError,
)
from phase3_sdk.backends import postgrest as pt
from phase3_sdk.backends.base import Filter, Keyset, Order, Query
from support.postgrest_emulator import _parse_list, parse_tree

U = UUID("00000000-0000-0000-0000-000000000001")


@pytest.mark.parametrize(
    ("f", "expected"),
    [
        (Filter("name", "eq", "a,b"), ("name", "eq.a,b")),
        (Filter("is_enabled", "eq", True), ("is_enabled", "eq.true")),
        (
            Filter("created_at", "gt", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
            ("created_at", "gt.2026-01-02T03:04:05+00:00"),
        ),
        (
            Filter("id", "in", [U, "x,y", 'q"t', "a b", "(p)"]),
            ("id", 'in.(00000000-0000-0000-0000-000000000001,"x,y","q\\"t","a b","(p)")'),
        ),
        (Filter("tags", "cs", "solo"), ("tags", "cs.{solo}")),
        (Filter("tags", "cs", ["a", "b c", "x,y", "NULL"]), ("tags", 'cs.{a,"b c","x,y","NULL"}')),
        (Filter("tags", "ov", ("a", "b")), ("tags", "ov.{a,b}")),
        (Filter("icon", "is", None), ("icon", "is.null")),
    ],
)
def test_filter_grammar(f: Filter, expected: tuple[str, str]) -> None:
    assert pt.filter_param(f) == expected


def test_in_list_round_trips_through_the_emulators_parser() -> None:
    values = ["plain", "x,y", 'q"t', "back\\slash", "(p)", ""]
    _, text = pt.filter_param(Filter("name", "in", values))
    assert _parse_list(text[3:]) == values


def test_keyset_respects_per_column_direction() -> None:
    order = (Order("name", False), Order("id", True))
    key, value = pt.keyset_param(order, Keyset(("a,b)", str(U))))
    assert key == "or"
    assert value == f'(name.gt."a,b)",and(name.eq."a,b)",id.lt.{U}))'
    tree = parse_tree("or", value)
    assert tree.items[0].value == "a,b)"  # type: ignore[union-attr]


def test_select_request_shape() -> None:
    q = Query(
        "custom_tools",
        ("id", "name"),
        (Filter("is_enabled", "eq", True),),
        (Order("created_at", True), Order("id", True)),
        Keyset(("2026-01-01T00:00:00+00:00", str(U))),
        11,
    )
    req = pt.select_request(q)
    assert (req.method, req.path) == ("GET", "/rest/v1/custom_tools")
    assert req.params == [
        ("select", "id,name"),
        ("is_enabled", "eq.true"),
        (
            "or",
            f'(created_at.lt."2026-01-01T00:00:00+00:00",and(created_at.eq."2026-01-01T00:00:00+00:00",id.lt.{U}))',
        ),
        ("order", "created_at.desc,id.desc"),
        ("limit", "11"),
    ]


def test_auth_headers_never_give_a_user_the_service_key() -> None:
    user = Identity.for_user(U, access_token="user-token")
    assert pt.auth_headers(user, anon_key="anon", service_role_key="svc") == {
        "apikey": "anon",
        "Authorization": "Bearer user-token",
    }
    assert (
        pt.auth_headers(Identity.anon(), anon_key="anon", service_role_key="svc")["Authorization"]
        == "Bearer anon"
    )
    assert pt.auth_headers(Identity.service(), anon_key="anon", service_role_key="svc")["apikey"] == "svc"
    with pytest.raises(ConfigurationError):
        pt.auth_headers(user, anon_key=None, service_role_key="svc")
    with pytest.raises(ConfigurationError):
        pt.auth_headers(Identity.anon(), anon_key=None, service_role_key="svc")


@pytest.mark.parametrize(("value", "expected"), [("*/0", 0), ("0-24/100", 100), ("0-0/1", 1)])
def test_count_from_content_range(value: str, expected: int) -> None:
    assert pt.parse_count(value) == expected


def test_count_without_total_is_an_error() -> None:
    with pytest.raises(ServerError):
        pt.parse_count("0-24/*")


def test_retry_after_seconds_and_http_date() -> None:
    assert pt.parse_retry_after("2") == 2.0
    assert pt.parse_retry_after(None) is None
    assert pt.parse_retry_after("soon") is None
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert pt.parse_retry_after(date, now=1_000_000) == pytest.approx(30)


def _err(status: int, body: bytes, headers: dict[str, str] | None = None) -> Exception:
    return pt.error_from_response(status, headers or {}, body, secrets=["sekrit"])


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (409, b'{"code":"23505","message":"dup","details":"Key (id)","hint":null}', ConflictError),
        (400, b'{"code":"22P02","message":"bad uuid","details":null,"hint":null}', InvalidInputError),
        (
            401,
            b'{"code":"42501","message":"permission denied for table x","details":null,"hint":null}',
            PermissionDeniedError,
        ),
        (
            403,
            b'{"code":"42501","message":"new row violates row-level security policy","details":null}',
            PermissionDeniedError,
        ),
        (401, b'{"code":"PGRST303","message":"JWT expired","details":null,"hint":null}', AuthError),
        (
            404,
            b'{"code":"PGRST205","message":"Could not find the table","details":null,"hint":null}',
            NotFoundError,
        ),
        (
            406,
            b'{"code":"PGRST116","message":"JSON object requested","details":"0 rows","hint":null}',
            NotFoundError,
        ),
        (
            503,
            b'{"code":"PGRST003","message":"Timed out acquiring connection","details":null,"hint":null}',
            TransientError,
        ),
        (520, b"<html>cloudflare</html>", TransientError),
        (429, b"", RateLimitError),
        (401, b'{"message":"Invalid API key"}', AuthError),
    ],
)
def test_error_mapping(status: int, body: bytes, cls: type) -> None:
    err = _err(status, body)
    assert type(err) is cls
    assert f"HTTP {status}" in str(err)


def test_error_carries_fields_retry_after_and_hides_secrets() -> None:
    err = _err(
        503, b'{"code":"PGRST001","message":"sekrit leaked","details":"d","hint":"h"}', {"Retry-After": "4"}
    )
    assert isinstance(err, TransientError)
    assert (err.code, err.details, err.hint, err.retry_after, err.status) == ("PGRST001", "d", "h", 4.0, 503)
    assert "sekrit" not in str(err)
    html = _err(500, b"<html>\n<h1>Internal</h1>")
    assert str(html).startswith("HTTP 500: <html>")
    assert "\n" not in str(html)


def test_transport_error_is_transient() -> None:
    import httpx

    assert pt.error_from_transport(httpx.ReadTimeout("read timed out")).code == "timeout"
    assert pt.error_from_transport(httpx.ConnectError("refused")).code == "connection"
