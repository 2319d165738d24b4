"""Typed list filters, ordering and keyset cursors, turned into backend values.

Filters are declared once per resource as a ``TypedDict`` (what IDEs and mypy see) and a mapping from each
key to a column and operator. At run time the same ``TypedDict`` validates the keyword arguments, so an
unknown filter or a value of the wrong type is an :class:`InvalidInputError` naming it, before any request.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Generic, TypeVar
from uuid import UUID

from pydantic import ConfigDict, TypeAdapter, ValidationError, with_config

from ..backends.base import Filter, FilterOp, Keyset, Order, Query
from ..errors import InvalidInputError
from ..models._base import check_storable, invalid_input_from
from .tables import Table

T = TypeVar("T")

#: Largest page a single request asks for (Supabase's default ``max-rows`` is 1000).
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class FilterSpec:
    """How a filter keyword maps onto a column."""

    column: str
    op: FilterOp


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list. Pass ``next_cursor`` back to get the next page; None means this was the last.

    A page of the largest size the server allows (REST: its max-rows) cannot look one row ahead, so when it
    comes back full it carries a cursor even if no row follows; the page after it is then empty.
    """

    items: list[T]
    next_cursor: str | None


@cache
def _adapter(typed_dict: type) -> TypeAdapter[Any]:
    # The TypedDict's own config forbids extra keys, so a misspelt filter is an error, not a silent no-op.
    return TypeAdapter(with_config(ConfigDict(extra="forbid"))(typed_dict))


def build_filters(
    typed_dict: type, specs: Mapping[str, FilterSpec], given: Mapping[str, Any], *, what: str
) -> tuple[Filter, ...]:
    """Validate filter keywords against ``typed_dict`` and map them to backend filters (None = not given)."""
    try:
        clean = _adapter(typed_dict).validate_python(dict(given))
    except ValidationError as exc:
        raise invalid_input_from(exc, what=f"filter for {what}") from None
    for key, value in clean.items():
        # PostgREST cuts an in-list value at its first NUL and PostgreSQL refuses one elsewhere: either
        # way the query would not be the one asked for, so such a value is refused here.
        check_storable(value, field=key, what=f"filter for {what}")
    return tuple(Filter(specs[k].column, specs[k].op, v) for k, v in clean.items() if v is not None)


def parse_order(table: Table[Any], order: str | None) -> tuple[Order, ...]:
    """``"-created_at"`` -> created_at descending, then id as the tie-breaker keyset pagination needs."""
    spec = order or table.default_order
    descending = spec.startswith("-")
    column = spec.lstrip("-+")
    if column not in table.order_columns:
        known = ", ".join(sorted(table.order_columns))
        raise InvalidInputError(
            f"cannot order {table.name} by {column!r}; choose one of: {known}", field="order"
        )
    return (Order(column, descending), Order("id", descending))


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value


def encode_cursor(order: Sequence[Order], row: Mapping[str, Any]) -> str:
    """An opaque cursor pointing just after ``row``."""
    payload = {
        "o": [("-" if o.descending else "") + o.column for o in order],
        "v": [_encode_value(row[o.column]) for o in order],
    }
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(order: Sequence[Order], cursor: str) -> Keyset:
    """The keyset position in ``cursor``; it must have been made for the same ordering."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded))
        expected = [("-" if o.descending else "") + o.column for o in order]
        if payload["o"] != expected or len(payload["v"]) != len(order):
            raise ValueError("cursor was made for another ordering")
        values = tuple(payload["v"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"invalid cursor: {exc}", field="cursor") from None
    check_storable(list(values), field="cursor", what="cursor")
    return Keyset(values)


def check_page_size(page_size: int) -> int:
    """A page size within 1..MAX_PAGE_SIZE, or InvalidInputError."""
    if not isinstance(page_size, int) or isinstance(page_size, bool) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInputError(
            f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}, got {page_size!r}", field="page_size"
        )
    return page_size


def check_limit(limit: int | None) -> int | None:
    """``list(limit=)``: None (no cap) or a non-negative integer, else InvalidInputError."""
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise InvalidInputError(f"limit must be a non-negative integer, got {limit!r}", field="limit")
    return limit


def request_size(limit: int, max_rows: int | None) -> int:
    """How many rows to ask for to fill a page of ``limit`` rows.

    One more than the page, so that the extra row proves another page follows, but never more than the
    server's ``max_rows``: PostgREST silently answers 200 with at most ``db-max-rows`` rows (Supabase: 1000)
    whatever ``limit`` says (PostgREST ``Plan.hs``, ``treeRestrictRange``; spec
    ``test/spec/Feature/Query/QueryLimitedSpec.hs``), so asking for more would make a capped page look
    like the last one.
    """
    wanted = limit + 1
    return wanted if max_rows is None else max(1, min(wanted, max_rows))


def page_query(
    table: Table[Any],
    filters: tuple[Filter, ...],
    order: tuple[Order, ...],
    limit: int,
    cursor: str | None,
    columns: tuple[str, ...] | None = None,
    max_rows: int | None = None,
) -> Query:
    """The query for one page of a modelled table (its light columns unless ``columns``): see
    :func:`keyset_query`."""
    return keyset_query(table.name, columns or table.light_columns, filters, order, limit, cursor, max_rows)


def keyset_query(
    table: str,
    columns: tuple[str, ...],
    filters: tuple[Filter, ...],
    order: tuple[Order, ...],
    limit: int,
    cursor: str | None,
    max_rows: int | None = None,
) -> Query:
    """The query for one page of any table (its ``limit`` is :func:`request_size`: one row more than the
    page, or the server's max-rows if that is smaller).

    After a cursor, besides the keyset condition ``(a < x) or (a = x and id < y)``, the page carries the
    redundant bound ``a <= x`` (``>=`` ascending) on the leading column: an index ending with the
    tie-breaker (``supabase/migrations/20260202001400_keyset_indexes.sql``) then starts its scan at the
    cursor instead of reading and discarding every row before it, on both backends (PostgREST ANDs two
    filters on one column).
    """
    after = decode_cursor(order, cursor) if cursor else None
    if after is not None and order and after.values[0] is not None:
        lead = order[0]
        filters = (*filters, Filter(lead.column, "lte" if lead.descending else "gte", after.values[0]))
    return Query(
        table=table,
        columns=columns,
        filters=filters,
        order=order,
        after=after,
        limit=request_size(limit, max_rows),
    )


def split_page(
    order: Sequence[Order], rows: list[dict[str, Any]], limit: int, asked: int | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """The page's rows and the cursor to the next page, if there may be one.

    ``asked`` is the ``limit`` the request carried (default ``limit + 1``). The rule never takes a short
    page for the last one when the server may have cut it:

    * more than ``limit`` rows: the extra row proves a next page; the cursor points after row ``limit``;
    * every row asked for came back (``asked <= limit`` because the server caps at max-rows): the page is
      full and rows may follow, so the cursor points after its last row (at worst the next page is empty);
    * fewer rows than asked: the server ran out of rows (it never answers fewer than both ``limit`` and
      its max-rows while rows remain), so this is the last page.
    """
    asked = limit + 1 if asked is None else asked
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(order, rows[-1])
    if rows and len(rows) >= asked:
        return rows, encode_cursor(order, rows[-1])
    return rows, None
