"""What every table resource does the same way: get, create, update, delete, list, page and count."""

from __future__ import annotations

import builtins
import functools
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar
from uuid import UUID

from ..._deprecation import warn_deprecated
from ..._flavour import AsyncOutcome
from ..._rows_display import AsyncRows
from ...backends.base import Delete, Filter, Insert, Order, Query, Update
from ...errors import InvalidInputError, NotFoundError
from ...filters import DEPRECATED_FILTERS
from ...models import PayloadModel, RowModel, UpdateModel
from ...models._base import as_uuid, validate_payload
from ...schema.query import (
    DEFAULT_PAGE_SIZE,
    FilterSpec,
    Page,
    build_filters,
    check_limit,
    check_page_size,
    keyset_query,
    parse_order,
    request_size,
    split_page,
)
from ...schema.tables import Table
from ..transport import AsyncTransport

RowT = TypeVar("RowT", bound=RowModel)


class ActsAsUser(Protocol):
    """What an ``impersonate`` callable may return besides a transport: a client (``client.as_user(...)``)."""

    @property
    def _transport(self) -> AsyncTransport: ...


#: Maps a user id to a client (or, as in 0.1, a transport) acting for that user.
Impersonate = Callable[[UUID], ActsAsUser | AsyncTransport]


def transport_for(impersonate: Impersonate, user_id: UUID) -> AsyncTransport:
    """The transport acting for ``user_id``: ``impersonate`` may return a client, the public way, or
    its transport (0.1's ``client.as_user(...)._transport``, still accepted)."""
    acting = impersonate(user_id)
    return acting if isinstance(acting, AsyncTransport) else acting._transport


#: Reads one page: ``(size, cursor) -> (rows, next cursor or None)``.
ReadPage = Callable[[int, str | None], AsyncOutcome[tuple[list[dict[str, Any]], str | None]]]


async def read_page(
    transport: AsyncTransport,
    table: str,
    columns: tuple[str, ...],
    filters: tuple[Filter, ...],
    order_by: tuple[Order, ...],
    size: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One keyset page of ``table`` (at most ``size`` rows) and the cursor after it (None: the last page)."""
    max_rows = transport.max_rows
    query = keyset_query(table, columns, filters, order_by, size, cursor, max_rows)
    return split_page(order_by, await transport.select(query), size, request_size(size, max_rows))


async def walk_pages(
    read: ReadPage, page_size: int, limit: int | None
) -> AsyncIterator[list[dict[str, Any]]]:
    """The pages of a ``list()``, each read when the one before is used up, until ``limit`` rows in all (None:
    no cap) or the last page."""
    cursor: str | None = None
    seen = 0
    while True:
        size = page_size if limit is None else min(page_size, limit - seen)
        if size <= 0:
            return
        rows, cursor = await read(size, cursor)
        yield rows
        seen += len(rows)
        if cursor is None:
            return


class AsyncTableResource(Generic[RowT]):
    """Base of the table resources. Subclasses add typed ``create``/``update``/``list`` methods."""

    table: ClassVar[Table[Any]]
    filters: ClassVar[Mapping[str, FilterSpec]] = {}
    filter_type: ClassVar[type]

    def __init__(self, transport: AsyncTransport) -> None:
        self._transport = transport

    @property
    def _what(self) -> str:
        return self.table.name

    def _rows(self, rows: Sequence[Mapping[str, Any]]) -> builtins.list[RowT]:
        # Rows the driver typed (Postgres) skip re-validating what it typed; others are fully validated.
        # Either way the rows are taken over by the models: nothing may use them afterwards.
        result: builtins.list[RowT] = self.table.models(rows, typed=self._transport.typed_rows)
        return result

    def _owner(self, user_id: UUID | str | None) -> UUID:
        # A user-scoped client always writes its own user_id; only the service role may name another user,
        # and it must, because the service role has no user of its own.
        mine = self._transport.identity.user_id
        if user_id is None:
            if mine is None:
                raise InvalidInputError(
                    f"user_id is required to create {self._what} rows as the service role "
                    "(or use client.as_user(...))",
                    field="user_id",
                )
            return mine
        owner = as_uuid(user_id, "user_id")
        if mine is not None and owner != mine:
            raise InvalidInputError(
                "a user-scoped client can only create rows for its own user", field="user_id"
            )
        return owner

    async def get(self, id: UUID | str) -> RowT:
        """The row with this id, or :class:`NotFoundError` (also when RLS hides it from this client)."""
        rows = await self._transport.select(
            Query(self.table.name, self.table.light_columns, (Filter("id", "eq", as_uuid(id)),), limit=1)
        )
        if not rows:
            raise NotFoundError(
                f"no {self._what} row with id {id} is visible to this client", code="PGRST116"
            )
        return self._rows(rows)[0]

    async def _insert(
        self, payloads: Sequence[PayloadModel], *, user_id: UUID | str | None
    ) -> builtins.list[RowT]:
        owner = self._owner(user_id) if self.table.owned else None
        rows: builtins.list[dict[str, Any]] = []
        for payload in payloads:
            row = payload.model_dump(exclude_unset=False, exclude_none=False)
            # Drop unset optional columns so the database defaults apply (created_at, for one).
            row = {k: v for k, v in row.items() if v is not None or k in payload.model_fields_set}
            row["id"] = uuid.uuid4()
            if owner is not None:
                row["user_id"] = owner
            rows.append(row)
        written = await self._transport.insert(
            Insert(self.table.name, rows, self.table.light_columns, self.table.json_columns)
        )
        return self._rows(written)

    async def _create(
        self, model: type[PayloadModel], data: Mapping[str, Any], user_id: UUID | str | None
    ) -> RowT:
        payload = validate_payload(model, data, what=f"{self._what} row")
        return (await self._insert([payload], user_id=user_id))[0]

    async def _update(self, id: UUID | str, model: type[UpdateModel], data: Mapping[str, Any]) -> RowT:
        key = as_uuid(id)
        payload = validate_payload(model, data, what=f"{self._what} update")
        changes = payload.changes()
        if not changes:
            raise InvalidInputError(f"nothing to update on {self._what}: give at least one field")
        rows = await self._transport.update(
            Update(
                self.table.name,
                (Filter("id", "eq", key),),
                changes,
                self.table.light_columns,
                self.table.json_columns,
            )
        )
        if not rows:
            raise NotFoundError(
                f"no {self._what} row with id {id} that this client may change", code="PGRST116"
            )
        return self._rows(rows)[0]

    async def delete(self, id: UUID | str) -> None:
        """Delete the row, or :class:`NotFoundError` if it is not there or not this client's to delete.

        A delete retried after a transient failure that finds the row gone succeeds: the failed attempt
        may have deleted it (the answer was lost, not the commit).
        """
        rows = await self._transport.delete(Delete(self.table.name, (Filter("id", "eq", as_uuid(id)),)))
        if rows == []:
            raise NotFoundError(
                f"no {self._what} row with id {id} that this client may delete", code="PGRST116"
            )

    def _filters(self, given: Mapping[str, Any]) -> tuple[Filter, ...]:
        for old in sorted(given.keys() & DEPRECATED_FILTERS.keys()):
            new, note = DEPRECATED_FILTERS[old]
            # 5: warn_deprecated <- _filters <- _page/_list/_count <- page/list/count <- the caller
            warn_deprecated(f"the {old}= filter", f"{new}=", stacklevel=5, note=note)
        return build_filters(self.filter_type, self.filters, given, what=self._what)

    async def _page(
        self,
        filters: Mapping[str, Any],
        *,
        page_size: int,
        limit: int | None,
        cursor: str | None,
        order: str | None,
        columns: tuple[str, ...] | None = None,
    ) -> Page[RowT]:
        if limit is not None:
            # 0.1's page(limit=) was the page size; limit now means a total cap everywhere (list()).
            if page_size != DEFAULT_PAGE_SIZE:
                raise InvalidInputError("pass page_size only (limit= is its deprecated name)", field="limit")
            warn_deprecated("page(limit=)", "page(page_size=)", stacklevel=4)
            page_size = limit
        check_page_size(page_size)
        order_by = parse_order(self.table, order)
        found = self._filters(filters)
        rows, next_cursor = await self._read_page(found, order_by, columns, page_size, cursor)
        return Page(self._rows(rows), next_cursor)

    def _list(
        self,
        filters: Mapping[str, Any],
        *,
        order: str | None,
        page_size: int,
        limit: int | None,
        columns: tuple[str, ...] | None = None,
    ) -> AsyncRows[RowT]:
        # Not a generator itself: bad filters or ordering fail here, at the call, not at the first step of
        # iteration somewhere else in the caller's code. Each iteration of the result runs the query anew.
        check_page_size(page_size)
        check_limit(limit)
        order_by = parse_order(self.table, order)
        found = self._filters(filters)
        return AsyncRows(lambda: self._iterate(found, order_by, page_size, limit, columns), what=self._what)

    def _list_columns(
        self,
        filters: Mapping[str, Any],
        columns: Sequence[str],
        *,
        order: str | None,
        page_size: int,
        limit: int | None,
    ) -> AsyncRows[dict[str, Any]]:
        """``list(columns=[...])``: only those columns are read, and each row is a dict of exactly them
        (a model cannot be built from part of a row)."""
        wanted = self._check_columns(columns)
        check_page_size(page_size)
        check_limit(limit)
        order_by = parse_order(self.table, order)
        found = self._filters(filters)
        # The cursor of the next page is made from the order columns and the id: read them too.
        read = tuple(dict.fromkeys((*wanted, *(o.column for o in order_by), "id")))
        return AsyncRows(
            lambda: self._iterate_dicts(found, order_by, page_size, limit, read, wanted), what=self._what
        )

    def _check_columns(self, columns: Sequence[str]) -> tuple[str, ...]:
        if isinstance(columns, str) or not columns:
            raise InvalidInputError("columns must be a non-empty list of column names", field="columns")
        unknown = [c for c in columns if c not in self.table.columns]
        if unknown:
            raise InvalidInputError(
                f"{self._what} has no column {unknown[0]!r} (columns: {', '.join(self.table.columns)})",
                field="columns",
            )
        return tuple(dict.fromkeys(columns))

    async def _iterate_dicts(
        self,
        filters: tuple[Filter, ...],
        order_by: tuple[Order, ...],
        page_size: int,
        limit: int | None,
        read: tuple[str, ...],
        wanted: tuple[str, ...],
    ) -> AsyncIterator[dict[str, Any]]:
        async for rows in walk_pages(self._page_reader(filters, order_by, read), page_size, limit):
            for row in rows:
                yield {c: row.get(c) for c in wanted}

    async def _read_page(
        self,
        filters: tuple[Filter, ...],
        order_by: tuple[Order, ...],
        columns: tuple[str, ...] | None,
        size: int,
        cursor: str | None,
    ) -> tuple[builtins.list[dict[str, Any]], str | None]:
        # A modelled table's pages hold its light columns unless the caller narrowed them.
        read = columns or self.table.light_columns
        return await read_page(self._transport, self.table.name, read, filters, order_by, size, cursor)

    def _page_reader(
        self, filters: tuple[Filter, ...], order_by: tuple[Order, ...], columns: tuple[str, ...] | None
    ) -> ReadPage:
        return functools.partial(self._read_page, filters, order_by, columns)

    async def _iterate(
        self,
        filters: tuple[Filter, ...],
        order_by: tuple[Order, ...],
        page_size: int,
        limit: int | None,
        columns: tuple[str, ...] | None,
    ) -> AsyncIterator[RowT]:
        async for rows in walk_pages(self._page_reader(filters, order_by, columns), page_size, limit):
            for row in self._rows(rows):
                yield row

    async def _count(self, filters: Mapping[str, Any]) -> int:
        return await self._transport.count(Query(self.table.name, ("id",), self._filters(filters)))
