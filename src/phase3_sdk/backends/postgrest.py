"""Turning the backend values into PostgREST requests, and PostgREST responses into rows or SDK errors.

Pure: no I/O, so every mapping is unit-testable. The REST backend (``_async/backends/rest.py``) only sends
what :func:`select_request` and friends build, and reads answers with :func:`parse_rows`,
:func:`parse_count` and :func:`error_from_response`.

The grammar emitted here is PostgREST's (https://docs.postgrest.org/en/stable/references/api/tables_views.html):
``col=eq.value``, ``col=in.("a,b",c)``, ``col=cs.{a,b}``, ``or=(a.lt.x,and(a.eq.x,id.lt.y))``,
``order=a.desc,id.desc``, ``limit=n``, ``select=a,b``. Table, column and function names come only from the
SDK's table definitions; values are only ever put in the value position of a filter (or the JSON body).
"""

from __future__ import annotations

import email.utils
import json
import re
import time
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol
from uuid import UUID

import msgspec
from pydantic_core import from_json, to_json

from ..errors import (
    ConfigurationError,
    InvalidInputError,
    Phase3ConnectionError,
    Phase3Error,
    Phase3TimeoutError,
    RequestError,
    ServerError,
    TransientError,
    classify,
    missing_user_error,
)
from ..identity import Identity
from .base import VECTOR_CAST, Delete, Filter, Insert, Keyset, Order, Query, Rpc, Update

REST_PREFIX = "/rest/v1"

#: The longest URL the SDK sends. Gateways in front of PostgREST commonly refuse longer ones (nginx's
#: default ``large_client_header_buffers`` is 8 KB for the request line; PostgREST itself answers 414).
MAX_URL_BYTES = 8 * 1024
#: What the query string of a request whose list is chunked may use: the rest of the 8 KB is left for the
#: project URL and the path.
QUERY_BUDGET = 6 * 1024
#: Supabase's default ``db-max-rows``: PostgREST answers at most this many rows to any read (and any RPC
#: returning rows), with 200 and no sign of the cut (PostgREST ``Plan.hs`` ``treeRestrictRange``; spec
#: ``test/spec/Feature/Query/QueryLimitedSpec.hs``: ``Content-Range: 0-1/*`` at max-rows 2).
DEFAULT_MAX_ROWS = 1000

#: Characters that make a value ambiguous inside ``in.(...)`` or a logic tree (``or=(...)``), so it is
#: double-quoted there. PostgREST (``ApiRequest/QueryParams.hs``) splits those lists on ``,`` and closes
#: them on ``)``; in a logic tree, ``pLogicSingleVal`` reads a value that starts with ``{`` as an array
#: literal up to the first ``}`` (so ``{x}y`` fails to parse), and ``lexeme`` drops spaces next to ``(``
#: and ``,``. A double-quoted value (``pQuotedValue``: ``\`` escapes any character) is taken as it is.
_LIST_RESERVED = re.compile(r'[,.:()"\\{}\s]')
#: The same for an element of a PostgreSQL array literal (``cs.{...}``).
_ARRAY_RESERVED = re.compile(r'[,{}"\\\s]')


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request, relative to the project URL, without the auth headers (added per identity)."""

    method: str
    path: str
    params: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None


# -- auth headers ---------------------------------------------------------------------------------------


def auth_headers(identity: Identity, *, anon_key: str | None, service_role_key: str | None) -> dict[str, str]:
    """``apikey`` and ``Authorization`` for one request, chosen from the identity alone.

    Only the service role ever gets the service key. A user or anon request with no anon key configured is
    a :class:`ConfigurationError`, never a quiet fallback to the service key (that would bypass RLS).
    """
    if identity.role == "service_role":
        if not service_role_key:
            raise ConfigurationError("acting as the service role over REST needs the service-role key")
        return {"apikey": service_role_key, "Authorization": f"Bearer {service_role_key}"}
    if not anon_key:
        raise ConfigurationError(
            "a user-scoped or anon request over REST needs the anon (publishable) key: pass anon_key= "
            "or set SUPABASE_ANON_KEY; the service key is never sent on a user's behalf"
        )
    if identity.role == "authenticated":
        if not identity.access_token:
            raise ConfigurationError("a user identity over REST needs the user's access token")
        return {"apikey": anon_key, "Authorization": f"Bearer {identity.access_token}"}
    return {"apikey": anon_key, "Authorization": f"Bearer {anon_key}"}


# -- values -----------------------------------------------------------------------------------------------


def format_value(value: Any) -> str:
    """A Python value as PostgREST reads it in a filter (``true``, ``null``, ISO 8601 dates, UUID text)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return str(value)


def _escape(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _checked(text: str, column: str | None) -> str:
    # NUL cannot be stored in Postgres text, and in a URL it ends the string in some servers: refuse it
    # here, naming the filter, instead of sending a request that cannot mean what was asked.
    if "\x00" in text:
        raise InvalidInputError(
            f"a filter value{f' for {column}' if column else ''} contains the NUL character (\\u0000), "
            "which PostgreSQL text cannot hold",
            field=column,
        )
    return text


def quote_list_item(value: Any, column: str | None = None) -> str:
    """One element of ``in.(...)`` or a logic-tree value, double-quoted when it holds reserved characters."""
    text = _checked(format_value(value), column)
    if text == "" or _LIST_RESERVED.search(text):
        return _escape(text)
    return text


def array_literal(values: Iterable[Any]) -> str:
    """A PostgreSQL array literal (``{a,"b c"}``) for ``cs``/``ov``; elements quoted where needed."""
    items = []
    for value in values:
        text = format_value(value)
        if text == "" or text.upper() == "NULL" or _ARRAY_RESERVED.search(text):
            text = _escape(text)
        items.append(text)
    return "{" + ",".join(items) + "}"


def _as_list(value: Any) -> list[Any]:
    # Same rule as the SQL backend: one value means an array of that one value.
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    return [value]


def filter_param(f: Filter) -> tuple[str, str]:
    """``(column, "op.value")`` for one filter."""
    if f.op == "in":
        return f.column, "in.(" + ",".join(quote_list_item(v, f.column) for v in f.value) + ")"
    if f.op in ("cs", "ov"):
        return f.column, f"{f.op}.{_checked(array_literal(_as_list(f.value)), f.column)}"
    if f.op == "is":
        keyword = {None: "null", True: "true", False: "false"}[f.value]
        return f.column, f"is.{keyword}"
    # pSingleVal (QueryParams.hs) takes the rest of the parameter as it is: no quoting needed.
    return f.column, f"{f.op}.{_checked(format_value(f.value), f.column)}"


def keyset_param(order: Sequence[Order], after: Keyset) -> tuple[str, str]:
    """``or=(a.lt.x,and(a.eq.x,id.lt.y))``: rows strictly after ``after``, per-column direction respected."""
    alternatives: list[str] = []
    for i, key in enumerate(order):
        terms = [
            f"{prev.column}.eq.{quote_list_item(v, 'cursor')}"
            for prev, v in zip(order[:i], after.values[:i], strict=True)
        ]
        op = "lt" if key.descending else "gt"
        terms.append(f"{key.column}.{op}.{quote_list_item(after.values[i], 'cursor')}")
        alternatives.append(terms[0] if len(terms) == 1 else "and(" + ",".join(terms) + ")")
    return "or", "(" + ",".join(alternatives) + ")"


def order_param(order: Sequence[Order]) -> tuple[str, str]:
    """``order=a.desc,id.desc``."""
    return "order", ",".join(f"{o.column}.{'desc' if o.descending else 'asc'}" for o in order)


def _filters(filters: Sequence[Filter]) -> list[tuple[str, str]]:
    return [filter_param(f) for f in filters]


def _fallback(value: Any) -> Any:
    # numpy arrays (vectors of a bulk insert) and scalars: their plain Python form.
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot send a {type(value).__name__} as JSON")


def encode_json(value: Any) -> bytes:
    """A JSON body; UUIDs, datetimes and dates become their text forms, numpy arrays JSON arrays."""
    return to_json(value, fallback=_fallback)


# -- requests ---------------------------------------------------------------------------------------------


def _table_path(table: str) -> str:
    return f"{REST_PREFIX}/{table}"


def select_request(query: Query) -> Request:
    """``GET /rest/v1/<table>?select=...&<filters>&or=(<keyset>)&order=...&limit=n``."""
    params = [("select", ",".join(query.columns))]
    params += _filters(query.filters)
    if query.after is not None:
        params.append(keyset_param(query.order, query.after))
    if query.order:
        params.append(order_param(query.order))
    if query.limit is not None:
        params.append(("limit", str(query.limit)))
    return Request("GET", _table_path(query.table), params)


def count_request(query: Query) -> Request:
    """``HEAD`` with ``Prefer: count=exact``: the total comes back in ``Content-Range``, with no body."""
    params = [("select", "id"), *_filters(query.filters)]
    return Request("HEAD", _table_path(query.table), params, {"Prefer": "count=exact"})


def insert_request(op: Insert) -> Request:
    """``POST`` with ``on_conflict=id`` and ``resolution=ignore-duplicates``: a retried insert is a no-op.

    ``columns`` names the union of the rows' keys and ``missing=default`` gives a key a row leaves out its
    column default (as the SQL backend writes ``default``), so rows of one batch may differ in their keys.
    """
    columns = sorted({c for row in op.rows for c in row})
    params = [("on_conflict", "id"), ("columns", ",".join(columns)), ("select", ",".join(op.returning))]
    headers = {
        "Prefer": "return=representation,resolution=ignore-duplicates,missing=default",
        "Content-Type": "application/json",
    }
    return Request("POST", _table_path(op.table), params, headers, encode_json([dict(r) for r in op.rows]))


def readback_request(table: str, ids: Sequence[Any], returning: Sequence[str]) -> Request:
    """Rows an earlier attempt of a retried insert already wrote, read back by id (one request: see
    :func:`readback_requests` for lists of any length)."""
    return select_request(Query(table, tuple(returning), (Filter("id", "in", list(ids)),)))


def query_length(params: Iterable[tuple[str, str]]) -> int:
    """Bytes of the query string httpx sends for ``params`` (it encodes them as ``quote_plus`` does)."""
    return sum(len(urllib.parse.quote_plus(k)) + len(urllib.parse.quote_plus(v)) + 2 for k, v in params)


def chunk_in_list(
    values: Sequence[Any], fixed: int, *, budget: int = QUERY_BUDGET, most: int
) -> list[list[Any]]:
    """``values`` split into runs whose ``in.(...)`` list fits in ``budget`` bytes of query string beside
    ``fixed`` bytes of other parameters, and holds at most ``most`` values (the server's max-rows, so that a
    read-back of one run can never be capped)."""
    chunks: list[list[Any]] = []
    current: list[Any] = []
    used = fixed + len("in.()") + 2
    for value in values:
        # Each element costs its encoded, quoted form plus an encoded comma (%2C).
        cost = len(urllib.parse.quote_plus(quote_list_item(value, "id"))) + 3
        if current and (used + cost > budget or len(current) >= most):
            chunks.append(current)
            current, used = [], fixed + len("in.()") + 2
        current.append(value)
        used += cost
    if current:
        chunks.append(current)
    return chunks


def readback_requests(
    table: str, ids: Sequence[Any], returning: Sequence[str], *, max_rows: int | None = DEFAULT_MAX_ROWS
) -> list[Request]:
    """The read-back of ``ids`` as requests whose URLs stay under 8 KB and whose answers max-rows cannot
    cut (each asks for at most ``max_rows`` ids, and an id matches at most one row)."""
    fixed = query_length([("select", ",".join(returning))]) + len("id")
    most = max_rows if max_rows is not None else len(ids) or 1
    return [readback_request(table, chunk, returning) for chunk in chunk_in_list(ids, fixed, most=most)]


def update_request(op: Update) -> Request:
    """``PATCH`` with the filters and ``Prefer: return=representation``."""
    params = [("select", ",".join(op.returning)), *_filters(op.filters)]
    headers = {"Prefer": "return=representation", "Content-Type": "application/json"}
    return Request("PATCH", _table_path(op.table), params, headers, encode_json(dict(op.values)))


def delete_request(op: Delete) -> Request:
    """``DELETE`` with the filters and ``Prefer: return=representation``."""
    params = [("select", ",".join(op.returning)), *_filters(op.filters)]
    return Request("DELETE", _table_path(op.table), params, {"Prefer": "return=representation"})


def rpc_request(op: Rpc) -> Request:
    """``POST /rest/v1/rpc/<function>`` with the named arguments as a JSON object.

    PostgREST reads the parameter types from the function's signature; of ``op.casts`` only
    :data:`~.base.VECTOR_CAST` matters here: a vector given as floats is sent as pgvector's text form.
    """
    args = dict(op.args)
    for name, cast in op.casts.items():
        value = args.get(name)
        if cast == VECTOR_CAST and value is not None and not isinstance(value, str):
            # Only a search passes floats here, and search needs numpy: so does vector_text.
            from ..embeddings.base import vector_text

            args[name] = vector_text(value)
    headers = {"Content-Type": "application/json"}
    return Request("POST", f"{REST_PREFIX}/rpc/{op.function}", [], headers, encode_json(args))


# -- responses --------------------------------------------------------------------------------------------


def parse_rows(content: bytes) -> list[dict[str, Any]]:
    """A JSON array of row objects (an object alone counts as one row; an empty body as none)."""
    if not content.strip():
        return []
    # pydantic_core's parser: faster than json.loads on a page of rows (benchmarks/client_overhead.py).
    # Caching only the keys: the values (UUIDs, timestamps) rarely repeat, so caching every string, the
    # default, costs more than it saves (~25% of the parse on 1,000 tool rows).
    data = from_json(content, cache_strings="keys")
    if isinstance(data, dict):
        return [data]
    if not isinstance(data, list):
        raise ServerError(f"expected rows (a JSON array) from the server, got {type(data).__name__}")
    return data


class RowTypes(Protocol):
    """How one table's rows are typed: what :func:`parse_table_rows` needs of the table's row factory
    (:class:`phase3_sdk.models._rows.RowFactory` has both). Passed in from above, so that this module
    needs neither the models nor the table list."""

    @property
    def json_decoder(self) -> msgspec.json.Decoder[list[dict[str, Any]]]:
        """Decodes a JSON array of rows into dicts of typed values (msgspec)."""
        ...

    def typed_dicts(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """JSON rows validated into dicts of typed values; raises the row model's ``ValidationError``."""
        ...


def parse_table_rows(content: bytes, types: RowTypes | None) -> list[dict[str, Any]]:
    """Rows of ``table`` with their values typed as psycopg types them (UUID, aware datetime, ...).

    ``types`` is the table's :class:`RowTypes` (its row factory). So a REST answer takes the same fast way
    into models as a Postgres one, and JSON is parsed once (msgspec, ``types.json_decoder``). What msgspec
    will not take (a single object, a value not of its column's type) is parsed as plain JSON and typed by
    pydantic instead, which raises the row model's own ``ValidationError`` if a value is wrong: the rows
    returned are always typed.
    Without ``types`` (a table the SDK does not know) the rows are plain JSON (:func:`parse_rows`).
    """
    if types is None:
        return parse_rows(content)
    if not content.strip():
        return []
    try:
        return types.json_decoder.decode(content)
    except msgspec.DecodeError:  # msgspec.ValidationError is one
        return types.typed_dicts(parse_rows(content))


def parse_rpc(content: bytes, returns: str) -> Any:
    """An RPC answer read as ``returns`` says: rows, one JSON value, or nothing."""
    if returns == "rows":
        return parse_rows(content)
    if returns == "scalar":
        return from_json(content) if content.strip() else None
    return None


_CONTENT_RANGE = re.compile(r"^\s*(?:\*|\d+-\d+)/(\d+|\*)\s*$")


def parse_count(content_range: str | None) -> int:
    """The total from ``Content-Range: 0-24/100`` or ``*/0``."""
    match = _CONTENT_RANGE.match(content_range or "")
    if not match or match.group(1) == "*":
        raise ServerError(f"the server sent no exact count (Content-Range: {content_range!r})")
    return int(match.group(1))


def rows_by_id(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Rows keyed by their ``id`` as text (JSON carries UUIDs as strings)."""
    return {str(row["id"]): dict(row) for row in rows}


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def _redact(text: str, secrets: Iterable[str | None]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    content: bytes,
    *,
    reason: str = "",
    secrets: Iterable[str | None] = (),
) -> Phase3Error:
    """The SDK error for a non-2xx answer (a 3xx included: PostgREST answers 300 for an ambiguous function).

    PostgREST's error JSON ``{code, message, details, hint}`` is mapped with
    :func:`~phase3_sdk.errors.classify` (the one retry classification, which the README renders as a
    table); :class:`RateLimitError` and :class:`TransientError` carry ``retry_after`` from the header. A
    body that is not PostgREST's JSON (a gateway's HTML page) still gives one readable line with the
    status. ``secrets`` are blanked out of anything taken from the body. The error keeps the request id
    (:func:`request_id`) and the whole body as text (``body``).
    """
    secrets = list(secrets)
    retry_after = parse_retry_after(headers.get("retry-after") or headers.get("Retry-After"))
    code: str | None = None
    details: str | None = None
    hint: str | None = None
    message = ""
    try:
        data = json.loads(content) if content.strip() else None
    except ValueError:
        data = None
    if isinstance(data, dict) and ("message" in data or "code" in data or "msg" in data or "error" in data):
        code = _text(data.get("code"))
        message = (
            _text(
                data.get("message") or data.get("msg") or data.get("error_description") or data.get("error")
            )
            or ""
        )
        details = _text(data.get("details"))
        hint = _text(data.get("hint"))
    else:
        first_line = (
            content.decode("utf-8", "replace").strip().splitlines()[0][:200] if content.strip() else ""
        )
        message = first_line
    label = f"HTTP {status}" + (f" {reason}" if reason else "")
    message = _redact(f"{label}: {message}" if message else label, secrets)
    details = _redact(details, secrets) if details else details
    hint = _redact(hint, secrets) if hint else hint
    if code is not None and not re.fullmatch(r"[0-9A-Z]{5}|PGRST[0-9A-Z]{3}", code):
        code = None  # a gateway's numeric or free-form code is not a SQLSTATE or PostgREST code
    kwargs: dict[str, Any] = {
        "code": code,
        "details": details,
        "hint": hint,
        "status": status,
        "request_id": request_id(headers),
        "body": _redact(content.decode("utf-8", "replace"), secrets) if content else None,
    }
    missing = missing_user_error(code, message, details)
    if missing is not None:
        missing.status = status
        missing.request_id = kwargs["request_id"]
        missing.body = kwargs["body"]
        return missing
    cls = classify(status, code)
    if issubclass(cls, TransientError):
        return cls(message, retry_after=retry_after, **kwargs)
    return cls(message, **kwargs)


#: Response headers naming the request, most specific first: Supabase's gateway, PostgREST or another
#: proxy, Cloudflare's ray id (Supabase's edge).
REQUEST_ID_HEADERS = ("sb-request-id", "x-request-id", "cf-ray")


def request_id(headers: Mapping[str, str]) -> str | None:
    """The server's id for a request, from the first of :data:`REQUEST_ID_HEADERS` it sent."""
    lowered = {key.lower(): value for key, value in headers.items()}
    for name in REQUEST_ID_HEADERS:
        value = lowered.get(name)
        if value:
            return value
    return None


#: httpx errors after which the request provably never reached the server: no connection was made, or
#: none was free in the pool (PoolTimeout: the request was never written).
_NEVER_SENT = ("ConnectError", "ConnectTimeout", "PoolTimeout")
#: httpx errors that mean the transport failed after the request may have been sent: repeated only for
#: idempotent calls.
_TRANSPORT_FAILED = (
    "ReadTimeout",
    "WriteTimeout",
    "TimeoutException",
    "ReadError",
    "WriteError",
    "NetworkError",
    "CloseError",
    "RemoteProtocolError",
)


#: HTTP/2's REFUSED_STREAM error code (RFC 9113, section 7).
_REFUSED_STREAM = 0x7


def _refused_stream(exc: BaseException) -> bool:
    # httpcore raises RemoteProtocolError(<h2 StreamReset>) when the server resets our stream, and httpx
    # re-raises it with the httpcore error as __cause__. REFUSED_STREAM (RFC 9113 8.7) means the server
    # did no processing of the stream. (A stream above a GOAWAY's last id never reaches us: httpcore
    # re-sends it on a new connection itself, as ConnectionNotAvailable.)
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for arg in (*current.args, current):
            error_code = getattr(arg, "error_code", None)
            if getattr(error_code, "name", None) == "REFUSED_STREAM" or "REFUSED_STREAM" in str(arg):
                return True
            if error_code == _REFUSED_STREAM and hasattr(arg, "stream_id"):
                return True
        current = current.__cause__ or current.__context__
    return False


def _connection_closed(text: str) -> bool:
    # h2's state machine, once the peer ended the connection (GOAWAY), refuses further events with a
    # ProtocolError naming the CLOSED state; httpcore sometimes lets it through as LocalProtocolError.
    return "ConnectionState.CLOSED" in text or "ConnectionTerminated" in text or "StreamClosed" in text


def is_http_stack_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from the HTTP stack (httpx, httpcore, h2, h11, hpack, hyperframe)."""
    module = type(exc).__module__.split(".")[0]
    return module in {"httpx", "httpcore", "h2", "h11", "hpack", "hyperframe"}


@dataclass(slots=True)
class SendProgress:
    """How far httpcore got in sending one request, from its ``trace`` extension events.

    httpcore reports ``<http11|http2>.send_request_headers.started`` (with the HTTP/2 stream id) and
    ``.send_request_body.complete`` for every attempt on a connection (it re-sends a request on a new
    connection itself when the old one is no longer available). A failure after events were seen but
    before the body was completely written means the server never had a whole request, so it cannot
    have acted on it. Without any event (a mocked transport), nothing is concluded.
    """

    seen: bool = False
    started: bool = False
    sent: bool = False
    http2: bool = False
    stream_id: int | None = None

    def observe(self, name: str, info: Mapping[str, Any]) -> None:
        """Record one trace event (the ``trace`` extension's callback calls this)."""
        self.seen = True
        if name.endswith("send_request_headers.started"):
            self.started, self.sent = True, False
            self.http2 = name.startswith("http2.")
            stream_id = info.get("stream_id")
            self.stream_id = stream_id if isinstance(stream_id, int) else None
        elif name.endswith("send_request_body.complete"):
            self.sent = True

    def unprocessed(self, exc: BaseException) -> bool:
        """Whether the failure ``exc`` proves that the server did not act on the request.

        HTTP/1.1: the request was never completely written (one request at a time per connection, so
        the trace is this request's own). HTTP/2: nothing of it was sent (no stream opened), or its stream
        is above the GOAWAY's last stream id. Not "not completely written" there: frames of all streams
        share one buffer, and another request's write may have flushed this one's END_STREAM already.
        """
        if not self.seen:
            return False
        if not self.started:
            return True
        if self.http2:
            return _above_goaway(exc, self.stream_id)
        return not self.sent


_LAST_STREAM_ID = re.compile(r"last_stream_id:(\d+)")


def _above_goaway(exc: BaseException, stream_id: int | None) -> bool:
    # RFC 9113 6.8: streams above a GOAWAY's last_stream_id were not processed by the server.
    if stream_id is None:
        return False
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for arg in (*current.args, current):
            last = getattr(arg, "last_stream_id", None)
            if last is None:
                match = _LAST_STREAM_ID.search(str(arg))
                last = int(match.group(1)) if match else None
            if isinstance(last, int) and stream_id > last:
                return True
        current = current.__cause__ or current.__context__
    return False


def error_from_transport(
    exc: BaseException, progress: SendProgress | None = None, *, inside_client: bool = False
) -> Phase3Error:
    """An exception of the HTTP stack (httpx, httpcore, h2, h11) as a typed SDK error.

    Timeouts are :class:`Phase3TimeoutError`, other broken connections :class:`Phase3ConnectionError`
    (both :class:`TransientError`):

    * never sent (connect refused or timed out, no pool connection): a transient error with
      ``unprocessed=True``, so any call may be repeated;
    * an HTTP/2 stream the server refused (REFUSED_STREAM): the same;
    * the connection failed after the request may have been sent (read/write errors and timeouts, the
      server closing or resetting the connection, h2's "connection closed" states):
      a transient error, repeated only for idempotent calls, unless ``progress`` shows that the
      request was never completely written, or that its HTTP/2 stream is above the GOAWAY's last
      stream id: then ``unprocessed`` and repeated for any call;
    * anything else (an invalid or over-long URL, a protocol violation on our side, an undecodable
      answer, too many redirects): :class:`RequestError`, never retried. An exception of another kind
      raised from inside the HTTP client (``inside_client``) counts as a broken connection.

    The message names the exception class and its text, never the request (which holds the keys).
    """
    kind = type(exc).__name__
    detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    names = {cls.__name__ for cls in type(exc).__mro__} if is_http_stack_error(exc) else set()
    if not names and inside_client:
        # Not an httpx/httpcore/h2 class, but raised by the HTTP client while it held the request (a
        # KeyError from httpcore's connection state): its connection broke under it.
        names = {"NetworkError"}
    timed_out = "Timeout" in kind
    what = "timed out" if timed_out else "failed"
    text = f"the request {what}: {kind}" + (f": {detail}" if detail else "")
    # Timeouts are Phase3TimeoutError and other broken connections Phase3ConnectionError; the code and
    # ``unprocessed`` (whether any call may be sent again) do not depend on the class.
    broken: type[TransientError] = Phase3TimeoutError if timed_out else Phase3ConnectionError
    if names & set(_NEVER_SENT):
        return broken(text, code="connection", unprocessed=True)
    if _refused_stream(exc):
        return Phase3ConnectionError(text, code="refused_stream", unprocessed=True)
    if names & set(_TRANSPORT_FAILED) or (names and _connection_closed(f"{kind}: {detail}")):
        unprocessed = progress is not None and progress.unprocessed(exc)
        return broken(text, code="timeout" if timed_out else "connection", unprocessed=unprocessed)
    return RequestError(text, code="http_client")


# -- the retry table (rendered into the README; tests/client/test_rest_retry_rules.py keeps them equal) --

#: Example answers, one per rule, with why each is treated so. The class and the retry columns are not
#: written here: :func:`retry_table` computes them with :func:`~phase3_sdk.errors.classify` and
#: :func:`error_from_transport`, the code that decides, so the table cannot drift from the behaviour.
_RETRY_EXAMPLES: tuple[tuple[int, str | None, str], ...] = (
    (429, None, "rate limited before anything ran; waits `Retry-After` (see below)"),
    (503, "PGRST000", "PostgREST could not connect to the database: the request never ran"),
    (503, "PGRST001", "the database connection broke during the request: it may have run"),
    (503, "PGRST002", "schema cache (re)loading (`Retry-After: 0`: backoff is used): never ran"),
    (504, "PGRST003", "no pool connection free in time: never ran"),
    (500, "40001", "serialization failure: the transaction was rolled back"),
    (500, "40P01", "deadlock: the transaction was rolled back"),
    (500, "55P03", "lock not available: rolled back"),
    (500, "57014", "statement timeout: rolled back"),
    (503, "57P01", "the server is shutting down: a new connection may succeed"),
    (503, "08006", "connection failure between PostgREST and the database"),
    (503, "53300", "too many connections: may pass"),
    (500, "53400", "configuration limit exceeded: the same request exceeds it again"),
    (500, "42P17", "infinite recursion in a policy: a schema bug"),
    (404, "42883", "class 42 (undefined function, column, ...): a schema or SDK mismatch"),
    (500, "21000", "class 21: more than one row returned by a subquery"),
    (500, "54001", "class 54: statement too complex"),
    (400, "2F005", "class 2F: function ended without RETURN"),
    (500, "P0004", "class P0: a PL/pgSQL assertion failed"),
    (400, "P0001", "RAISE EXCEPTION in a function: its message says what input was wrong"),
    (500, "PGRSTX00", "PostgREST could not decode the database's answer"),
    (500, "XX000", "any other SQLSTATE on a 5xx: the database answered; it answers the same again"),
    (300, "PGRST203", "ambiguous overloaded function: the schema must be fixed; never data"),
    (502, None, "a gateway's error page: the request may have run"),
    (520, None, "Cloudflare's unknown error in front of Supabase: may have run"),
    (500, None, "a 5xx without a code (a proxy's page): may have run"),
    (401, "PGRST301", "invalid JWT"),
    (401, "22023", "the JWT's role does not exist in the database"),
    (403, "42501", "RLS or a grant refused it"),
    (409, "23505", "unique violation"),
    (400, "PGRST100", "the query string did not parse"),
)

#: Failures without an answer, as httpx raises them (names only: this module does not import httpx).
_TRANSPORT_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("ConnectError", "the connection was never made: nothing was sent"),
    ("PoolTimeout", "no connection free in the client's pool: nothing was sent"),
    ("RemoteProtocolError: REFUSED_STREAM", "HTTP/2 stream refused: the server did no processing of it"),
    ("ReadTimeout", "sent, no answer in time: it may have run"),
    ("RemoteProtocolError", "the server closed the connection mid-answer: it may have run"),
    ("h2 ProtocolError: ConnectionState.CLOSED", "the HTTP/2 connection ended under the request"),
    ("InvalidURL", "a URL httpx cannot send: it would fail the same way again"),
    ("DecodingError", "an answer that cannot be decoded"),
)


@dataclass(frozen=True, slots=True)
class RetryRow:
    """One row of the README's retry table."""

    status: str
    code: str
    error: str
    idempotent: str
    not_idempotent: str
    why: str


def _verdict(error: Phase3Error, *, idempotent: bool) -> str:
    from ..retry import DEFAULT_RETRY  # the retry module imports errors only; no cycle at run time

    return "retried" if DEFAULT_RETRY.should_retry(error, idempotent=idempotent) else "raised"


def _transport_example(name: str) -> BaseException:
    kind, _, detail = name.partition(": ")
    kind = kind.removeprefix("h2 ")
    module = "h2.exceptions" if name.startswith("h2 ") else "httpx"
    cls: type[Exception] = type(kind, (Exception,), {"__module__": module})
    return cls(detail or kind)


def retry_table() -> list[RetryRow]:
    """The retry classification, one row per example answer or transport failure."""
    rows = []
    for status, code, why in _RETRY_EXAMPLES:
        err = error_from_response(status, {}, json.dumps({"code": code, "message": "x"}).encode())
        rows.append(
            RetryRow(
                str(status),
                code or "(none)",
                type(err).__name__,
                _verdict(err, idempotent=True),
                _verdict(err, idempotent=False),
                why,
            )
        )
    for name, why in _TRANSPORT_EXAMPLES:
        err = error_from_transport(_transport_example(name))
        rows.append(
            RetryRow(
                "(no answer)",
                name,
                type(err).__name__,
                _verdict(err, idempotent=True),
                _verdict(err, idempotent=False),
                why,
            )
        )
    return rows


def retry_table_markdown() -> str:
    """:func:`retry_table` as the Markdown table the README shows."""
    lines = [
        "| status | code / failure | error | idempotent call | RPC (not idempotent) | why |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in retry_table():
        lines.append(
            f"| {r.status} | `{r.code}` | {r.error} | {r.idempotent} | {r.not_idempotent} | {r.why} |"
        )
    return "\n".join(lines) + "\n"
