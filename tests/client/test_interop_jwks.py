"""``as_user(token)`` on a direct connection verifies ES256/RS256 tokens (Supabase's asymmetric signing
keys) against the project's JWKS, as well as HS256 ones with the JWT secret.

Keys are generated here; the JWKS endpoint is mocked with respx, answering as Supabase Auth publishes it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from phase3_sdk import Phase3Client
from phase3_sdk.errors import AuthError, ConfigurationError, NotFoundError

MakeUser = Callable[..., uuid.UUID]
PROJECT = "https://abcdefgh.supabase.co"
JWKS_URL = PROJECT + "/auth/v1/.well-known/jwks.json"
JWT_SECRET = "phase3-test-jwt-secret-at-least-32-characters"

EC_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ROTATED_KEY = ec.generate_private_key(ec.SECP256R1())


def public_jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = ECAlgorithm if alg == "ES256" else RSAAlgorithm
    jwk: dict[str, Any] = json.loads(algorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": alg, "use": "sig", "key_ops": ["verify"]}


def token(user_id: uuid.UUID, key: Any, kid: str | None, alg: str, **extra: Any) -> str:
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "role": "authenticated",
        "aud": "authenticated",
        "iat": now,
        "exp": now + 600,
    }
    headers = {"kid": kid} if kid else {}
    return jwt.encode({**claims, **extra}, key, algorithm=alg, headers=headers)


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@pytest.fixture
def jwks() -> Iterator[respx.Route]:
    keys = {"keys": [public_jwk(EC_KEY, "ec-1", "ES256"), public_jwk(RSA_KEY, "rsa-1", "RS256")]}
    with respx.mock(assert_all_called=False) as router:
        yield router.get(JWKS_URL).mock(return_value=httpx.Response(200, json=keys))


@pytest.fixture
def root(db_url: str) -> Iterator[Phase3Client]:
    with Phase3Client.connect(db_url, supabase_url=PROJECT, jwt_secret=JWT_SECRET) as client:
        yield client


@pytest.mark.parametrize(("key", "kid", "alg"), [(EC_KEY, "ec-1", "ES256"), (RSA_KEY, "rsa-1", "RS256")])
def test_an_asymmetric_token_is_verified_and_acts_for_its_user(
    root: Phase3Client, jwks: respx.Route, make_user: MakeUser, key: Any, kid: str, alg: str
) -> None:
    alice, bob = make_user(), make_user()
    as_alice = root.as_user(token(alice, key, kid, alg))
    assert as_alice.user_id == alice
    tool = as_alice.tools.create(name=f"mine-{alg}", code="return 1;")
    assert tool.user_id == alice
    with pytest.raises(NotFoundError):  # RLS: bob's verified token does not reach alice's row
        root.as_user(token(bob, key, kid, alg)).tools.get(tool.id)
    assert jwks.call_count == 1  # the keys were fetched once, then served from the cache


def test_hs256_tokens_still_verify_with_the_secret_and_fetch_nothing(
    root: Phase3Client, jwks: respx.Route, make_user: MakeUser
) -> None:
    user = make_user()
    assert root.as_user(token(user, JWT_SECRET, None, "HS256")).user_id == user
    assert jwks.call_count == 0


def test_a_forged_token_is_refused(root: Phase3Client, jwks: respx.Route, make_user: MakeUser) -> None:
    user = make_user()
    forged = token(user, ec.generate_private_key(ec.SECP256R1()), "ec-1", "ES256")  # right kid, wrong key
    with pytest.raises(AuthError, match="not a valid JWT"):
        root.as_user(forged)


def test_an_hs256_token_signed_with_the_public_key_is_refused(
    db_url: str, jwks: respx.Route, make_user: MakeUser
) -> None:
    """Algorithm confusion: the public key is public, so it must never serve as an HMAC secret."""
    pem = EC_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = {"sub": str(make_user()), "role": "authenticated", "exp": int(time.time()) + 600}
    # PyJWT refuses to sign this, rightly; an attacker would sign it by hand.
    signing_input = b".".join(
        _b64(json.dumps(part).encode()) for part in ({"alg": "HS256", "typ": "JWT", "kid": "ec-1"}, claims)
    )
    confused = (signing_input + b"." + _b64(hmac.new(pem, signing_input, hashlib.sha256).digest())).decode()
    with (
        Phase3Client.connect(db_url, supabase_url=PROJECT) as client,
        pytest.raises(AuthError, match="HS256"),
    ):
        client.as_user(confused)


def test_a_rotated_key_is_fetched_once_and_an_unknown_one_does_not_flood_the_endpoint(
    root: Phase3Client, jwks: respx.Route, make_user: MakeUser
) -> None:
    user = make_user()
    root.as_user(token(user, EC_KEY, "ec-1", "ES256"))
    assert jwks.call_count == 1
    rotated = {"keys": [public_jwk(EC_KEY, "ec-1", "ES256"), public_jwk(ROTATED_KEY, "ec-2", "ES256")]}
    jwks.mock(return_value=httpx.Response(200, json=rotated))
    # A new key id right after a fetch: within the refetch floor, so no request; refused for now.
    with pytest.raises(AuthError, match="'ec-2' is not among"):
        root.as_user(token(user, ROTATED_KEY, "ec-2", "ES256"))
    assert jwks.call_count == 1
    root._shared.jwks._fetched_at -= 60  # type: ignore[union-attr]  # (the floor is 30 s)
    assert root.as_user(token(user, ROTATED_KEY, "ec-2", "ES256")).user_id == user
    assert jwks.call_count == 2
    for _ in range(3):
        with pytest.raises(AuthError, match="'made-up' is not among"):
            root.as_user(token(user, ROTATED_KEY, "made-up", "ES256"))
    assert jwks.call_count == 2


def test_without_the_project_url_an_es256_token_says_what_is_missing(
    db_url: str, make_user: MakeUser
) -> None:
    es256 = token(make_user(), EC_KEY, "ec-1", "ES256")
    with (
        Phase3Client.connect(db_url, jwt_secret=JWT_SECRET) as client,
        pytest.raises(AuthError, match="SUPABASE_URL"),
    ):
        client.as_user(es256)
    with Phase3Client.connect(db_url) as client, pytest.raises(ConfigurationError, match="supabase_url"):
        client.as_user(es256)


def test_an_unreachable_jwks_is_an_auth_error_naming_the_url(db_url: str, make_user: MakeUser) -> None:
    with respx.mock() as router:
        router.get(JWKS_URL).mock(return_value=httpx.Response(503, text="unavailable"))
        with (
            Phase3Client.connect(db_url, supabase_url=PROJECT) as client,
            pytest.raises(AuthError, match=JWKS_URL),
        ):
            client.as_user(token(make_user(), EC_KEY, "ec-1", "ES256"))
