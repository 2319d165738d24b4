"""Unit tests of the two weaknesses the reliability suite found, at the depth they were fixed.

* ``check_db_url`` let a password holding both ``/`` and ``@`` through (it looked for a second ``@`` only
  before the first ``/``), and ``Phase3Client.connect`` did not check the URL at all: libpq then took
  part of the password for the host name, which the CLI printed and psycopg's pool logged.
* ``Identity.from_token`` verified the signature but not the audience: on a direct connection (where the
  SDK is the only verifier) a token the project's secret signed for another audience acted as that user.
"""

from __future__ import annotations

import time
import uuid
from urllib.parse import quote

import jwt
import pytest

from phase3_sdk import AuthError, ConfigurationError, Phase3Client
from phase3_sdk.config import check_db_url
from phase3_sdk.identity import Identity

SECRET = "a-test-secret-of-at-least-thirty-two-characters"


@pytest.mark.parametrize(
    "password",
    [
        "Zq9xWv/Kp7@Rt4",
        "Mm3Nn@Oo4/Pp5q",
        "Aa1Bb:Cc2@Dd3/Ee4",
        "Hunter2Alpha@Bravo7:Charlie9/Delta5",
        "Xy7Zz@Qw8Er",
    ],
)
def test_a_password_with_an_unescaped_at_or_slash_is_refused_without_repeating_it(password: str) -> None:
    url = f"postgresql://user:{password}@db.example.test:5432/postgres"
    with pytest.raises(ConfigurationError) as caught:
        check_db_url(url)
    assert "%40" in str(caught.value)
    for piece in password.replace("@", " ").replace("/", " ").replace(":", " ").split():
        assert piece not in str(caught.value)
    with pytest.raises(ConfigurationError):
        Phase3Client.connect(url)  # before any pool or connection exists
    escaped = f"postgresql://user:{quote(password, safe='')}@db.example.test:5432/postgres"
    assert check_db_url(escaped) == escaped


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://user:secret@db.example.test:5432/postgres",
        "postgresql://user@db.example.test/postgres?sslmode=require",
        "postgresql://postgres:@/phase3?host=/tmp/pgdata",
        "postgresql:///phase3",
    ],
)
def test_well_formed_urls_still_pass(url: str) -> None:
    assert check_db_url(url) == url


def _token(aud: object) -> str:
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "role": "authenticated", "iat": now, "exp": now + 600}
    if aud is not None:
        claims["aud"] = aud
    return jwt.encode(claims, SECRET, "HS256")


def test_a_verified_token_for_another_audience_is_refused() -> None:
    with pytest.raises(AuthError, match="audience"):
        Identity.from_token(_token("some-other-service"), jwt_secret=SECRET)
    with pytest.raises(AuthError, match="audience"):
        Identity.from_token(_token(["x", "y"]), jwt_secret=SECRET)


@pytest.mark.parametrize("aud", ["authenticated", ["authenticated", "other"], None])
def test_tokens_for_this_api_or_without_an_audience_are_accepted(aud: object) -> None:
    assert Identity.from_token(_token(aud), jwt_secret=SECRET).user_id is not None
