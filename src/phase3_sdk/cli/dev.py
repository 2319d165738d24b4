"""``phase3 dev up|url|down``: a lasting local embedded PostgreSQL laid out like Supabase."""

from __future__ import annotations

import argparse
from pathlib import Path

from phase3_sdk.cli._console import stderr
from phase3_sdk.cli._options import migrations_dir
from phase3_sdk.cli._registry import Subparsers
from phase3_sdk.errors import Phase3Error

__all__ = ["DEFAULT_DEV_PATH", "add_dev_commands"]

DEFAULT_DEV_PATH = Path(".phase3") / "dev"


def add_dev_commands(subparsers: Subparsers) -> None:
    """Register ``phase3 dev up|url|down``: a lasting local database under ``.phase3/dev``."""
    dev = subparsers.add_parser("dev", help="a local embedded PostgreSQL laid out like Supabase")
    commands = dev.add_subparsers(dest="dev_command", metavar="COMMAND", required=True)
    for name, handler, text in (
        ("up", _dev_up, "start it (if needed), apply the shim and migrations, print its URL"),
        ("url", _dev_url, "print the URL of the running dev database"),
        ("down", _dev_down, "stop it (its data stays)"),
    ):
        p = commands.add_parser(name, help=text)
        p.add_argument(
            "--path", type=Path, default=DEFAULT_DEV_PATH, help="data folder (default: .phase3/dev)"
        )
        if name == "up":
            p.add_argument(
                "--migrations",
                metavar="DIR",
                type=Path,
                help="default: the project's supabase/migrations, else the SDK's own",
            )
        p.set_defaults(handler=handler)


def _dev_up(args: argparse.Namespace) -> int:
    from phase3_sdk.db.embedded import EmbeddedDatabase

    err = stderr()
    folder = migrations_dir(args)
    db = EmbeddedDatabase(args.path, persistent=True)
    with err.status(f"starting PostgreSQL in {args.path}..."):
        db.start()
        applied = db.setup(folder)
    for m in applied:
        err.print(f"applied {m.path.name}")
    print(db.url)
    return 0


def _dev_url(args: argparse.Namespace) -> int:
    from phase3_sdk.db.embedded import EmbeddedDatabase

    url = EmbeddedDatabase.running_url(args.path)
    if url is None:
        raise Phase3Error(f"no dev database running in {args.path}", hint="start it with: phase3 dev up")
    print(url)
    return 0


def _dev_down(args: argparse.Namespace) -> int:
    from phase3_sdk.db.embedded import EmbeddedDatabase

    if EmbeddedDatabase.running_url(args.path) is None:
        stderr().print(f"no dev database running in {args.path}")
        return 0
    EmbeddedDatabase(args.path, persistent=True).start().stop()
    stderr().print(f"stopped the dev database in {args.path}")
    return 0
