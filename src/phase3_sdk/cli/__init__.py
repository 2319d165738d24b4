"""The ``phase3`` command line: ``db`` (:mod:`.db`), ``dev`` (:mod:`.dev`), ``synthesis worker``
(:mod:`.synthesis`), put together in :mod:`.app`.

This module needs no extra, so that the console script (``phase3 = phase3_sdk.cli:main``) can say in one
line that the 'cli' extra is missing instead of failing on its import.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from phase3_sdk.cli._registry import CommandRegistrar, Subparsers, register_commands
from phase3_sdk.errors import MissingExtraError

__all__ = ["CommandRegistrar", "Subparsers", "main", "register_commands"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``phase3`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    try:
        from phase3_sdk.cli.app import run
    except MissingExtraError as exc:
        print(f"phase3: error: {exc}", file=sys.stderr)
        return 1
    return run(argv)


def __getattr__(name: str) -> Any:
    # The rest of the 0.1 names of phase3_sdk.cli, from the modules that need rich and psycopg.
    if name == "build_parser":
        from phase3_sdk.cli.app import build_parser

        return build_parser
    if name == "db_url_from":
        from phase3_sdk.cli._options import db_url_from

        return db_url_from
    if name in ("add_db_commands", "add_dev_commands"):
        from phase3_sdk.cli import db, dev

        return getattr(db if name == "add_db_commands" else dev, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
