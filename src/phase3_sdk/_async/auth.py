"""``client.auth``: sign in through Supabase Auth (GoTrue) and get a user-scoped client that stays signed in.

GoTrue's password and refresh grants are two POSTs to ``/auth/v1/token``; they are sent here over the REST
backend's shared ``httpx`` client, and the answer is parsed into :class:`~phase3_sdk.models.auth.AuthSession`.
We do not drive ``supabase_auth``'s client: it opens its own HTTP client unless given one, keeps a session
store and refresh timers the SDK does not need (a refresh checked before each request is all a
user-scoped client needs), and its httpx cap (``<0.29``) made this package's install unresolvable for pip
23.2, the pip a fresh Python 3.11 venv carries.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import httpx
from pydantic import ValidationError

from .._flavour import AsyncLock
from ..backends import postgrest as pt
from ..backends.base import AsyncBackend, Delete, Insert, Query, Rpc, Update
from ..errors import AuthError, ConfigurationError, RateLimitError, TransientError
from ..identity import Identity
from ..models.auth import AuthSession
from ..retry import RetryPolicy
from .backends.rest import AsyncRestBackend
from .transport import AsyncTransport

#: The client type a sign-in hands back.
C = TypeVar("C")

#: Refresh this many seconds before the access token expires, so a request never leaves with a token
#: that dies in flight (clock skew between this host and the project included).
DEFAULT_REFRESH_MARGIN = 60.0


class AsyncSession:
    """A signed-in user's access and refresh tokens; :meth:`identity` refreshes them before they expire.

    One session belongs to one user-scoped client. Concurrent requests that find the token stale refresh
    it once (a lock), since GoTrue rotates the refresh token on every use.
    """

    def __init__(
        self,
        backend: AsyncRestBackend,
        session: AuthSession,
        *,
        jwt_secret: str | None = None,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
    ) -> None:
        self._backend = backend
        self._jwt_secret = jwt_secret
        self.refresh_margin = refresh_margin
        self._lock = AsyncLock()
        self._transport: AsyncTransport | None = None
        self._set(session)

    def _set(self, session: AuthSession) -> None:
        self._refresh_token = session.refresh_token
        self._expires_at = float(session.expires_at or (time.time() + session.expires_in))
        self._identity = Identity.from_token(session.access_token, jwt_secret=self._jwt_secret)
        if self._transport is not None:
            # The client's transport is its own (never shared), so its identity may be swapped: the
            # Identity values themselves stay immutable.
            self._transport.identity = self._identity

    def __repr__(self) -> str:
        user = str(self._identity.user_id)
        return f"{type(self).__name__}(user_id={user!r}, expires_at={self._expires_at:.0f})"

    @property
    def expires_at(self) -> float:
        """When the current access token expires (UNIX time)."""
        return self._expires_at

    @property
    def current(self) -> Identity:
        """The identity of the current access token, without refreshing."""
        return self._identity

    async def identity(self) -> Identity:
        """The identity to send now, refreshed first if the token expires within ``refresh_margin``."""
        if time.time() < self._expires_at - self.refresh_margin:
            return self._identity
        async with self._lock:
            # Another request may have refreshed while this one waited for the lock.
            if time.time() >= self._expires_at - self.refresh_margin:
                await self.refresh()
        return self._identity

    async def refresh(self) -> None:
        """Exchange the refresh token for a new session now."""
        self._set(await token_grant(self._backend, "refresh_token", {"refresh_token": self._refresh_token}))


async def token_grant(backend: AsyncRestBackend, grant_type: str, body: dict[str, Any]) -> AuthSession:
    """``POST /auth/v1/token?grant_type=...``: a new session, or :class:`AuthError` saying why not.

    Not retried: a refresh token is single-use, so repeating a refresh whose answer was lost could fail
    anyway, and a failed sign-in is the user's to retry.
    """
    if not backend.anon_key:
        raise ConfigurationError("signing in needs the project's anon (publishable) key as apikey")
    try:
        response = await backend.http.post(
            f"{backend.url}/auth/v1/token",
            params={"grant_type": grant_type},
            json=body,
            headers={"apikey": backend.anon_key},
        )
    except httpx.TransportError as exc:
        raise pt.error_from_transport(exc) from None
    secrets = (backend.anon_key, body.get("password"), body.get("refresh_token"))
    if response.status_code >= 400:
        error = pt.error_from_response(
            response.status_code,
            response.headers,
            response.content,
            reason=response.reason_phrase,
            secrets=secrets,
        )
        if isinstance(error, RateLimitError | TransientError):
            raise error
        # GoTrue answers 400 {"code": 400, "error_code": "invalid_credentials", "msg": ...} for bad
        # credentials and an invalid or reused refresh token: an auth failure, whatever the status says.
        try:
            error_code = response.json().get("error_code")
        except ValueError:
            error_code = None
        raise AuthError(
            f"{'sign-in' if grant_type == 'password' else 'token refresh'} failed: {error.message}",
            code=error_code if isinstance(error_code, str) else None,
            status=response.status_code,
        )
    try:
        return AuthSession.model_validate_json(response.content)
    except ValidationError:
        raise AuthError("Supabase Auth answered without a session (is the email confirmed?)") from None


class _SessionBackend:
    """A backend that sends each request under the session's current (refreshed) identity."""

    def __init__(self, inner: AsyncBackend, session: AsyncSession) -> None:
        self._inner = inner
        self._session = session

    @property
    def typed_rows(self) -> bool:
        """What the wrapped backend says: its rows are the ones that come back (see ``AsyncBackend``)."""
        return self._inner.typed_rows

    @property
    def max_rows(self) -> int | None:
        """The wrapped backend's cap on the rows of one read (PostgREST's max-rows), if any."""
        return self._inner.max_rows

    @property
    def bulk_copy(self) -> bool:
        """Whether the wrapped backend sends bulk inserts with binary COPY."""
        return self._inner.bulk_copy

    @property
    def has_service_key(self) -> bool:
        """Never: a session acts for its signed-in user only."""
        return False

    async def select(self, query: Query, identity: Identity) -> list[dict[str, Any]]:
        return await self._inner.select(query, await self._session.identity())

    async def count(self, query: Query, identity: Identity) -> int:
        return await self._inner.count(query, await self._session.identity())

    async def insert(self, op: Insert, identity: Identity) -> list[dict[str, Any]]:
        return await self._inner.insert(op, await self._session.identity())

    async def update(self, op: Update, identity: Identity) -> list[dict[str, Any]]:
        return await self._inner.update(op, await self._session.identity())

    async def delete(self, op: Delete, identity: Identity) -> list[dict[str, Any]]:
        return await self._inner.delete(op, await self._session.identity())

    async def rpc(self, op: Rpc, identity: Identity) -> Any:
        return await self._inner.rpc(op, await self._session.identity())

    async def aclose(self) -> None:
        """Nothing to close: the root client owns the HTTP client."""


class AsyncAuth(Generic[C]):
    """Sign-in helpers of a REST client (``client.auth``).

    Generic in the client type it hands back, which the client supplies as ``signed_in`` (a new client
    on a transport, holding its session): this module never imports the client, which imports it.
    """

    def __init__(
        self,
        backend: AsyncBackend,
        retry: RetryPolicy,
        signed_in: Callable[[AsyncTransport, AsyncSession], C],
        *,
        jwt_secret: str | None = None,
        session: AsyncSession | None = None,
    ) -> None:
        self._backend_any = backend
        self._retry = retry
        self._signed_in = signed_in
        self._jwt_secret = jwt_secret
        self._session = session

    @property
    def session(self) -> AsyncSession | None:
        """The session of a client returned by a sign-in helper (None on other clients)."""
        return self._session

    def _backend(self) -> AsyncRestBackend:
        backend = self._backend_any
        if not isinstance(backend, AsyncRestBackend):
            raise ConfigurationError(
                "signing in needs a Supabase URL (a REST client); use as_user() on a database client"
            )
        return backend

    async def sign_in_with_password(
        self, email: str, password: str, *, refresh_margin: float = DEFAULT_REFRESH_MARGIN
    ) -> C:
        """Sign a user in and return a client acting for them, which refreshes its token before it expires.

        Raises :class:`AuthError` for wrong credentials. The password is sent once and never kept.
        """
        backend = self._backend()
        grant = await token_grant(backend, "password", {"email": email, "password": password})
        session = AsyncSession(backend, grant, jwt_secret=self._jwt_secret, refresh_margin=refresh_margin)
        transport = AsyncTransport(_SessionBackend(backend, session), session.current, self._retry)
        session._transport = transport
        return self._signed_in(transport, session)
