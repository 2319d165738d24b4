"""Who a client acts for: anon, a signed-in user (JWT claims), or the service role.

An :class:`Identity` is an immutable value. Backends read it per request, so clients that share a
connection pool never share mutable auth state (the identity-leak class of supabase-py#828).
"""

from __future__ import annotations

import inspect
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

from .errors import AuthError, ConfigurationError

if TYPE_CHECKING:
    # Imported inside the functions that use it: PyJWT loads cryptography (about 0.1 s), which an app
    # that never verifies or mints a token should not pay for at import.
    import jwt

Role = Literal["anon", "authenticated", "service_role"]

#: Lifetime of a token minted by :func:`mint_user_token` when none is given.
DEFAULT_MINTED_TOKEN_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class Identity:
    """The role and JWT claims a request runs under.

    ``access_token`` is the bearer token the REST backend sends (None for the service role and anon,
    which use the project keys). The Postgres backend uses ``role`` and ``claims`` directly.
    """

    role: Role
    claims: Mapping[str, Any] = field(default_factory=dict)
    access_token: str | None = field(default=None, repr=False)

    @property
    def user_id(self) -> UUID | None:
        """The user this identity acts for (the JWT's ``sub``), if any."""
        sub = self.claims.get("sub")
        return UUID(str(sub)) if sub else None

    @property
    def expires_at(self) -> float | None:
        """The token's expiry as a UNIX time, if it has one."""
        exp = self.claims.get("exp")
        return float(exp) if exp is not None else None

    def claims_json(self) -> str:
        """The claims as PostgREST puts them in ``request.jwt.claims``."""
        return json.dumps(dict(self.claims), separators=(",", ":"), default=str)

    @classmethod
    def anon(cls) -> Identity:
        """No user: what a browser sees with only the anon key."""
        return cls(role="anon", claims={"role": "anon"})

    @classmethod
    def service(cls) -> Identity:
        """The service role: bypasses RLS. Only ever chosen explicitly."""
        return cls(role="service_role", claims={"role": "service_role"})

    @classmethod
    def for_user(
        cls, user_id: UUID | str, *, access_token: str | None = None, email: str | None = None
    ) -> Identity:
        """A signed-in user, as trusted server code asserts it (no token needed on a direct connection)."""
        try:
            uid = UUID(str(user_id))
        except ValueError as exc:
            raise ConfigurationError(f"user_id must be a UUID, got {user_id!r}") from exc
        claims: dict[str, Any] = {"sub": str(uid), "role": "authenticated", "aud": "authenticated"}
        if email:
            claims["email"] = email
        return cls(role="authenticated", claims=claims, access_token=access_token)

    @classmethod
    def from_token(
        cls,
        access_token: str,
        *,
        jwt_secret: str | None = None,
        jwks: JwksKeys | None = None,
        leeway: float = 0,
    ) -> Identity:
        """The identity a user's access token carries.

        With ``jwt_secret`` or ``jwks`` the signature is verified (the client insists on one of them for a
        direct database connection): an HS256 token with the secret, an ES256/RS256 token (Supabase's
        asymmetric signing keys) with the project's published keys. Without either the claims are only
        read, which is right only where the server verifies the token itself, as PostgREST does for the
        REST backend. ``leeway`` is seconds of clock skew allowed.
        """
        import jwt

        try:
            if jwt_secret is None and jwks is None:
                claims = _decode(access_token, None)
            else:
                claims = _verify(access_token, jwt_secret, jwks)
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("the access token has expired") from exc
        except jwt.PyJWTError as exc:
            raise AuthError(f"the access token is not a valid JWT: {exc}") from exc
        if not claims.get("sub"):
            raise AuthError("the access token has no 'sub' claim: it does not name a user")
        if jwt_secret is not None or jwks is not None:
            # Where the SDK verifies the token (a direct connection: nothing else will), it must also be a
            # token for this API. A token the project's secret signed for another audience is not a user's
            # session, and a direct connection would otherwise act on whatever user it names.
            _check_audience(claims)
        exp = claims.get("exp")
        if exp is not None and float(exp) < time.time() - leeway:
            raise AuthError("the access token has expired")
        role = claims.get("role", "authenticated")
        if role not in ("authenticated", "anon"):
            # A service-role token passed as a "user" token would silently bypass RLS.
            raise AuthError(f"as_user() needs a user's token; this one has role {role!r}")
        return cls(role="authenticated", claims=claims, access_token=access_token)


#: The audience Supabase Auth writes into every user's access token.
USER_AUDIENCE = "authenticated"


def _check_audience(claims: Mapping[str, Any]) -> None:
    """Refuse a verified token whose ``aud`` names other audiences only (a missing ``aud`` is accepted,
    as PostgREST accepts it)."""
    aud = claims.get("aud")
    if aud is None:
        return
    audiences = [aud] if isinstance(aud, str) else list(aud) if isinstance(aud, list) else [aud]
    if USER_AUDIENCE not in audiences:
        raise AuthError(
            f"the access token is for audience {aud!r}, not {USER_AUDIENCE!r}: not a user session"
        )


@lru_cache(maxsize=4096)
def _decode(access_token: str, jwt_secret: str | None) -> Mapping[str, Any]:
    # A web server makes a client per request, mostly for tokens it has seen before: verifying an HS256
    # signature costs ~50 us, a cache hit ~1 us. Only successful decodes are cached (lru_cache does not
    # keep exceptions), and expiry is checked by the caller on every use, so a cached token still expires.
    import jwt

    if jwt_secret:
        claims = jwt.decode(
            access_token,
            jwt_secret,
            algorithms=["HS256"],
            options={"verify_aud": False, "verify_exp": False},
        )
    else:
        claims = jwt.decode(access_token, options={"verify_signature": False, "verify_exp": False})
    return MappingProxyType(claims)


#: Asymmetric algorithms verified against the JWKS; HS256 is verified with the JWT secret only, so a token
#: can never pick the kind of key it is checked with (the algorithm-confusion attack).
_ASYMMETRIC = ("ES256", "RS256")


def _verify(access_token: str, jwt_secret: str | None, jwks: JwksKeys | None) -> Mapping[str, Any]:
    """Verified claims of a user token, by the algorithm its header names."""
    import jwt

    alg = jwt.get_unverified_header(access_token).get("alg")
    if alg == "HS256":
        if jwt_secret is None:
            raise AuthError(
                "this access token is signed with the project's JWT secret (HS256), which this client was "
                "not given (SUPABASE_JWT_SECRET)"
            )
        return _decode(access_token, jwt_secret)
    if alg not in _ASYMMETRIC:
        raise AuthError(f"access tokens signed with {alg!r} are not accepted (HS256, ES256 or RS256 are)")
    if jwks is None:
        raise AuthError(
            f"this access token is signed with one of the project's asymmetric keys ({alg}); verifying it "
            "needs the project URL (SUPABASE_URL), where its public keys are published"
        )
    return _decode_with(access_token, jwks.key_for(access_token, alg))


@lru_cache(maxsize=4096)
def _decode_with(access_token: str, key: jwt.PyJWK) -> Mapping[str, Any]:
    # Cached as _decode is: an ES256 verification costs ~0.1 ms. The key is part of the cache key, so a
    # token is re-verified after the project's keys change.
    import jwt

    claims = jwt.decode(
        access_token,
        key.key,
        algorithms=[key.algorithm_name],
        options={"verify_aud": False, "verify_exp": False},
    )
    return MappingProxyType(claims)


class JwksKeys:
    """A project's public signing keys (``/auth/v1/.well-known/jwks.json``), fetched over httpx and cached.

    Keys are fetched on first use and again after ``max_age`` seconds; a token naming a key id not in the
    cache triggers one refetch (the project rotated its keys), at most once per ``min_refetch`` seconds so
    that a flood of tokens with made-up key ids cannot turn into a flood of requests.
    """

    def __init__(
        self,
        url: str,
        *,
        max_age: float = 600.0,
        min_refetch: float = 30.0,
        timeout: float = 10.0,
        fetch: Callable[[str, float], Mapping[str, Any]] | None = None,
    ) -> None:
        self.url = url
        self._max_age = max_age
        self._min_refetch = min_refetch
        self._timeout = timeout
        self._fetch = fetch or _fetch_jwks
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_project(cls, supabase_url: str, **kwargs: Any) -> JwksKeys:
        """The keys of the Supabase project at ``supabase_url``."""
        return cls(supabase_url.rstrip("/") + "/auth/v1/.well-known/jwks.json", **kwargs)

    def __repr__(self) -> str:
        return f"JwksKeys({self.url!r}, keys={len(self._keys)})"

    def key_for(self, access_token: str, alg: str) -> jwt.PyJWK:
        """The key that should have signed ``access_token``; :class:`AuthError` if there is none."""
        import jwt

        kid = jwt.get_unverified_header(access_token).get("kid")
        with self._lock:
            now = time.monotonic()
            stale = self._fetched_at is None or now - self._fetched_at > self._max_age
            unknown = kid not in self._keys and (
                self._fetched_at is None or now - self._fetched_at > self._min_refetch
            )
            if stale or unknown:
                self._refresh(now)
            key = self._keys.get(kid) if kid is not None else self._only_key(alg)
        if key is None:
            raise AuthError(f"the access token's key id {kid!r} is not among the project's signing keys")
        if key.algorithm_name != alg:
            raise AuthError(f"the access token says {alg} but its key is for {key.algorithm_name}")
        return key

    def _only_key(self, alg: str) -> jwt.PyJWK | None:
        # A token without a key id can only mean the one key of its algorithm, if there is exactly one.
        matching = [k for k in self._keys.values() if k.algorithm_name == alg]
        return matching[0] if len(matching) == 1 else None

    def _refresh(self, now: float) -> None:
        import jwt

        try:
            document = self._fetch(self.url, self._timeout)
            keys = jwt.PyJWKSet.from_dict(dict(document)).keys
        except (jwt.PyJWKSetError, jwt.PyJWKError, ValueError, TypeError) as exc:
            raise AuthError(f"the project's signing keys at {self.url} could not be read: {exc}") from exc
        self._keys = {str(k.key_id): k for k in keys if k.key_id is not None} or {
            str(i): k for i, k in enumerate(keys)
        }
        self._fetched_at = now


def _fetch_jwks(url: str, timeout: float) -> Mapping[str, Any]:
    """GET the JWKS document (httpx, so tests mock it at the HTTP boundary like every other request)."""
    import httpx

    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=True)
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise AuthError(f"could not fetch the project's signing keys from {url}: {exc}") from exc
    if not isinstance(document, dict):
        raise AuthError(f"the project's signing keys at {url} are not a JWKS document")
    return document


def mint_user_token(
    user_id: UUID | str,
    jwt_secret: str,
    *,
    expires_in: int = DEFAULT_MINTED_TOKEN_SECONDS,
    email: str | None = None,
) -> str:
    """Sign an HS256 access token for a user, as Supabase Auth would (for trusted server code)."""
    import jwt

    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": str(UUID(str(user_id))),
        "role": "authenticated",
        "aud": "authenticated",
        "iat": now,
        "exp": now + expires_in,
    }
    if email:
        claims["email"] = email
    return jwt.encode(claims, jwt_secret, algorithm="HS256")


def key_role(key: str) -> Role | None:
    """The role a Supabase project key grants: legacy keys are JWTs, new ones carry a prefix."""
    import jwt

    if key.startswith("sb_secret_"):
        return "service_role"
    if key.startswith("sb_publishable_"):
        return "anon"
    try:
        role = jwt.decode(key, options={"verify_signature": False}).get("role")
    except jwt.PyJWTError:
        return None
    return role if role in ("anon", "service_role", "authenticated") else None


def session_identity(session: Any, signed_out: Identity, client_name: str) -> Identity:
    """Who a supabase-py session is: its user (the token's claims; PostgREST verifies the signature), or
    ``signed_out`` when there is no session."""
    if inspect.isawaitable(session):
        if inspect.iscoroutine(session):
            session.close()  # never awaited here: close it rather than leave a warning behind
        raise ConfigurationError(
            f"this supabase client is asynchronous: use Async{client_name.removeprefix('Async')}"
            ".from_supabase() (awaited)"
        )
    token = getattr(session, "access_token", None) if session is not None else None
    if not token:
        return signed_out
    try:
        return Identity.from_token(str(token))
    except AuthError:
        # An expired or malformed session token: act signed out, so requests meet RLS as anon rather
        # than fail in a callback that supabase-py runs for its own reasons.
        return signed_out
