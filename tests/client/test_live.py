"""Against a real Supabase project: runs only when SUPABASE_URL and the keys are in the environment.

Needs SUPABASE_URL, SUPABASE_ANON_KEY, SUPABASE_SERVICE_ROLE_KEY and SUPABASE_JWT_SECRET (to act for a user
made here), on a project with this repository's migrations applied.
"""

from __future__ import annotations

import os
import uuid

import pytest

from phase3_sdk import NotFoundError, Phase3Client

NEEDED = (
    "SUPABASE_URL",
    "SUPABASE_ANON_KEY",
    "SUPABASE_SERVICE_ROLE_KEY",
    "SUPABASE_JWT_SECRET",
    "PHASE3_LIVE_USER_ID",
)

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not all(os.environ.get(n) for n in NEEDED), reason="live: set " + ", ".join(NEEDED)),
]


@pytest.fixture(scope="module")
def live() -> Phase3Client:
    client = Phase3Client(
        os.environ["SUPABASE_URL"],
        os.environ["SUPABASE_SERVICE_ROLE_KEY"],
        anon_key=os.environ["SUPABASE_ANON_KEY"],
        jwt_secret=os.environ["SUPABASE_JWT_SECRET"],
    )
    yield client
    client.close()


def test_live_tool_round_trip(live: Phase3Client) -> None:
    me = live.as_user(user_id=os.environ["PHASE3_LIVE_USER_ID"])
    tool = me.tools.create(name=f"live-{uuid.uuid4().hex[:8]}", code="return 1;")
    try:
        assert me.tools.get(tool.id) == tool
        assert me.tools.count(name=tool.name) == 1
        assert tool.id in {t.id for t in me.tools.list(name=tool.name)}
    finally:
        me.tools.delete(tool.id)
    with pytest.raises(NotFoundError):
        me.tools.get(tool.id)


def test_live_other_user_sees_nothing(live: Phase3Client) -> None:
    me = live.as_user(user_id=os.environ["PHASE3_LIVE_USER_ID"])
    stranger = live.as_user(user_id=uuid.uuid4())
    tool = me.tools.create(name=f"live-{uuid.uuid4().hex[:8]}", code="return 1;")
    try:
        with pytest.raises(NotFoundError):
            stranger.tools.get(tool.id)
    finally:
        me.tools.delete(tool.id)
