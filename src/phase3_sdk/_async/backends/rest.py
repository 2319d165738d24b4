"""The REST backend: PostgREST's HTTP protocol spoken directly over one shared ``httpx`` client.

All request building and response mapping is pure and lives in :mod:`phase3_sdk.backends.postgrest`; this
module only sends and receives.
"""

from __future__ import annotations

from typing import Any

import httpx

from ...backends import postgrest as pt
from ...backends.base import Delete, Insert, Query, Rpc, Update
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

    One ``httpx.AsyncClient`` (keep-alive, HTTP/2 where the server speaks it) serves every client derived
    from the root. Auth headers are built per request from the :class:`Identity` passed in and never stored
    on the shared client, so one user's token cannot leak into another's request.
    """

    #: Table rows are decoded straight into Python types (:func:`~phase3_sdk.backends.postgrest.
    #: parse_table_rows`), as psycopg types them; a value that is not the column's type stays JSON, fails the
    #: typed path's checks and is validated.
    typed_rows = True

    def __init__(
        self,
        url: str,
        *,
        anon_key: str | None,
        service_role_key: str | None,
        timeout: float,
        connect_timeout: float,
        http2: bool = True,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
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
        """Send one request under ``identity``; a non-2xx answer or a network failure raises an SDK error."""
        headers = {
            **request.headers,
            **pt.auth_headers(identity, anon_key=self._anon_key, service_role_key=self._service_role_key),
        }
        try:
            response = await self._http.request(
                request.method,
                self._url + request.path,
                params=tuple(request.params),
                headers=headers,
                content=request.content,
            )
        except httpx.TransportError as exc:
            # ``from None``: the httpx error holds the request, headers (and keys) included.
            raise pt.error_from_transport(exc) from None
        if response.status_code >= 400:
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
        return pt.parse_table_rows(response.content, query.table)

    async def count(self, query: Query, identity: Identity) -> int:
        """How many rows ``query`` matches (from ``Content-Range``)."""
        response = await self.send(pt.count_request(query), identity)
        return pt.parse_count(response.headers.get("content-range"))

    async def insert(self, op: Insert, identity: Identity) -> list[dict[str, Any]]:
        """Insert rows; rows an earlier attempt already wrote are read back by id instead of duplicated."""
        if not op.rows:
            return []
        response = await self.send(pt.insert_request(op), identity)
        written = pt.rows_by_id(pt.parse_table_rows(response.content, op.table))
        wanted = [str(row["id"]) for row in op.rows]
        missing = [i for i in wanted if i not in written]
        if missing:
            back = await self.send(pt.readback_request(op.table, missing, op.returning), identity)
            written.update(pt.rows_by_id(pt.parse_table_rows(back.content, op.table)))
        return [written[i] for i in wanted if i in written]

    async def update(self, op: Update, identity: Identity) -> list[dict[str, Any]]:
        """Update matching rows and return them."""
        response = await self.send(pt.update_request(op), identity)
        return pt.parse_table_rows(response.content, op.table)

    async def delete(self, op: Delete, identity: Identity) -> list[dict[str, Any]]:
        """Delete matching rows and return them."""
        response = await self.send(pt.delete_request(op), identity)
        return pt.parse_table_rows(response.content, op.table)

    async def rpc(self, op: Rpc, identity: Identity) -> Any:
        """Call a database function."""
        response = await self.send(pt.rpc_request(op), identity)
        return pt.parse_rpc(response.content, op.returns)

    async def aclose(self) -> None:
        """Close the HTTP client, unless it was handed in (then its owner closes it)."""
        if self._owns_http:
            await self._http.aclose()
