"""RFC 9535 JSONPath for step input/output mappings, compiled once per distinct expression."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jsonpath_rfc9535
from jsonpath_rfc9535.segments import JSONPathChildSegment
from jsonpath_rfc9535.selectors import NameSelector

from phase3_sdk.errors import InvalidInputError

__all__ = ["CompiledPath", "compile_path"]


class CompiledPath:
    """A compiled JSONPath query (RFC 9535 semantics, via ``jsonpath_rfc9535``)."""

    __slots__ = ("_query", "expression")

    def __init__(self, expression: str, query: jsonpath_rfc9535.JSONPathQuery) -> None:
        self.expression = expression
        self._query = query

    def __repr__(self) -> str:
        return f"CompiledPath({self.expression!r})"

    def first(self, data: Any) -> Any:
        """Return the value of the first node the query selects in ``data``, or ``None``.

        A selected JSON ``null`` is also ``None``; mappings use first match because a tool
        parameter takes one value.
        """
        try:
            node = self._query.find_one(data)
        except jsonpath_rfc9535.JSONPathError as exc:  # e.g. recursion too deep in `..`
            raise InvalidInputError(f"JSONPath {self.expression!r} failed: {exc}", field="jsonpath") from None
        return None if node is None else node.value

    def root_key(self) -> str | None:
        """The member name the query starts with (``$.step1.x`` -> ``"step1"``).

        ``None`` when the first segment is not a single name -- ``$`` alone, a wildcard, ``..``
        descent, an index, a filter or several selectors -- because then the step the path reads
        from cannot be told statically.
        """
        segments = self._query.segments
        if not segments:
            return None
        first = segments[0]
        if type(first) is not JSONPathChildSegment or len(first.selectors) != 1:
            return None
        selector = first.selectors[0]
        return selector.name if isinstance(selector, NameSelector) else None


@lru_cache(maxsize=1024)
def compile_path(expression: str) -> CompiledPath:
    """Compile a JSONPath expression (cached); raises ``InvalidInputError`` with the syntax error."""
    if not isinstance(expression, str):
        raise InvalidInputError(
            f"JSONPath must be a string, got {type(expression).__name__}", field="jsonpath"
        )
    try:
        query = jsonpath_rfc9535.compile(expression)
    except jsonpath_rfc9535.JSONPathError as exc:
        raise InvalidInputError(f"invalid JSONPath {expression!r}: {exc}", field="jsonpath") from None
    return CompiledPath(expression, query)
