"""How command groups join ``phase3``: a function ``add_<group>_commands(subparsers)`` registers a subparser
and sets ``handler`` (``(argparse.Namespace) -> int``, the exit code) on every leaf command.

The SDK's own groups are listed in :mod:`.app`. Code outside them adds a group with
:func:`register_commands` (in a module imported before ``main`` runs), and another package through an
entry point in the :data:`ENTRY_POINT_GROUP` group. Needs no extra: importing it must not need rich.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeAlias

__all__ = ["ENTRY_POINT_GROUP", "CommandRegistrar", "Handler", "Subparsers", "register_commands"]

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
CommandRegistrar: TypeAlias = Callable[[Subparsers], None]
Handler: TypeAlias = Callable[[argparse.Namespace], int]

ENTRY_POINT_GROUP = "phase3_sdk.commands"

#: Groups added with :func:`register_commands`, in the order they were.
registered: list[CommandRegistrar] = []


def register_commands(registrar: CommandRegistrar) -> CommandRegistrar:
    """Decorator: add a command group to ``phase3`` (the module must be imported before ``main``)."""
    registered.append(registrar)
    return registrar
