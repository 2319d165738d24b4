from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from phase3_sdk.config import Settings
from phase3_sdk.errors import ConfigurationError


def test_env_file_is_read_without_touching_os_environ(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("SUPABASE_URL=https://x.supabase.co\nSUPABASE_ANON_KEY=anon-from-file\nPHASE3_TIMEOUT=5\n")
    settings = Settings.from_env(env, environ={})
    assert settings.supabase_url == "https://x.supabase.co"
    assert settings.anon_key == SecretStr("anon-from-file")
    assert settings.timeout == 5.0
    assert "SUPABASE_ANON_KEY" not in os.environ or os.environ["SUPABASE_ANON_KEY"] != "anon-from-file"


def test_environment_wins_over_the_file(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("SUPABASE_DB_URL=postgresql://file\n")
    settings = Settings.from_env(env, environ={"SUPABASE_DB_URL": "postgresql://env"})
    assert settings.require_db_url() == "postgresql://env"


def test_secrets_never_show(tmp_path: Path) -> None:
    settings = Settings.from_env(
        None,
        environ={
            "SUPABASE_SERVICE_ROLE_KEY": "service-secret",
            "SUPABASE_JWT_SECRET": "jwt-secret",
            "SUPABASE_DB_URL": "postgresql://u:db-secret@h/db",
        },
    )
    shown = repr(settings) + str(settings) + repr(settings.service_role_key) + str(settings.jwt_secret)
    for secret in ("service-secret", "jwt-secret", "db-secret"):
        assert secret not in shown


def test_missing_file_and_empty_values_are_unset(tmp_path: Path) -> None:
    settings = Settings.from_env(tmp_path / "absent.env", environ={"SUPABASE_ANON_KEY": "  "})
    assert settings.anon_key is None
    with pytest.raises(ConfigurationError, match="SUPABASE_DB_URL"):
        settings.require_db_url()


def test_bad_timeout_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="PHASE3_TIMEOUT"):
        Settings.from_env(None, environ={"PHASE3_TIMEOUT": "soon"})


def test_the_0_1_secret_class_is_a_deprecated_name_for_secretstr() -> None:
    from phase3_sdk import config

    with pytest.warns(
        DeprecationWarning, match=r"phase3_sdk\.config\.Secret is deprecated.*pydantic\.SecretStr"
    ):
        secret_class = config.Secret
    assert secret_class is SecretStr
    assert repr(secret_class("db-secret")) == "SecretStr('**********')"
