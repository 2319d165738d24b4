"""The backend protocol and the small values resources describe their requests with.

Resources build a :class:`Query` (table, filters, order, keyset position, limit) and hand it to a
backend together with the caller's :class:`~phase3_sdk.identity.Identity`. Backends turn it into SQL or
a PostgREST URL; they never see a model, and resources never see HTTP or SQL. Table, column and
function names in these values come only from the SDK's own table definitions, never from user input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..identity import Identity

#: Filter operators, named as PostgREST names them.
#: eq/neq/gt/gte/lt/lte compare; ``in`` takes a sequence; ``is`` takes None/True/False;
#: ``cs`` (array contains all of), ``ov`` (array overlaps any of).
FilterOp = Literal["eq", "neq", "gt", "gte", "lt", "lte", "in", "is", "cs", "ov"]

RpcReturns = Literal["rows", "scalar", "none"]

#: The cast of an :class:`Rpc` argument holding a vector (``conversations.embedding``'s type). Such an
#: argument may be a float32 numpy array (a checked embedding): each backend sends it its own way (the
#: Postgres backend in pgvector's binary form, the REST backend as pgvector's text form in the JSON body).
VECTOR_CAST = "extensions.vector"

#: A table, column, function or argument name the SDK takes from a caller and passes on as is: a plain,
#: unquoted PostgreSQL identifier (what PostgREST reads without quoting; the SQL compiler quotes it too).
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True, slots=True)
class Filter:
    """``column <op> value``."""

    column: str
    op: FilterOp
    value: Any


@dataclass(frozen=True, slots=True)
class Order:
    """One sort key. Keyset pagination needs every sort column non-null, which the tables guarantee."""

    column: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Keyset:
    """Rows strictly after ``values`` in the order given by the query's ``order``.

    ``values`` has one entry per order column; the last order column is always the primary key, so the
    position is unique and no row is skipped or repeated between pages.
    """

    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Query:
    """A read of one table."""

    table: str
    columns: tuple[str, ...]
    filters: tuple[Filter, ...] = ()
    order: tuple[Order, ...] = ()
    after: Keyset | None = None
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class Insert:
    """New rows for one table. Every row carries a client-generated ``id``, so a retried insert of the
    same payload is recognised and never duplicates (``ON CONFLICT (id) DO NOTHING`` then read back)."""

    table: str
    rows: Sequence[Mapping[str, Any]]
    returning: tuple[str, ...]
    #: Columns holding JSON (a list there is a JSON array, not a SQL array).
    json_columns: frozenset[str] = frozenset()
    #: A large batch where speed matters more than a statement per batch: a backend that can (Postgres)
    #: stages the rows with COPY and inserts them from there, idempotently by id as always; others insert
    #: as usual. Values of ``vector`` columns may then be float sequences or numpy arrays.
    bulk: bool = False


@dataclass(frozen=True, slots=True)
class Update:
    """Set ``values`` on the rows matching ``filters``."""

    table: str
    filters: tuple[Filter, ...]
    values: Mapping[str, Any]
    returning: tuple[str, ...]
    json_columns: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Delete:
    """Delete the rows matching ``filters``."""

    table: str
    filters: tuple[Filter, ...]
    returning: tuple[str, ...] = ("id",)


@dataclass(frozen=True, slots=True)
class Rpc:
    """Call a database function with named arguments.

    ``returns`` says how to read the answer: rows of a set-returning function, one scalar, or nothing.
    ``casts`` names the SQL type of arguments that a plain JSON value cannot carry (e.g. a vector), for
    backends that bind parameters by type; an argument cast to :data:`VECTOR_CAST` may be a float32 numpy
    array rather than pgvector's text form.
    """

    function: str
    args: Mapping[str, Any] = field(default_factory=dict)
    returns: RpcReturns = "rows"
    casts: Mapping[str, str] = field(default_factory=dict)
    #: Answer with the JSON values PostgREST would send (a set of a scalar type as a list of scalars, a
    #: composite as an object, UUIDs and times as strings), for the app's own functions the SDK has no
    #: model for, so both backends give the same values. The SDK's own calls keep the driver's types.
    json: bool = False


class AsyncBackend(Protocol):
    """What the async client needs from a backend. Each call is one request or one transaction.

    Its capabilities are declared as attributes (below), read directly, never guessed with ``getattr``.
    """

    @property
    def typed_rows(self) -> bool:
        """The table rows it returns (select, insert, update, delete) hold values typed as psycopg types
        them (UUID, aware datetime, decoded JSON), so resources skip re-validating those; False: rows are
        fully validated. Both backends say True (REST decodes with msgspec); RPC results always are."""
        ...

    @property
    def bulk_copy(self) -> bool:
        """``Insert(bulk=True)`` goes through binary COPY, so vectors may stay numpy arrays (else they are
        sent as pgvector's text form)."""
        ...

    @property
    def has_service_key(self) -> bool:
        """It holds a key that may act as the service role (``client.service()`` checks it)."""
        ...

    @property
    def max_rows(self) -> int | None:
        """The most rows one read may return (PostgREST's ``db-max-rows``); None where nothing caps reads."""
        ...

    async def select(self, query: Query, identity: Identity) -> list[dict[str, Any]]:
        """Rows of ``query``."""
        ...

    async def count(self, query: Query, identity: Identity) -> int:
        """How many rows ``query`` would return without its limit."""
        ...

    async def insert(self, op: Insert, identity: Identity) -> list[dict[str, Any]]:
        """Insert rows (idempotently by id) and return them."""
        ...

    async def update(self, op: Update, identity: Identity) -> list[dict[str, Any]]:
        """Update matching rows and return them as they are now."""
        ...

    async def delete(self, op: Delete, identity: Identity) -> list[dict[str, Any]]:
        """Delete matching rows and return them."""
        ...

    async def rpc(self, op: Rpc, identity: Identity) -> Any:
        """Call a function; rows, a scalar or None as ``op.returns`` says."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class SyncBackend(Protocol):
    """The blocking twin of :class:`AsyncBackend`."""

    @property
    def typed_rows(self) -> bool:
        """The table rows it returns (select, insert, update, delete) hold values typed as psycopg types
        them (UUID, aware datetime, decoded JSON), so resources skip re-validating those; False: rows are
        fully validated. Both backends say True (REST decodes with msgspec); RPC results always are."""
        ...

    @property
    def bulk_copy(self) -> bool:
        """``Insert(bulk=True)`` goes through binary COPY, so vectors may stay numpy arrays (else they are
        sent as pgvector's text form)."""
        ...

    @property
    def has_service_key(self) -> bool:
        """It holds a key that may act as the service role (``client.service()`` checks it)."""
        ...

    @property
    def max_rows(self) -> int | None:
        """The most rows one read may return (PostgREST's ``db-max-rows``); None where nothing caps reads."""
        ...

    def select(self, query: Query, identity: Identity) -> list[dict[str, Any]]:
        """Rows of ``query``."""
        ...

    def count(self, query: Query, identity: Identity) -> int:
        """How many rows ``query`` would return without its limit."""
        ...

    def insert(self, op: Insert, identity: Identity) -> list[dict[str, Any]]:
        """Insert rows (idempotently by id) and return them."""
        ...

    def update(self, op: Update, identity: Identity) -> list[dict[str, Any]]:
        """Update matching rows and return them as they are now."""
        ...

    def delete(self, op: Delete, identity: Identity) -> list[dict[str, Any]]:
        """Delete matching rows and return them."""
        ...

    def rpc(self, op: Rpc, identity: Identity) -> Any:
        """Call a function; rows, a scalar or None as ``op.returns`` says."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


#: Direct-connection defaults, stated once (here, so that the client can name them without importing
#: psycopg): connections wait up to 10 s for a free slot; a statement runs up to 30 s.
DEFAULT_POOL_MIN = 1
DEFAULT_POOL_MAX = 10
DEFAULT_STATEMENT_TIMEOUT_MS = 30_000


def row_owner(op: object) -> Any:
    """The one ``user_id`` the rows of an insert are written for (a service client's ``user_id=``), if any."""
    rows = getattr(op, "rows", None)
    if not isinstance(rows, Sequence):
        return None
    owners = {row.get("user_id") for row in rows if isinstance(row, Mapping)}
    return owners.pop() if len(owners) == 1 else None
