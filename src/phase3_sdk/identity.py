"""Who a client acts for: anon, a signed-in user (JWT claims), or the service role.

An :class:`Identity` is an immutable value. Backends read it per request, so clients that share a
connection pool never share mutable auth state (the identity-leak class of supabase-py#828).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Literal
from uuid import UUID

import jwt

from .errors import AuthError, ConfigurationError

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
    def from_token(cls, access_token: str, *, jwt_secret: str | None = None, leeway: float = 0) -> Identity:
        """The identity a user's access token carries.

        With ``jwt_secret`` the signature is verified (the client insists on it for a direct database
        connection). Without it the claims are only read, which is right only where the server verifies the
        token itself, as PostgREST does for the REST backend. ``leeway`` is seconds of clock skew allowed.
        """
        try:
            claims = _decode(access_token, jwt_secret)
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("the access token has expired") from exc
        except jwt.PyJWTError as exc:
            raise AuthError(f"the access token is not a valid JWT: {exc}") from exc
        if not claims.get("sub"):
            raise AuthError("the access token has no 'sub' claim: it does not name a user")
        exp = claims.get("exp")
        if exp is not None and float(exp) < time.time() - leeway:
            raise AuthError("the access token has expired")
        role = claims.get("role", "authenticated")
        if role not in ("authenticated", "anon"):
            # A service-role token passed as a "user" token would silently bypass RLS.
            raise AuthError(f"as_user() needs a user's token; this one has role {role!r}")
        return cls(role="authenticated", claims=claims, access_token=access_token)


@lru_cache(maxsize=4096)
def _decode(access_token: str, jwt_secret: str | None) -> Mapping[str, Any]:
    # A web server makes a client per request, mostly for tokens it has seen before: verifying an HS256
    # signature costs ~50 us, a cache hit ~1 us. Only successful decodes are cached (lru_cache does not
    # keep exceptions), and expiry is checked by the caller on every use, so a cached token still expires.
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


def mint_user_token(
    user_id: UUID | str,
    jwt_secret: str,
    *,
    expires_in: int = DEFAULT_MINTED_TOKEN_SECONDS,
    email: str | None = None,
) -> str:
    """Sign an HS256 access token for a user, as Supabase Auth would (for trusted server code)."""
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
    if key.startswith("sb_secret_"):
        return "service_role"
    if key.startswith("sb_publishable_"):
        return "anon"
    try:
        role = jwt.decode(key, options={"verify_signature": False}).get("role")
    except jwt.PyJWTError:
        return None
    return role if role in ("anon", "service_role", "authenticated") else None
