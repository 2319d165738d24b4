"""``Phase3Client.local()``: the embedded ``phase3 dev`` database in one call, and its users.

Each test here starts a real server in a temporary folder (as ``phase3 dev up`` would) and stops it at the
end, as ``phase3 dev down`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from phase3_sdk import AsyncPhase3Client, Phase3Client
from phase3_sdk.db.embedded import EmbeddedDatabase
from phase3_sdk.errors import ConfigurationError, InvalidInputError, NotFoundError


@pytest.fixture
def dev_path(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "dev"
    yield path
    if EmbeddedDatabase.running_url(path) is not None:
        EmbeddedDatabase(path, persistent=True).start().stop()


def test_local_starts_migrates_and_gives_users_their_own_rows(dev_path: Path) -> None:
    with Phase3Client.local(dev_path) as client:
        assert client.identity.role == "service_role"
        ada = client.local_user("ada@example.test")
        tool = ada.tools.create(name="double", code="return { result: params.x * 2 };")
        assert ada.tools.execute("double", {"x": 21}).output == {"result": 42}
        # The same email is the same user (a re-run notebook cell), another email another user under RLS.
        assert client.local_user("ADA@example.test").user_id == ada.user_id
        bob = client.local_user("bob@example.test")
        assert bob.user_id != ada.user_id
        with pytest.raises(NotFoundError):
            bob.tools.get(tool.id)
    # The server outlives the client, like `phase3 dev up`: a second call attaches and sees the data.
    assert EmbeddedDatabase.running_url(dev_path) is not None
    with Phase3Client.local(dev_path) as again:
        assert again.local_user("ada@example.test").tools.get(tool.id).name == "double"


async def test_async_local_is_awaited_and_attaches_to_the_same_database(dev_path: Path) -> None:
    async with await AsyncPhase3Client.local(dev_path) as client:
        me = await client.local_user("async@example.test")
        await me.tools.create(name="a", code="return 1;")
        assert await me.tools.count() == 1
    with Phase3Client.local(dev_path) as sync_client:
        assert sync_client.local_user("async@example.test").tools.count() == 1


def test_local_user_needs_a_local_client_and_an_email(db_url: str) -> None:
    with (
        Phase3Client.connect(db_url) as client,
        pytest.raises(ConfigurationError, match=r"Phase3Client\.local\(\)"),
    ):
        client.local_user("someone@example.test")


def test_local_user_rejects_what_is_not_an_email(dev_path: Path) -> None:
    with Phase3Client.local(dev_path) as client, pytest.raises(InvalidInputError, match="email"):
        client.local_user("not an email")


@pytest.mark.parametrize("cls", [Phase3Client, AsyncPhase3Client])
def test_from_env_with_nothing_set_says_how_to_get_a_client(
    cls: type[Phase3Client] | type[AsyncPhase3Client], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in (
        "SUPABASE_URL",
        "SUPABASE_ANON_KEY",
        "SUPABASE_KEY",
        "SUPABASE_SERVICE_ROLE_KEY",
        "SUPABASE_DB_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    with pytest.raises(ConfigurationError) as caught:
        cls.from_env()
    message = str(caught.value)
    assert "\n" not in message
    assert "SUPABASE_URL" in message
    assert "SUPABASE_DB_URL" in message
    assert f"{cls.__name__}.local()" in message


@pytest.mark.parametrize("cls", [Phase3Client, AsyncPhase3Client])
def test_a_client_without_settings_names_its_own_class(
    cls: type[Phase3Client] | type[AsyncPhase3Client],
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        cls()
    assert f"{cls.__name__}.connect(db_url)" in str(caught.value)
    assert f"{cls.__name__}.local()" in str(caught.value)
