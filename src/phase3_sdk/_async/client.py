"""``AsyncPhase3Client``: settings -> identity -> backend -> resources.

A root client owns its backend (one connection pool or one HTTP client). Clients derived from it with
:meth:`AsyncPhase3Client.as_user` or :meth:`AsyncPhase3Client.service` share that backend and differ only
in their immutable identity, so making one per web request costs a few attribute assignments.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload
from uuid import UUID

from .. import _local
from .._deprecation import warn_deprecated
from .._flavour import async_run_blocking
from ..backends.base import (
    DEFAULT_POOL_MAX,
    DEFAULT_POOL_MIN,
    DEFAULT_STATEMENT_TIMEOUT_MS,
    AsyncBackend,
    RpcReturns,
)
from ..config import Settings, check_db_url
from ..engine.registry import ToolRegistry
from ..errors import ConfigurationError, NotFoundError, ServerError
from ..identity import Identity, JwksKeys, key_role, mint_user_token, session_identity
from ..retry import DEFAULT_RETRY, RetryPolicy
from ..schema.rpc import rpc_call
from .transport import AsyncTransport

if TYPE_CHECKING:
    # Imported where used, so that `import phase3_sdk` stays fast and needs only the base install: the
    # Postgres backend brings psycopg (the 'postgres' extra), search brings numpy, the resources bring
    # the models (pydantic classes take a while to build), auth loads only for apps that sign in.
    from pydantic import BaseModel

    from ..embeddings import Embedder
    from .auth import AsyncAuth, AsyncSession
    from .resources.app_tables import AsyncAppTable
    from .resources.conversations import AsyncConversations
    from .resources.search import AsyncSearch
    from .resources.skills import AsyncSkillExecutions, AsyncSkills
    from .resources.synthesis import AsyncPatterns, AsyncRecommendations, AsyncSynthesisJobs
    from .resources.tools import AsyncTools, AsyncToolUsageLog

#: Per-request timeout (seconds) for HTTP reads and the default statement timeout for SQL.
DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0

M = TypeVar("M", bound="BaseModel")


class _Shared:
    """State every client derived from one root shares: the backend and how to act for users."""

    __slots__ = ("backend", "embedder", "jwks", "jwt_secret", "kind", "local_url", "registry")

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
        # The superuser URL of the embedded database behind a client from local() (for local_user()).
        self.local_url: str | None = None
        # The project's published signing keys, for ES256/RS256 user tokens (fetched on first use).
        self.jwks: JwksKeys | None = None


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
                f"a Supabase URL and key are required (or use {type(self).__name__}.connect(db_url), or "
                f"{type(self).__name__}.local() for a local database)"
            )
        role = key_role(key)
        if role is None:
            raise ConfigurationError(
                "the key is neither a Supabase anon/publishable key nor a service-role/secret key"
            )
        service_key = key if role == "service_role" else None
        public_key = anon_key or (key if role == "anon" else None)
        # Imported here: the table list brings the models, which `import phase3_sdk` must not load.
        from ..schema.tables import ALL_TABLES
        from .backends.rest import AsyncRestBackend

        backend = AsyncRestBackend(
            url,
            anon_key=public_key,
            service_role_key=service_key,
            timeout=timeout,
            connect_timeout=connect_timeout,
            http2=http2,
            max_rows=max_rows,
            row_types={table.name: table.row_factory for table in ALL_TABLES},
        )
        identity = Identity.service() if role == "service_role" else Identity.anon()
        shared = _Shared(backend, "rest", jwt_secret, embedder)
        shared.jwks = JwksKeys.for_project(url)
        self._init(shared, AsyncTransport(backend, identity, retry), owner=True)

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
        supabase_url: str | None = None,
        embedder: Embedder | None = None,
    ) -> AsyncPhase3Client:
        """A client on a direct PostgreSQL connection (psycopg 3 pool).

        A database URL is a privileged credential, so this client acts as the service role; use
        :meth:`as_user` to act for a user with RLS applied exactly as PostgREST applies it. To verify
        users' access tokens, give ``jwt_secret`` (HS256 tokens) and/or ``supabase_url`` (ES256/RS256
        tokens, checked against the project's published keys).
        """
        from .backends.postgres import AsyncPostgresBackend

        if "://" in db_url:
            # A URL libpq would misread (an unescaped '@' or '/' in the password) fails here, naming no part
            # of it; libpq would take part of the password for the host and the pool would log it.
            db_url = check_db_url(db_url)
        backend = AsyncPostgresBackend(
            db_url,
            min_size=min_connections,
            max_size=max_connections,
            connect_timeout=connect_timeout,
            statement_timeout_ms=statement_timeout_ms,
        )
        shared = _Shared(backend, "postgres", jwt_secret, embedder)
        if supabase_url:
            shared.jwks = JwksKeys.for_project(supabase_url)
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
        if anon and key_role(anon) == "service_role":
            # SUPABASE_KEY holds whichever key an example put there: a service key must never be sent as
            # the anon key of a user's requests.
            service, anon = service or anon, None
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
                supabase_url=settings.supabase_url,
                embedder=embedder,
            )
        raise ConfigurationError(
            "no connection settings: set SUPABASE_URL with SUPABASE_ANON_KEY (or SUPABASE_KEY) or "
            "SUPABASE_SERVICE_ROLE_KEY, or SUPABASE_DB_URL (environment or .env); for a local database "
            f"with nothing to set up, use {cls.__name__}.local()"
        )

    @classmethod
    async def local(
        cls,
        path: str | Path = _local.DEFAULT_LOCAL_PATH,
        *,
        migrations_dir: str | Path | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        embedder: Embedder | None = None,
    ) -> AsyncPhase3Client:
        """A service client on the ``phase3 dev`` database: an embedded PostgreSQL with pgvector in
        ``path`` (default ``.phase3/dev``), started if it is not running, attached to if it is, with the
        Supabase shim and the migrations applied (the SDK's own unless ``migrations_dir`` is given).

        The server keeps running after this process ends, like ``phase3 dev up``; ``phase3 dev down``
        stops it. Use :meth:`local_user` for a user and its client.
        """
        url = await async_run_blocking(_local.start_local, path, migrations_dir)
        client = cls.connect(url, retry=retry, embedder=embedder)
        client._shared.local_url = url
        return client

    async def local_user(self, email: str) -> AsyncPhase3Client:
        """A client acting for the user with ``email`` in the local database (created if there is none).

        Only on a client from :meth:`local`: a real project's users sign up through Supabase Auth, and
        their clients come from :meth:`as_user` with their access token.
        """
        url = self._shared.local_url
        if url is None:
            raise ConfigurationError(
                f"local_user() works on a client from {type(self).__name__}.local(); on a real project "
                "users sign up through Supabase Auth: use as_user(access_token)"
            )
        user_id = await async_run_blocking(_local.local_user_id, url, email)
        return self.as_user(user_id=user_id)

    @classmethod
    async def from_supabase(
        cls,
        supabase: Any,
        *,
        jwt_secret: str | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 (the HTTP client's per-request timeout)
        http2: bool = True,
        embedder: Embedder | None = None,
    ) -> AsyncPhase3Client:
        """A REST client for the project a supabase-py client talks to, acting as it acts.

        Takes the supabase-py client's URL (a string or a URL object), key and current session: signed in,
        the client acts for that user; signed out, as its key's role. It then follows the supabase-py
        client's auth events (sign-in, token refresh, sign-out), so the token it sends is always the
        session's current one. supabase-py is not a dependency: any object with ``supabase_url``,
        ``supabase_key`` and ``auth`` (``get_session()``, ``on_auth_state_change()``) works.
        """
        url = getattr(supabase, "supabase_url", None)
        key = getattr(supabase, "supabase_key", None)
        auth = getattr(supabase, "auth", None)
        if not url or not key or auth is None or not hasattr(auth, "get_session"):
            raise ConfigurationError(
                f"from_supabase() takes a supabase-py client (supabase.create_client(url, key)); "
                f"got {type(supabase).__name__}"
            )
        client = cls(
            str(url).rstrip("/"),
            str(key),
            jwt_secret=jwt_secret,
            retry=retry,
            timeout=timeout,
            http2=http2,
            embedder=embedder,
        )
        signed_out = client._transport.identity
        pending = auth.get_session()
        session = await pending if inspect.isawaitable(pending) else pending
        transport = client._transport
        transport.identity = session_identity(session, signed_out, type(client).__name__)

        def follow(event: str, new_session: Any) -> None:
            # The transport is this client's alone (derived clients get their own), and resources read its
            # identity on every call: swapping it here is what makes a refreshed token take effect.
            transport.identity = session_identity(new_session, signed_out, type(client).__name__)

        if hasattr(auth, "on_auth_state_change"):
            auth.on_auth_state_change(follow)
        return client

    # -- the app's own functions -------------------------------------------------------------------

    async def rpc(
        self,
        name: str,
        args: Mapping[str, Any] | None = None,
        *,
        returns: RpcReturns = "rows",
        idempotent: bool = False,
    ) -> Any:
        """Call a function of the ``public`` schema with named arguments, as this client's identity.

        ``returns``: ``"rows"`` (a function returning a set: a list, as PostgREST sends it: objects for a
        table or composite type, plain values for a set of a scalar type, which includes a one-column
        ``returns table``), ``"scalar"`` (one value) or ``"none"``. Values are JSON values on both
        backends (UUIDs and times as strings). Errors are the SDK's typed errors on both backends. A
        call is retried on transient errors only if you say it is ``idempotent`` (a function may write).
        """
        op = rpc_call(name, args, returns)
        try:
            return await self._transport.rpc(op, idempotent=idempotent)
        except ServerError as exc:
            if exc.code != "42883":
                raise
            # What PostgREST answers with 404 (PGRST202): the same NotFoundError on a direct connection,
            # without Postgres' hint about casts, which misleads for a call by argument names.
            raise NotFoundError(
                f"no function public.{name}({', '.join(op.args)})",
                code=exc.code,
                hint="create it in a migration, or check its argument names (rpc() passes arguments by name)",
            ) from exc

    @overload
    def table(
        self, name: str, row: None = None, *, json_columns: Sequence[str] = ()
    ) -> AsyncAppTable[dict[str, Any]]: ...
    @overload
    def table(self, name: str, row: type[M], *, json_columns: Sequence[str] = ()) -> AsyncAppTable[M]: ...
    def table(
        self, name: str, row: type[M] | None = None, *, json_columns: Sequence[str] = ()
    ) -> AsyncAppTable[M] | AsyncAppTable[dict[str, Any]]:
        """One of the app's own tables in the ``public`` schema, which the SDK does not model.

        Rows come back as ``row`` (your pydantic model; its field names are the columns the SDK reads and
        writes, checked as plain identifiers) or, without one, as dicts of every column. It has ``get``,
        ``create``, ``create_many``, ``update``, ``delete``, ``list``, ``page`` and ``count``, run as this
        client's identity (RLS applies), with the same retries, on both backends. Fields holding mappings
        or models are JSON; name other jsonb columns in ``json_columns``. A bad name is an
        :class:`InvalidInputError` here, before any request.
        """
        from ..schema.app_tables import AppTableSpec
        from .resources.app_tables import AsyncAppTable

        return AsyncAppTable(self._transport, AppTableSpec.make(name, row, json_columns))

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

        Give the user's ``access_token`` (its ``sub`` names the user; on a direct connection it is verified:
        HS256 with the JWT secret, ES256/RS256 with the project's published keys, fetched once and cached),
        or, in trusted server code, a ``user_id``: on a database connection that is enough; over REST it
        needs ``SUPABASE_JWT_SECRET`` to mint a token. No connection is opened and nothing is shared but
        the pool.
        """
        if (access_token is None) == (user_id is None):
            raise ConfigurationError("as_user() takes exactly one of access_token or user_id")
        if access_token is not None:
            identity = self._token_identity(access_token)
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

    def _token_identity(self, access_token: str) -> Identity:
        shared = self._shared
        if shared.kind == "postgres":
            # Over REST, PostgREST verifies the token. On a direct connection nothing else would, and an
            # unverified token lets anyone claim any user id.
            if not shared.jwt_secret and shared.jwks is None:
                raise ConfigurationError(
                    "as_user(access_token) on a database connection verifies the token: give jwt_secret "
                    "(SUPABASE_JWT_SECRET) for HS256 tokens or supabase_url (SUPABASE_URL) for ES256/RS256 "
                    "ones; trusted server code can pass user_id= instead"
                )
            return Identity.from_token(access_token, jwt_secret=shared.jwt_secret, jwks=shared.jwks)
        if shared.jwt_secret:
            # A REST client given the secret checks tokens before sending them, whatever their algorithm.
            return Identity.from_token(access_token, jwt_secret=shared.jwt_secret, jwks=shared.jwks)
        return Identity.from_token(access_token)

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
        if self._shared.kind == "rest" and not self._shared.backend.has_service_key:
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
        from .resources.tools import AsyncTools

        return AsyncTools(self._transport, self._shared.registry)

    @cached_property
    def tool_usage(self) -> AsyncToolUsageLog:
        """The log of tool calls."""
        from .resources.tools import AsyncToolUsageLog

        return AsyncToolUsageLog(self._transport)

    @cached_property
    def skills(self) -> AsyncSkills:
        """Composite skills: CRUD, validation and durable execution."""
        from .resources.skills import AsyncSkills

        return AsyncSkills(self._transport, self._shared.registry, self._transport_for_user)

    @cached_property
    def skill_executions(self) -> AsyncSkillExecutions:
        """The history of skill runs."""
        from .resources.skills import AsyncSkillExecutions

        return AsyncSkillExecutions(self._transport)

    @cached_property
    def synthesis_jobs(self) -> AsyncSynthesisJobs:
        """Memory synthesis jobs: submit, wait for, list them, and run the worker that does them."""
        from .resources.synthesis import AsyncSynthesisJobs

        return AsyncSynthesisJobs(self._transport, self._transport_for_user)

    @property
    def synthesis(self) -> AsyncSynthesisJobs:
        """Deprecated (use :attr:`synthesis_jobs`): the jobs resource, under a name that did not say so."""
        warn_deprecated("client.synthesis", "client.synthesis_jobs")
        return self.synthesis_jobs

    @cached_property
    def patterns(self) -> AsyncPatterns:
        """Patterns detected by synthesis."""
        from .resources.synthesis import AsyncPatterns

        return AsyncPatterns(self._transport)

    @cached_property
    def recommendations(self) -> AsyncRecommendations:
        """Recommendations derived from patterns."""
        from .resources.synthesis import AsyncRecommendations

        return AsyncRecommendations(self._transport)

    @cached_property
    def conversations(self) -> AsyncConversations:
        """Conversation memories."""
        from .resources.conversations import AsyncConversations

        return AsyncConversations(self._transport, self._shared.embedder)

    @cached_property
    def search(self) -> AsyncSearch:
        """Semantic, full-text and hybrid search over the caller's memories."""
        from .resources.search import AsyncSearch

        return AsyncSearch(self._transport, self._shared.embedder)

    @cached_property
    def auth(self) -> AsyncAuth[AsyncPhase3Client]:
        """Sign-in helpers: ``client.auth.sign_in_with_password(email, password)`` gives a user's client."""
        from .auth import AsyncAuth

        return AsyncAuth(
            self._shared.backend, self._transport.retry, self._signed_in, jwt_secret=self._shared.jwt_secret
        )

    def _signed_in(self, transport: AsyncTransport, session: AsyncSession) -> AsyncPhase3Client:
        """A client acting through a signed-in user's session transport; its ``auth`` holds the session."""
        from .auth import AsyncAuth

        client = self._make(self._shared, transport, owner=False)
        client.__dict__["auth"] = AsyncAuth(  # fills the cached_property
            self._shared.backend,
            transport.retry,
            client._signed_in,
            jwt_secret=self._shared.jwt_secret,
            session=session,
        )
        return client

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
