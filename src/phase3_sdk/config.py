"""Settings from the environment and a ``.env`` file.

``.env`` is read with python-dotenv's ``dotenv_values``, never ``load_dotenv``: reading settings must not
change ``os.environ`` for the rest of the process. Real environment variables win over the file, as
deployment platforms expect. Secrets are wrapped in :class:`Secret`, whose repr and str never show them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from dotenv import dotenv_values

from phase3_sdk.errors import ConfigurationError

__all__ = ["Secret", "Settings"]


class Secret:
    """A secret string that never shows itself in a repr, str, log line or traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        """Return the secret itself (same name as pydantic's SecretStr, so code reads alike)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


_DEFAULT_TIMEOUT: Final = 30.0
_DEFAULT_CONNECT_TIMEOUT: Final = 10.0


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the SDK reads from the environment; every field is optional until something needs it.

    Environment variables: ``SUPABASE_URL``, ``SUPABASE_ANON_KEY``, ``SUPABASE_SERVICE_ROLE_KEY``,
    ``SUPABASE_JWT_SECRET``, ``SUPABASE_DB_URL`` (a PostgreSQL URL; it usually holds a password, so it is a
    secret too), ``PHASE3_TIMEOUT`` and ``PHASE3_CONNECT_TIMEOUT`` (seconds).
    """

    supabase_url: str | None = None
    anon_key: Secret | None = field(default=None, repr=False)
    service_role_key: Secret | None = field(default=None, repr=False)
    jwt_secret: Secret | None = field(default=None, repr=False)
    db_url: Secret | None = field(default=None, repr=False)
    timeout: float = _DEFAULT_TIMEOUT
    connect_timeout: float = _DEFAULT_CONNECT_TIMEOUT

    @classmethod
    def from_env(
        cls, env_file: str | Path | None = ".env", *, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Read settings from ``environ`` (default ``os.environ``) over ``env_file`` (if it exists).

        Empty values count as unset. Raises :class:`ConfigurationError` for a timeout that is not a
        positive number, naming the variable.
        """
        values: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        values.update(os.environ if environ is None else environ)

        def text(name: str) -> str | None:
            value = values.get(name, "").strip()
            return value or None

        def secret(name: str) -> Secret | None:
            value = text(name)
            return Secret(value) if value else None

        def seconds(name: str, default: float) -> float:
            raw = text(name)
            if raw is None:
                return default
            try:
                value = float(raw)
            except ValueError:
                value = -1.0
            if value <= 0:
                raise ConfigurationError(f"{name} must be a positive number of seconds, got {raw!r}")
            return value

        return cls(
            supabase_url=text("SUPABASE_URL"),
            anon_key=secret("SUPABASE_ANON_KEY"),
            service_role_key=secret("SUPABASE_SERVICE_ROLE_KEY"),
            jwt_secret=secret("SUPABASE_JWT_SECRET"),
            db_url=secret("SUPABASE_DB_URL"),
            timeout=seconds("PHASE3_TIMEOUT", _DEFAULT_TIMEOUT),
            connect_timeout=seconds("PHASE3_CONNECT_TIMEOUT", _DEFAULT_CONNECT_TIMEOUT),
        )

    def require_db_url(self) -> str:
        """Return the database URL, or raise a :class:`ConfigurationError` that says how to set it."""
        if self.db_url is None:
            raise ConfigurationError(
                "no database URL: set SUPABASE_DB_URL (environment or .env) or pass --db-url",
                hint="on Supabase: Project Settings > Database > Connection string; locally: phase3 dev url",
            )
        return self.db_url.get_secret_value()
