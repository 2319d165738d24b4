"""The ``phase3`` parser with every command group, and running one command.

Results go to stdout; progress and errors to stderr. An error is one line (:mod:`._errors`) and the exit
code is non-zero.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib import metadata

from phase3_sdk import __version__
from phase3_sdk.cli import _registry
from phase3_sdk.cli._errors import error_line, one_line
from phase3_sdk.cli._registry import CommandRegistrar, Handler
from phase3_sdk.cli.db import add_db_commands
from phase3_sdk.cli.dev import add_dev_commands
from phase3_sdk.cli.synthesis import add_synthesis_commands

__all__ = ["build_parser", "run"]

#: The SDK's own command groups, in the order ``phase3 --help`` lists them.
BUILTIN_GROUPS: tuple[CommandRegistrar, ...] = (add_db_commands, add_dev_commands, add_synthesis_commands)


def _registrars_in_order() -> list[CommandRegistrar]:
    found: list[CommandRegistrar] = list(BUILTIN_GROUPS)
    plugins: list[tuple[str, Callable[[], CommandRegistrar]]] = [
        (ep.value, ep.load) for ep in metadata.entry_points(group=_registry.ENTRY_POINT_GROUP)
    ]
    for ref, load in plugins:
        try:
            found.append(load())
        except Exception as exc:
            # One broken group must not take `phase3 db check` down with it.
            print(f"phase3: warning: skipping command group {ref}: {one_line(str(exc))}", file=sys.stderr)
    found += _registry.registered
    unique: list[CommandRegistrar] = []
    for r in found:
        if r not in unique:
            unique.append(r)
    return unique


def build_parser() -> argparse.ArgumentParser:
    """Return the ``phase3`` argument parser with every registered command group."""
    parser = argparse.ArgumentParser(
        prog="phase3", description="Phase 3 SDK tools: migrations and a local database."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--env-file", default=".env", help="read settings from this file too (default: .env)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for registrar in _registrars_in_order():
        registrar(subparsers)
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    """Run ``phase3`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("phase3: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        # Plain print, not rich: a console would wrap a long path onto a second line.
        print(error_line(exc, args), file=sys.stderr)
        return 1
