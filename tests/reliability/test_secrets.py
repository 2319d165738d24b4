"""Secrets never leak: keys, tokens and database passwords stay out of logs, errors, reprs and the CLI.

Every case runs with every logger at DEBUG (the SDK's, httpx's, httpcore's, psycopg's) and then looks for
each secret, whole and in the pieces a URL parser would cut it into, in: the captured log records
(message and arguments), every exception raised (``str``, ``repr``, ``args``, ``details``, ``hint``, and
the same for each ``__cause__``/``__context__`` down the chain), the ``repr`` of every client, settings,
identity, transport and backend, and the CLI's stdout and stderr.

The database password holds ``@``, ``:`` and ``/``, the characters that break URL parsing: given
unescaped, a parser may take part of it for the host and print it back.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jwt
import pytest

from phase3_sdk import Identity, Phase3Client, Phase3Error, RetryPolicy
from phase3_sdk import cli as phase3_cli
from phase3_sdk.config import Settings
from support.backends import ANON_KEY, BASE_URL, JWT_SECRET, SERVICE_KEY

from ._results import record

PASSWORD = "Hunter2Alpha@Bravo7:Charlie9/Delta5"
#: The pieces a URL parser cuts the password into (each long and odd enough never to occur by chance).
PIECES = ["Hunter2Alpha", "Bravo7", "Charlie9", "Delta5"]
RAW_URL = f"postgresql://phase3user:{PASSWORD}@127.0.0.1:1/postgres"
ESCAPED_URL = f"postgresql://phase3user:{quote(PASSWORD, safe='')}@127.0.0.1:1/postgres"
NO_RETRY = RetryPolicy(max_attempts=1)
#: CLI subcommands that open the database (each given the URL with --db-url).
DB_COMMANDS = [
    ["db", "migrate"],
    ["db", "status"],
    ["db", "verify"],
    ["db", "lint"],
    ["db", "tune-search"],
    ["db", "shim"],
]
#: The worker's one pass against an unreachable database (a refused connection fails at once).
WORKER = ["synthesis", "worker", "--once"]


def secrets(token: str) -> dict[str, str]:
    """Every secret of these tests, by name; a user access token included."""
    found = {
        "service key": SERVICE_KEY,
        "jwt secret": JWT_SECRET,
        "user token": token,
        "password": PASSWORD,
        "password (escaped)": quote(PASSWORD, safe=""),
        # The signature alone identifies a JWT; a log cut at a dot would still carry it.
        "service key signature": SERVICE_KEY.rsplit(".", 1)[1],
        "user token signature": token.rsplit(".", 1)[1],
    }
    found.update({f"password piece {p}": p for p in PIECES})
    return found


def leaks(text: str, token: str) -> list[str]:
    return [name for name, value in secrets(token).items() if value in text]


def exception_texts(exc: BaseException) -> Iterator[str]:
    """Everything a user may print of an exception, down its cause/context chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield str(current)
        yield repr(current)
        yield " ".join(map(str, current.args))
        for attr in ("details", "hint", "message"):
            yield str(getattr(current, attr, "") or "")
        current = current.__cause__ or current.__context__


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    names = ("phase3_sdk", "httpx", "httpcore", "psycopg", "psycopg.pool", "tenacity")
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield caplog
    for name, level in levels.items():  # later tests get the levels they had
        logging.getLogger(name).setLevel(level)


def log_text(caplog: pytest.LogCaptureFixture) -> str:
    parts = []
    for rec in caplog.records:
        parts.append(rec.getMessage())
        parts.append(repr(rec.args))
        if rec.exc_info and rec.exc_info[1] is not None:
            parts.extend(exception_texts(rec.exc_info[1]))
    return "\n".join(parts)


def test_rest_path_keeps_keys_and_tokens_out_of_logs_errors_and_reprs(
    emulator: Any, router: Any, make_user: Any, debug_logs: pytest.LogCaptureFixture
) -> None:
    uid = make_user()
    texts: list[str] = []
    with Phase3Client(
        BASE_URL, SERVICE_KEY, anon_key=ANON_KEY, jwt_secret=JWT_SECRET, retry=NO_RETRY
    ) as client:
        me = client.as_user(user_id=uid)
        token = me.identity.access_token or ""
        assert token
        tool = me.tools.create(name=f"s-{uuid.uuid4().hex[:8]}", code="return 1;")
        me.tools.list()
        client.tools.get(tool.id)
        texts += [
            repr(x) for x in (client, me, me.identity, client.identity, client._shared.backend, me._transport)
        ]
        # Errors on the way: a server refusal, a bad token, a token with the wrong role, a missing row.
        expired = jwt.encode({"sub": str(uid), "role": "authenticated", "exp": 1}, JWT_SECRET, "HS256")
        service_as_user = SERVICE_KEY
        attempts = [
            lambda: client.as_user(expired),
            lambda: client.as_user(service_as_user),
            lambda: me.tools.get(uuid.uuid4()),
            lambda: me.tools.create(name="x y z!!", code=""),
            lambda: client._as_identity(
                Identity(role="authenticated", claims={"sub": str(uid)}, access_token=token[:-4] + "AAAA")
            ).tools.page(page_size=1),
            lambda: Phase3Client(BASE_URL, SERVICE_KEY[:-3] + "abc").tools.page(page_size=1),
        ]
        errors = 0
        for attempt in attempts:
            try:
                attempt()
            except Phase3Error as exc:
                errors += 1
                texts += list(exception_texts(exc))
        assert errors == len(attempts), "each attempt was meant to fail"
    texts.append(log_text(debug_logs))
    assert len(debug_logs.records) > 0, "DEBUG logging was on: the SDK and httpx log requests"
    found = leaks("\n".join(texts), token)
    record(
        "secrets_rest",
        {"texts_checked": len(texts), "log_records": len(debug_logs.records), "leaks": len(found)},
    )
    assert found == []


def test_database_password_stays_out_of_errors_logs_and_reprs(debug_logs: pytest.LogCaptureFixture) -> None:
    texts: list[str] = []
    settings = Settings.from_env(
        None,
        environ={
            "SUPABASE_URL": BASE_URL,
            "SUPABASE_ANON_KEY": ANON_KEY,
            "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY,
            "SUPABASE_JWT_SECRET": JWT_SECRET,
            "SUPABASE_DB_URL": ESCAPED_URL,
        },
    )
    texts += [repr(settings), str(settings)]
    errors = 0
    for url in (ESCAPED_URL, RAW_URL, RAW_URL.replace("127.0.0.1:1", "127.0.0.1:notaport")):
        try:
            with Phase3Client.connect(
                url, retry=NO_RETRY, connect_timeout=2, jwt_secret=JWT_SECRET
            ) as client:
                texts += [repr(client), repr(client._shared.backend)]
                client.tools.page(page_size=1)
        except Phase3Error as exc:
            errors += 1
            texts += list(exception_texts(exc))
    assert errors == 3
    try:
        settings.require_db_url()
        Settings.from_env(None, environ={"SUPABASE_DB_URL": RAW_URL}).require_db_url()
    except Phase3Error as exc:
        texts += list(exception_texts(exc))
    texts.append(log_text(debug_logs))
    found = leaks("\n".join(texts), "no.token.here")
    record(
        "secrets_db",
        {"texts_checked": len(texts), "log_records": len(debug_logs.records), "leaks": len(found)},
    )
    assert found == []


@pytest.mark.parametrize(
    ("url", "commands"),
    [
        pytest.param(RAW_URL, [*DB_COMMANDS, WORKER], id="unescaped"),
        pytest.param(ESCAPED_URL, DB_COMMANDS, id="escaped"),
        pytest.param(ESCAPED_URL, [WORKER], id="escaped-worker", marks=pytest.mark.slow),
    ],
)
def test_cli_never_prints_the_password(
    url: str,
    commands: list[list[str]],
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Every subcommand that opens the database, given the URL by flag and by environment."""
    monkeypatch.chdir(tmp_path)  # no .env of the repository's
    outputs: list[tuple[str, str]] = []
    codes = []
    for command in commands:
        # The worker's pass against the unreachable database: by flag only.
        for by_env in (False,) if command == WORKER and url == ESCAPED_URL else (False, True):
            if by_env:
                monkeypatch.setenv("SUPABASE_DB_URL", url)
                argv = command
            else:
                monkeypatch.delenv("SUPABASE_DB_URL", raising=False)
                argv = [*command[:2], "--db-url", url, *command[2:]]
            try:
                codes.append(phase3_cli.main(argv))
            except SystemExit as exc:  # argparse and some handlers exit
                codes.append(exc.code)
            out, err = capfd.readouterr()
            outputs.append((" ".join(command) + (" (env)" if by_env else " (flag)"), out + err))
    assert all(code not in (0, None) for code in codes), "each command was meant to fail to connect"
    found = [(label, leaks(o, "no.token.here")) for label, o in outputs if leaks(o, "no.token.here")]
    record(
        f"secrets_cli_{'escaped' if url == ESCAPED_URL else 'unescaped'}",
        {"runs": len(outputs), "leaks": len(found)},
    )
    assert found == []


def test_the_installed_phase3_command_never_prints_the_password(tmp_path: Path) -> None:
    """The real entry point, in a process of its own, both URL forms, by flag and by environment."""
    phase3 = Path(sys.executable).with_name("phase3")
    runs = []
    for url in (RAW_URL, ESCAPED_URL):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SUPABASE_")}
        for argv, extra in (
            (["db", "status", "--db-url", url], {}),
            (["db", "migrate"], {"SUPABASE_DB_URL": url}),
        ):
            done = subprocess.run(
                [str(phase3), *argv],
                capture_output=True,
                text=True,
                cwd=tmp_path,
                env={**env, **extra},
                timeout=60,
            )
            assert done.returncode != 0
            runs.append(done.stdout + done.stderr)
    assert [leaks(r, "no.token.here") for r in runs] == [[]] * len(runs), runs
