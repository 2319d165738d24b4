"""Settings from the environment and a ``.env`` file.

``.env`` is read with python-dotenv's ``dotenv_values``, never ``load_dotenv``: reading settings must not
change ``os.environ`` for the rest of the process. Real environment variables win over the file, as
deployment platforms expect. Secrets are pydantic ``SecretStr`` values, whose repr and str never show them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from dotenv import dotenv_values

from phase3_sdk._deprecation import warn_deprecated
from phase3_sdk.errors import ConfigurationError

if TYPE_CHECKING:
    # Imported where used: `import phase3_sdk` reads Settings and must not load pydantic.
    from pydantic import SecretStr

__all__ = ["Settings", "check_db_url"]


def __getattr__(name: str) -> Any:
    # 0.1's own Secret class is pydantic's SecretStr now (same get_secret_value, repr and str).
    if name == "Secret":
        from pydantic import SecretStr

        warn_deprecated("phase3_sdk.config.Secret", "pydantic.SecretStr")
        return SecretStr
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
_DB_SCHEMES = ("postgresql", "postgres")
_EXPECTED_URL = "postgresql://USER:PASSWORD@HOST:5432/DATABASE"


def check_db_url(url: str, *, source: str = "the database URL") -> str:
    """Return ``url`` if libpq will read it as the PostgreSQL URL meant, else raise ConfigurationError.

    The message never repeats the URL or any part of it: a mistyped URL still holds a password. Caught
    here rather than by libpq: a non-URL would fail as ``missing "=" after ...`` (libpq reads it as
    ``key=value`` settings), an ``@`` left unescaped in a password would make libpq take the rest of the
    password for the host name and print it, and an ``http://`` URL is usually the project's REST URL.
    """
    text = url.strip()
    match = _SCHEME.match(text)
    if match is None:
        raise ConfigurationError(
            f"{source} is not a URL: expected {_EXPECTED_URL}",
            hint="on Supabase: Project Settings > Database > Connection string (URI)",
        )
    scheme = match.group("scheme").lower()
    if scheme not in _DB_SCHEMES:
        rest = "http" in scheme
        extra = " (that looks like the project's REST URL: give it as SUPABASE_URL)" if rest else ""
        raise ConfigurationError(
            f"{source} is a {scheme}:// URL{extra}: expected {_EXPECTED_URL}",
            hint="on Supabase: Project Settings > Database > Connection string (URI)",
        )
    # The user name and password are everything before the LAST '@' (libpq's reading when the URL is
    # well formed). An '@' or '/' left there unescaped makes libpq cut the URL elsewhere and take part of
    # the password for the host name, which it then prints in its errors and logs: a password holding
    # '/' hides a second '@' from a check of the text before the first '/'.
    after_scheme = text[match.end() :].split("?", 1)[0]
    userinfo = after_scheme.rsplit("@", 1)[0] if "@" in after_scheme else ""
    if "@" in userinfo or "/" in userinfo:
        raise ConfigurationError(
            f"{source} has an unescaped '@' or '/' in its user name or password: write '@' as %40 and "
            "'/' as %2F",
            hint="percent-encode the password, e.g. with urllib.parse.quote(password, safe='')",
        )
    return text


_DEFAULT_TIMEOUT: Final = 30.0
_DEFAULT_CONNECT_TIMEOUT: Final = 10.0


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the SDK reads from the environment; every field is optional until something needs it.

    Environment variables: ``SUPABASE_URL``, ``SUPABASE_ANON_KEY`` (or ``SUPABASE_KEY``, the name
    supabase-py's examples use; ``SUPABASE_ANON_KEY`` wins when both are set), ``SUPABASE_SERVICE_ROLE_KEY``,
    ``SUPABASE_JWT_SECRET``, ``SUPABASE_DB_URL`` (a PostgreSQL URL; it usually holds a password, so it is a
    secret too), ``PHASE3_TIMEOUT`` and ``PHASE3_CONNECT_TIMEOUT`` (seconds).
    """

    supabase_url: str | None = None
    anon_key: SecretStr | None = field(default=None, repr=False)
    service_role_key: SecretStr | None = field(default=None, repr=False)
    jwt_secret: SecretStr | None = field(default=None, repr=False)
    db_url: SecretStr | None = field(default=None, repr=False)
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

        from pydantic import SecretStr

        def secret(name: str) -> SecretStr | None:
            value = text(name)
            return SecretStr(value) if value else None

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
            anon_key=secret("SUPABASE_ANON_KEY") or secret("SUPABASE_KEY"),
            service_role_key=secret("SUPABASE_SERVICE_ROLE_KEY"),
            jwt_secret=secret("SUPABASE_JWT_SECRET"),
            db_url=secret("SUPABASE_DB_URL"),
            timeout=seconds("PHASE3_TIMEOUT", _DEFAULT_TIMEOUT),
            connect_timeout=seconds("PHASE3_CONNECT_TIMEOUT", _DEFAULT_CONNECT_TIMEOUT),
        )

    def require_db_url(self) -> str:
        """Return the database URL, or raise a :class:`ConfigurationError` that says how to set it.

        The URL is checked with :func:`check_db_url`, so a mistyped one fails here in one line.
        """
        if self.db_url is None:
            raise ConfigurationError(
                "no database URL: set SUPABASE_DB_URL (environment or .env)",
                hint="on Supabase: Project Settings > Database > Connection string; locally: phase3 dev url",
            )
        return check_db_url(self.db_url.get_secret_value(), source="SUPABASE_DB_URL")
