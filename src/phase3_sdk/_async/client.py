"""``AsyncPhase3Client``: settings -> identity -> backend -> resources.

A root client owns its backend (one connection pool or one HTTP client). Clients derived from it with
:meth:`AsyncPhase3Client.as_user` or :meth:`AsyncPhase3Client.service` share that backend and differ only
in their immutable identity, so making one per web request costs a few attribute assignments.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING
from uuid import UUID

from ..backends.base import AsyncBackend
from ..config import Settings
from ..engine.registry import ToolRegistry
from ..errors import ConfigurationError
from ..identity import Identity, key_role, mint_user_token
from ..retry import DEFAULT_RETRY, RetryPolicy
from .backends.postgres import (
    DEFAULT_POOL_MAX,
    DEFAULT_POOL_MIN,
    DEFAULT_STATEMENT_TIMEOUT_MS,
    AsyncPostgresBackend,
)
from .resources.conversations import AsyncConversations
from .resources.skills import AsyncSkillExecutions, AsyncSkills
from .resources.synthesis import AsyncPatterns, AsyncRecommendations, AsyncSynthesisJobs
from .resources.tools import AsyncTools, AsyncToolUsageLog
from .transport import AsyncTransport

if TYPE_CHECKING:
    # Imported where used: search brings numpy, which a client doing plain CRUD should not pay for at
    # import; auth is imported the same way so that sign-in code loads only for apps that sign in.
    from ..embeddings import Embedder
    from .auth import AsyncAuth
    from .resources.search import AsyncSearch

#: Per-request timeout (seconds) for HTTP reads and the default statement timeout for SQL.
DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0


class _Shared:
    """State every client derived from one root shares: the backend and how to act for users."""

    __slots__ = ("backend", "embedder", "jwt_secret", "kind", "registry")

    def __init__(
        self, backend: AsyncBackend, kind: str, jwt_secret: str | None, embedder: Embedder | None = None
    ) -> None:
        self.backend = backend
        self.kind = kind
        self.jwt_secret = jwt_secret
        # search: turns query text into vectors (None: HashingEmbedder, offline and deterministic).
        self.embedder = embedder
        # Python tool handlers registered with ``client.tools.handler``; shared so that a handler
        # registered once serves every user-scoped client made from the same root.
        self.registry = ToolRegistry()


class AsyncPhase3Client:
    """The asyncio client. Use :meth:`connect` for a database URL, the constructor for a Supabase URL."""

    _shared: _Shared
    _transport: AsyncTransport
    _owner: bool

    def __init__(
        self,
        url: str | None = None,
        key: str | None = None,
        *,
        anon_key: str | None = None,
        jwt_secret: str | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        http2: bool = False,
        embedder: Embedder | None = None,
        max_rows: int | None = 1000,
    ) -> None:
        """A REST client for a Supabase project.

        ``key`` is the anon (publishable) key or the service-role (secret) key. A client made with the
        service key acts as the service role; give ``anon_key`` too so that ``as_user`` can send the anon
        key rather than the service key (a user-scoped client never sends the service key).

        ``http2=False`` (HTTP/1.1) is the default: HTTP/2 through a proxy that recycles connections with
        GOAWAY failed in-flight requests in ways that cannot be safely re-sent, and was slower (README).
        ``max_rows`` is the project's ``db-max-rows`` (Supabase's default is 1000): no read asks for
        more, so pages the server cuts are never taken for the last one. Give yours if it is lower.
        """
        if not url or not key:
            raise ConfigurationError(
                "a Supabase URL and key are required (or use AsyncPhase3Client.connect(db_url))"
            )
        role = key_role(key)
        if role is None:
            raise ConfigurationError(
                "the key is neither a Supabase anon/publishable key nor a service-role/secret key"
            )
        service_key = key if role == "service_role" else None
        public_key = anon_key or (key if role == "anon" else None)
        from .backends.rest import AsyncRestBackend

        backend = AsyncRestBackend(
            url,
            anon_key=public_key,
            service_role_key=service_key,
            timeout=timeout,
            connect_timeout=connect_timeout,
            http2=http2,
            max_rows=max_rows,
        )
        identity = Identity.service() if role == "service_role" else Identity.anon()
        self._init(
            _Shared(backend, "rest", jwt_secret, embedder),
            AsyncTransport(backend, identity, retry),
            owner=True,
        )

    def _init(self, shared: _Shared, transport: AsyncTransport, *, owner: bool) -> None:
        self._shared = shared
        self._transport = transport
        self._owner = owner

    @classmethod
    def _make(cls, shared: _Shared, transport: AsyncTransport, *, owner: bool) -> AsyncPhase3Client:
        client = cls.__new__(cls)
        client._init(shared, transport, owner=owner)
        return client

    @classmethod
    def connect(
        cls,
        db_url: str,
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        min_connections: int = DEFAULT_POOL_MIN,
        max_connections: int = DEFAULT_POOL_MAX,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        statement_timeout_ms: int | None = DEFAULT_STATEMENT_TIMEOUT_MS,
        jwt_secret: str | None = None,
        embedder: Embedder | None = None,
    ) -> AsyncPhase3Client:
        """A client on a direct PostgreSQL connection (psycopg 3 pool).

        A database URL is a privileged credential, so this client acts as the service role; use
        :meth:`as_user` to act for a user with RLS applied exactly as PostgREST applies it.
        """
        backend = AsyncPostgresBackend(
            db_url,
            min_size=min_connections,
            max_size=max_connections,
            connect_timeout=connect_timeout,
            statement_timeout_ms=statement_timeout_ms,
        )
        shared = _Shared(backend, "postgres", jwt_secret, embedder)
        return cls._make(shared, AsyncTransport(backend, Identity.service(), retry), owner=True)

    @classmethod
    def from_env(
        cls,
        env_file: str | Path | None = ".env",
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        embedder: Embedder | None = None,
    ) -> AsyncPhase3Client:
        """A client from ``SUPABASE_URL`` + a key, or else ``SUPABASE_DB_URL`` (env, then ``.env``)."""
        settings = Settings.from_env(env_file)
        return cls.from_settings(settings, retry=retry, embedder=embedder)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, retry: RetryPolicy = DEFAULT_RETRY, embedder: Embedder | None = None
    ) -> AsyncPhase3Client:
        """A client from :class:`~phase3_sdk.config.Settings`."""
        jwt_secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        anon = settings.anon_key.get_secret_value() if settings.anon_key else None
        service = settings.service_role_key.get_secret_value() if settings.service_role_key else None
        if settings.supabase_url and (anon or service):
            return cls(
                settings.supabase_url,
                service or anon,
                anon_key=anon,
                jwt_secret=jwt_secret,
                retry=retry,
                timeout=settings.timeout,
                connect_timeout=settings.connect_timeout,
                embedder=embedder,
            )
        if settings.db_url:
            return cls.connect(
                settings.db_url.get_secret_value(),
                retry=retry,
                connect_timeout=settings.connect_timeout,
                jwt_secret=jwt_secret,
                embedder=embedder,
            )
        raise ConfigurationError(
            "no connection settings: set SUPABASE_URL with SUPABASE_ANON_KEY or SUPABASE_SERVICE_ROLE_KEY, "
            "or SUPABASE_DB_URL (environment or .env)"
        )

    # -- identity ---------------------------------------------------------------------------------

    @property
    def identity(self) -> Identity:
        """Who this client acts for."""
        return self._transport.identity

    @property
    def user_id(self) -> UUID | None:
        """The user this client acts for, or None (anon or service role)."""
        return self._transport.identity.user_id

    @property
    def backend_kind(self) -> str:
        """``"rest"`` or ``"postgres"``."""
        return self._shared.kind

    def _derive(self, identity: Identity, retry: RetryPolicy | None = None) -> AsyncPhase3Client:
        transport = AsyncTransport(self._shared.backend, identity, retry or self._transport.retry)
        return self._make(self._shared, transport, owner=False)

    def as_user(
        self, access_token: str | None = None, *, user_id: UUID | str | None = None
    ) -> AsyncPhase3Client:
        """A client acting for one user, with RLS applied; rows it creates get that user's id.

        Give the user's ``access_token`` (its ``sub`` names the user), or, in trusted server code, a
        ``user_id``: on a database connection that is enough; over REST it needs ``SUPABASE_JWT_SECRET``
        to mint a token. No connection is opened and nothing is shared but the pool.
        """
        if (access_token is None) == (user_id is None):
            raise ConfigurationError("as_user() takes exactly one of access_token or user_id")
        if access_token is not None:
            if self._shared.kind == "postgres" and not self._shared.jwt_secret:
                # Over REST, PostgREST verifies the token. On a direct connection nothing else would, and
                # an unverified token lets anyone claim any user id.
                raise ConfigurationError(
                    "as_user(access_token) on a database connection needs jwt_secret (SUPABASE_JWT_SECRET) "
                    "to verify the token; trusted server code can pass user_id= instead"
                )
            identity = Identity.from_token(access_token, jwt_secret=self._shared.jwt_secret)
        elif self._shared.kind == "postgres":
            identity = Identity.for_user(user_id)  # type: ignore[arg-type]
        else:
            if not self._shared.jwt_secret:
                raise ConfigurationError(
                    "as_user(user_id=...) over REST needs SUPABASE_JWT_SECRET to mint a token; "
                    "pass access_token instead"
                )
            token = mint_user_token(user_id, self._shared.jwt_secret)  # type: ignore[arg-type]
            identity = Identity.for_user(user_id, access_token=token)  # type: ignore[arg-type]
        return self._derive(identity)

    def _as_identity(self, identity: Identity) -> AsyncPhase3Client:
        """A client for an identity built elsewhere (sign-in sessions, the synthesis worker)."""
        return self._derive(identity)

    def _transport_for_user(self, user_id: UUID) -> AsyncTransport:
        """How trusted workers act for a row's owner (a user id; a minted token over REST)."""
        return self.as_user(user_id=user_id)._transport

    def service(self) -> AsyncPhase3Client:
        """A client acting as the service role (RLS bypassed). Only for trusted server code.

        Over REST this needs the client to have been made with the service-role key.
        """
        if self._shared.kind == "rest" and not getattr(self._shared.backend, "has_service_key", False):
            raise ConfigurationError(
                "service() over REST needs the service-role key (SUPABASE_SERVICE_ROLE_KEY)"
            )
        return self._derive(Identity.service())

    def with_retry(self, retry: RetryPolicy) -> AsyncPhase3Client:
        """The same client with another retry policy (``RetryPolicy.none()`` switches retries off)."""
        return self._derive(self._transport.identity, retry)

    def __repr__(self) -> str:
        who = self.identity.role if self.user_id is None else f"user {self.user_id}"
        return f"{type(self).__name__}(backend={self._shared.kind!r}, acting_as={who!r})"

    # -- resources ---------------------------------------------------------------------------------

    @cached_property
    def tools(self) -> AsyncTools:
        """Custom tools: CRUD, Python handlers and single tool runs."""
        return AsyncTools(self._transport, self._shared.registry)

    @cached_property
    def tool_usage(self) -> AsyncToolUsageLog:
        """The log of tool calls."""
        return AsyncToolUsageLog(self._transport)

    @cached_property
    def skills(self) -> AsyncSkills:
        """Composite skills: CRUD, validation and durable execution."""
        return AsyncSkills(self._transport, self._shared.registry, self._transport_for_user)

    @cached_property
    def skill_executions(self) -> AsyncSkillExecutions:
        """The history of skill runs."""
        return AsyncSkillExecutions(self._transport)

    @cached_property
    def synthesis(self) -> AsyncSynthesisJobs:
        """Memory synthesis jobs."""
        return AsyncSynthesisJobs(self._transport, self._transport_for_user)

    @cached_property
    def patterns(self) -> AsyncPatterns:
        """Patterns detected by synthesis."""
        return AsyncPatterns(self._transport)

    @cached_property
    def recommendations(self) -> AsyncRecommendations:
        """Recommendations derived from patterns."""
        return AsyncRecommendations(self._transport)

    @cached_property
    def conversations(self) -> AsyncConversations:
        """Conversation memories."""
        return AsyncConversations(self._transport)

    @cached_property
    def search(self) -> AsyncSearch:
        """Semantic, full-text and hybrid search over the caller's memories."""
        from .resources.search import AsyncSearch

        return AsyncSearch(self._transport, self._shared.embedder)

    @cached_property
    def auth(self) -> AsyncAuth:
        """Sign-in helpers: ``client.auth.sign_in_with_password(email, password)`` gives a user's client."""
        from .auth import AsyncAuth

        return AsyncAuth(self)

    # -- lifecycle ---------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the pool or HTTP client. Derived clients leave it to their root."""
        if self._owner:
            await self._shared.backend.aclose()

    async def __aenter__(self) -> AsyncPhase3Client:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
