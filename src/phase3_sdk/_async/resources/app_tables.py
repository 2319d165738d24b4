"""``client.table(name, row=Model)``: the app's own tables, which the SDK does not model.

The same calls as the SDK's table resources (get, create, create_many, update, delete, list, page,
count), built on the same backend values, so they run under the client's identity with RLS, with the same
retries, on both backends. Names come only from the caller's model (checked as plain identifiers);
values are bound.
"""

from __future__ import annotations

import builtins
import functools
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

from ..._rows_display import AsyncRows
from ...backends.base import Delete, Filter, Insert, Order, Query, Update
from ...errors import InvalidInputError, NotFoundError
from ...schema.app_tables import AppTableSpec, id_filter
from ...schema.query import (
    DEFAULT_PAGE_SIZE,
    Page,
    check_limit,
    check_page_size,
)
from ..transport import AsyncTransport
from ._base import read_page, walk_pages

T = TypeVar("T")


class AsyncAppTable(Generic[T]):
    """One of the app's own tables: rows are the caller's pydantic model (or dicts without one).

    Filters are keywords: ``column=value`` (equal), or ``column__op=value`` with ``op`` one of PostgREST's
    ``neq gt gte lt lte in is cs ov``; they combine with AND. ``order`` is a column, ``-`` first for
    descending (default ``id``), with ``id`` as the tie-breaker, so the order column must hold no NULLs.
    The table needs a unique ``id`` column: rows are read, changed and deleted by it, and an insert without
    one gets a client-made UUID so that a retried insert never duplicates (an ``id`` of another type must
    be given). Rows are written as given: a column such as ``user_id`` is the caller's or its default's
    (``default auth.uid()``) to fill, and the table's RLS policies decide what each client may do.
    """

    def __init__(self, transport: AsyncTransport, spec: AppTableSpec) -> None:
        self._transport = transport
        self._spec = spec

    @property
    def name(self) -> str:
        """The table's name (in the ``public`` schema)."""
        return self._spec.name

    def __repr__(self) -> str:
        model = self._spec.row.__name__ if self._spec.row is not None else "dict"
        return f"{type(self).__name__}({self._spec.name!r}, row={model})"

    def _rows(self, rows: builtins.list[dict[str, Any]]) -> builtins.list[T]:
        result: builtins.list[T] = self._spec.rows(rows)
        return result

    async def get(self, id: Any) -> T:
        """The row with this id, or :class:`NotFoundError` (also when RLS hides it from this client)."""
        spec = self._spec
        rows = await self._transport.select(
            Query(spec.name, spec.columns, id_filter(spec.id_value(id)), limit=1)
        )
        if not rows:
            raise NotFoundError(f"no {spec.name} row with id {id} is visible to this client", code="PGRST116")
        return self._rows(rows)[0]

    async def create(self, **fields: Any) -> T:
        """Insert one row (columns of the model only, values checked against its fields) and return it."""
        return (await self.create_many([fields]))[0]

    async def create_many(self, rows: Sequence[Mapping[str, Any]]) -> builtins.list[T]:
        """Insert rows in one request, idempotently by id, and return them in the order given."""
        spec = self._spec
        if isinstance(rows, Mapping) or not isinstance(rows, Sequence):
            raise InvalidInputError("create_many() takes a list of rows", field="rows")
        payloads = [spec.payload(row, what=f"{spec.name} row") for row in rows]
        for payload in payloads:
            if payload.get("id") is None:
                if not spec.generates_id:
                    raise InvalidInputError(
                        f"give each {spec.name} row its id: the SDK makes UUIDs only for a UUID id",
                        field="id",
                    )
                payload["id"] = uuid.uuid4()
        written = await self._transport.insert(
            Insert(spec.name, payloads, spec.columns, spec.write_json_columns(payloads))
        )
        return self._rows(written)

    async def update(self, id: Any, **fields: Any) -> T:
        """Set the given columns on the row with this id; :class:`NotFoundError` if this client may not."""
        spec = self._spec
        key = spec.id_value(id)
        changes = spec.payload(fields, what=f"{spec.name} update")
        if not changes:
            raise InvalidInputError(f"nothing to update on {spec.name}: give at least one column")
        if "id" in changes:
            raise InvalidInputError("a row's id cannot be changed", field="id")
        rows = await self._transport.update(
            Update(spec.name, id_filter(key), changes, spec.columns, spec.write_json_columns([changes]))
        )
        if not rows:
            raise NotFoundError(
                f"no {spec.name} row with id {id} that this client may change", code="PGRST116"
            )
        return self._rows(rows)[0]

    async def delete(self, id: Any) -> None:
        """Delete the row with this id; :class:`NotFoundError` if it is not there or not this client's.

        As for the SDK's tables, a retried delete that finds the row gone succeeds.
        """
        spec = self._spec
        rows = await self._transport.delete(Delete(spec.name, id_filter(spec.id_value(id))))
        if rows == []:
            raise NotFoundError(
                f"no {spec.name} row with id {id} that this client may delete", code="PGRST116"
            )

    def list(
        self,
        *,
        order: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        columns: Sequence[str] | None = None,
        **filters: Any,
    ) -> AsyncRows[Any]:
        """Every visible row matching the filters, fetched page by page as you iterate.

        ``columns=[...]`` reads only those columns and gives dicts of exactly them.
        """
        check_page_size(page_size)
        check_limit(limit)
        spec = self._spec
        order_by = spec.order(order)
        found = spec.filters(filters)
        wanted: tuple[str, ...] | None = None
        if columns is not None:
            if isinstance(columns, str) or not columns:
                raise InvalidInputError("columns must be a non-empty list of column names", field="columns")
            wanted = tuple(dict.fromkeys(spec.check_column(c, field="columns") for c in columns))
        return AsyncRows(lambda: self._iterate(found, order_by, page_size, limit, wanted), what=spec.name)

    async def page(
        self,
        page_size: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
        *,
        order: str | None = None,
        **filters: Any,
    ) -> Page[T]:
        """One page of rows; pass ``page.next_cursor`` to get the next."""
        check_page_size(page_size)
        spec = self._spec
        order_by = spec.order(order)
        rows, next_cursor = await self._read(spec.filters(filters), order_by, page_size, cursor, spec.columns)
        return Page(self._rows(rows), next_cursor)

    async def count(self, **filters: Any) -> int:
        """How many visible rows match the filters."""
        spec = self._spec
        return await self._transport.count(Query(spec.name, ("id",), spec.filters(filters)))

    async def _read(
        self,
        filters: tuple[Filter, ...],
        order_by: tuple[Order, ...],
        size: int,
        cursor: str | None,
        columns: tuple[str, ...],
    ) -> tuple[builtins.list[dict[str, Any]], str | None]:
        return await read_page(self._transport, self._spec.name, columns, filters, order_by, size, cursor)

    async def _iterate(
        self,
        filters: tuple[Filter, ...],
        order_by: tuple[Order, ...],
        page_size: int,
        limit: int | None,
        wanted: tuple[str, ...] | None,
    ) -> AsyncIterator[Any]:
        # The next page's cursor is made from the order columns: read them too when columns= narrows.
        read = self._spec.columns
        if wanted is not None:
            read = tuple(dict.fromkeys((*wanted, *(o.column for o in order_by))))
        read_page = functools.partial(self._read, filters, order_by, columns=read)
        async for rows in walk_pages(read_page, page_size, limit):
            if wanted is None:
                for row in self._rows(rows):
                    yield row
            else:
                for raw in rows:
                    yield {c: raw.get(c) for c in wanted}
