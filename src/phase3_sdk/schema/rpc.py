"""An ``rpc()`` call checked and turned into the backend's :class:`~phase3_sdk.backends.base.Rpc` value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..backends.base import IDENTIFIER, Rpc, RpcReturns
from ..errors import InvalidInputError

_RPC_RETURNS = ("rows", "scalar", "none")


def rpc_call(name: str, args: Mapping[str, Any] | None, returns: RpcReturns) -> Rpc:
    """The call of ``public.<name>`` with ``args`` by name, or InvalidInputError naming what is not a plain
    name (the SDK passes names on unquoted) before any request."""
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise InvalidInputError(f"rpc() needs a plain function name, got {name!r}", field="name")
    if returns not in _RPC_RETURNS:
        raise InvalidInputError(
            f"returns must be one of {', '.join(_RPC_RETURNS)}, got {returns!r}", field="returns"
        )
    values = dict(args or {})
    for arg in values:
        if not isinstance(arg, str) or not IDENTIFIER.match(arg):
            raise InvalidInputError(f"rpc() argument names must be plain names, got {arg!r}", field="args")
    # Objects (and lists of them) are JSON to the function; a direct connection must say so, where
    # PostgREST reads the whole body as JSON anyway.
    casts = {
        arg: "jsonb"
        for arg, value in values.items()
        if isinstance(value, dict)
        or (isinstance(value, list | tuple) and any(isinstance(v, dict) for v in value))
    }
    return Rpc(name, values, returns=returns, casts=casts, json=True)
