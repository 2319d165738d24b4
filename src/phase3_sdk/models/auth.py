"""The session that Supabase Auth (GoTrue) answers a token grant with: only the fields the SDK reads."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class AuthSession(BaseModel):
    """``POST /auth/v1/token`` answer: the tokens and when the access token expires.

    GoTrue sends more (``user``, ``token_type``, provider tokens); they are ignored rather than modelled,
    so a field GoTrue adds or changes cannot make a sign-in fail.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    access_token: str
    refresh_token: str
    #: Seconds the access token lives, counted from when it was issued.
    expires_in: int
    #: UNIX time the access token expires; GoTrue sends it, older versions did not.
    expires_at: int | None = None
