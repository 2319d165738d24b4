"""The REST backend: PostgREST's HTTP protocol spoken directly over one shared ``httpx`` client.

All request building and response mapping is pure and lives in :mod:`phase3_sdk.backends.postgrest`; this
module only sends and receives.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from ...backends import postgrest as pt
from ...backends.base import Delete, Insert, Query, Rpc, Update
from ...errors import ConfigurationError, RequestError
from ...identity import Identity

#: Keep-alive pool of the shared HTTP client: enough for a busy web worker, small enough to be polite.
DEFAULT_MAX_CONNECTIONS = 100
DEFAULT_MAX_KEEPALIVE = 20


class AsyncRestBackend:
    """Runs the SDK's operations against a Supabase project's PostgREST (``{url}/rest/v1``).

    Why not the ``postgrest`` package's request builder: its ``execute()`` raises ``APIError`` built from
    the body alone, discarding the status and headers, so ``Retry-After`` is lost and a 429 cannot be told
    from a 503; and it runs its own retry loop, which would compound with the SDK's one retry policy
    (3 x 3 attempts). Here every request is one HTTP exchange and the transport decides about retries.

    One ``httpx.AsyncClient`` (keep-alive, HTTP/1.1 unless ``http2=True``) serves every client derived
    from the root. HTTP/1.1 is the default: behind a proxy that ends HTTP/2 connections with GOAWAY (nginx
    does after 1,000 streams), httpcore fails the streams in flight with errors that do not say whether
    the server acted on them, and it was slower on every measured shape (issue 15). Auth headers are
    built per request from the :class:`Identity` passed in and never stored on the shared client, so one
    user's token cannot leak into another's request.
    """

    #: Bulk inserts are one JSON POST: vectors go as pgvector's text form.
    bulk_copy = False

    def __init__(
        self,
        url: str,
        *,
        anon_key: str | None,
        service_role_key: str | None,
        timeout: float,
        connect_timeout: float,
        http2: bool = False,
        http_client: httpx.AsyncClient | None = None,
        max_rows: int | None = pt.DEFAULT_MAX_ROWS,
        row_types: Mapping[str, pt.RowTypes] | None = None,
    ) -> None:
        if max_rows is not None and (
            isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1
        ):
            raise ConfigurationError(f"max_rows must be a positive integer or None, got {max_rows!r}")
        #: The project's ``db-max-rows`` (Supabase: 1000): no read asks for more rows than this, so a page
        #: the server cut can always be told from the last one. Set it lower if the project's is lower.
        self.max_rows = max_rows
        # Table name -> how its rows are typed (the client passes every table's row factory): given from
        # above, so that the backend layer never imports the models or the table list.
        self._row_types = dict(row_types or {})
        self._url = url.rstrip("/")
        self._anon_key = anon_key
        self._service_role_key = service_role_key
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            http2=http2,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(
                max_connections=DEFAULT_MAX_CONNECTIONS, max_keepalive_connections=DEFAULT_MAX_KEEPALIVE
            ),
        )

    def __repr__(self) -> str:
        # Keys never appear here: only the URL and which keys are configured.
        return (
            f"{type(self).__name__}(url={self._url!r}, anon_key={'set' if self._anon_key else None}, "
            f"service_role_key={'set' if self._service_role_key else None})"
        )

    @property
    def url(self) -> str:
        """The project URL (no trailing slash)."""
        return self._url

    @property
    def typed_rows(self) -> bool:
        """Whether table rows come back typed: they are decoded straight into Python types
        (:func:`~phase3_sdk.backends.postgrest.parse_table_rows`) when the client gave the tables' row types;
        a value that is not the column's type stays JSON, fails the typed path's checks and is validated."""
        return bool(self._row_types)

    @property
    def has_service_key(self) -> bool:
        """Whether this backend may act as the service role (``client.service()`` checks it)."""
        return bool(self._service_role_key)

    @property
    def anon_key(self) -> str | None:
        """The anon (publishable) key, which Supabase Auth requests carry as ``apikey``."""
        return self._anon_key

    @property
    def http(self) -> httpx.AsyncClient:
        """The shared HTTP client (sign-in requests reuse its connections)."""
        return self._http

    def _secrets(self, identity: Identity) -> tuple[str | None, ...]:
        return (self._anon_key, self._service_role_key, identity.access_token)

    async def send(self, request: pt.Request, identity: Identity) -> httpx.Response:
        """Send one request under ``identity``.

        Any answer outside 2xx raises an SDK error (PostgREST answers 300 for an ambiguous function, and a
        3xx is never data); so does any failure of the HTTP stack (:func:`~phase3_sdk.backends.postgrest.
        error_from_transport`: retried only where the transport failed), and a URL over 8 KB is refused
        before it is sent.
        """
        headers = {
            **request.headers,
            **pt.auth_headers(identity, anon_key=self._anon_key, service_role_key=self._service_role_key),
        }
        progress = pt.SendProgress()

        async def trace(name: str, info: dict[str, Any]) -> None:
            # httpcore's trace extension: tells a request the server never received in full from one
            # it may have acted on (see SendProgress).
            progress.observe(name, info)

        try:
            http_request = self._http.build_request(
                request.method,
                self._url + request.path,
                params=tuple(request.params),
                headers=headers,
                content=request.content,
                extensions={"trace": trace},
            )
            size = len(str(http_request.url))
            if size > pt.MAX_URL_BYTES:
                raise RequestError(
                    f"the request URL would be {size} bytes; gateways in front of PostgREST refuse URLs "
                    f"over {pt.MAX_URL_BYTES} (a filter with too many or too long values?)",
                    code="url_too_long",
                )
            response = await self._http.send(http_request)
        except RequestError:
            raise
        except Exception as exc:
            # Only the HTTP client runs in this block (and ``trace``), so whatever it raises is a failure of
            # the HTTP stack, also a builtin one: httpcore's HTTP/2 connection shared by threads has been
            # seen to raise a bare KeyError under GOAWAY churn (tests/client/test_rest_goaway.py).
            # ``from None``: the httpx error holds the request, headers (and keys) included.
            raise pt.error_from_transport(exc, progress, inside_client=True) from None
        if not 200 <= response.status_code < 300:
            raise pt.error_from_response(
                response.status_code,
                response.headers,
                response.content,
                reason=response.reason_phrase,
                secrets=self._secrets(identity),
            )
        return response

    async def select(self, query: Query, identity: Identity) -> list[dict[str, Any]]:
        """Rows of ``query``."""
        response = await self.send(pt.select_request(query), identity)
        return pt.parse_table_rows(response.content, self._row_types.get(query.table))

    async def count(self, query: Query, identity: Identity) -> int:
        """How many rows ``query`` matches (from ``Content-Range``)."""
        response = await self.send(pt.count_request(query), identity)
        return pt.parse_count(response.headers.get("content-range"))

    async def insert(self, op: Insert, identity: Identity) -> list[dict[str, Any]]:
        """Insert rows; rows an earlier attempt already wrote are read back by id instead of duplicated."""
        if not op.rows:
            return []
        response = await self.send(pt.insert_request(op), identity)
        written = pt.rows_by_id(pt.parse_table_rows(response.content, self._row_types.get(op.table)))
        wanted = [str(row["id"]) for row in op.rows]
        missing = [i for i in wanted if i not in written]
        # Rows an earlier attempt (or an earlier import with the same ids) already stored: read back in
        # runs whose URLs stay under 8 KB and whose answers max-rows cannot cut.
        for read in pt.readback_requests(op.table, missing, op.returning, max_rows=self.max_rows):
            back = await self.send(read, identity)
            written.update(pt.rows_by_id(pt.parse_table_rows(back.content, self._row_types.get(op.table))))
        return [written[i] for i in wanted if i in written]

    async def update(self, op: Update, identity: Identity) -> list[dict[str, Any]]:
        """Update matching rows and return them."""
        response = await self.send(pt.update_request(op), identity)
        return pt.parse_table_rows(response.content, self._row_types.get(op.table))

    async def delete(self, op: Delete, identity: Identity) -> list[dict[str, Any]]:
        """Delete matching rows and return them."""
        response = await self.send(pt.delete_request(op), identity)
        return pt.parse_table_rows(response.content, self._row_types.get(op.table))

    async def rpc(self, op: Rpc, identity: Identity) -> Any:
        """Call a database function."""
        response = await self.send(pt.rpc_request(op), identity)
        return pt.parse_rpc(response.content, op.returns)

    async def aclose(self) -> None:
        """Close the HTTP client, unless it was handed in (then its owner closes it)."""
        if self._owns_http:
            await self._http.aclose()
