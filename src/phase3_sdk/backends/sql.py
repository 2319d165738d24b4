"""Turning the backend values into SQL, and psycopg errors into the SDK's errors.

Shared by the blocking and the asyncio Postgres backends. Identifiers are always quoted with
``psycopg.sql.Identifier`` and come from the SDK's table definitions; values are always bound parameters.
"""

from __future__ import annotations

import functools
import hashlib
import json
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._extras import missing_extra

try:
    import numpy as np
    import psycopg
    from psycopg import pq, sql
    from psycopg.abc import Buffer
    from psycopg.adapt import Dumper
    from psycopg.types.json import Jsonb
except ImportError as exc:
    raise missing_extra(exc, "the Postgres backend (connect(), local())", "postgres") from None
from pydantic_core import to_json

from ..errors import (
    Phase3ConnectionError,
    Phase3Error,
    Phase3TimeoutError,
    error_class_for,
    missing_user_error,
)
from ..identity import Identity
from .base import Delete, Filter, Insert, Keyset, Order, Query, Rpc, Update

SCHEMA = "public"

#: One statement sets both the role and the claims for the transaction, exactly as PostgREST does
#: (``set_config(..., true)`` is ``SET LOCAL``), so ``auth.uid()`` and the RLS policies hold.
SET_IDENTITY = sql.SQL("select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)")

_COMPARE = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def identity_params(identity: Identity) -> tuple[str, str]:
    """Parameters for :data:`SET_IDENTITY`."""
    return identity.role, identity.claims_json()


def _table(name: str) -> sql.Composable:
    return sql.Identifier(SCHEMA, name)


def _columns(columns: Iterable[str]) -> sql.Composable:
    names = tuple(columns)
    if names == ("*",):
        # Every column, as PostgREST's select=*: what the app's own tables read without a model.
        return sql.SQL("*")
    return sql.SQL(", ").join(sql.Identifier(c) for c in names)


def as_list(value: Any) -> list[Any]:
    """An array filter's operand: one value (``tag="x"``) means an array of that one value."""
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    return [value]


def _filter(f: Filter, params: list[Any]) -> sql.Composable:
    col = sql.Identifier(f.column)
    if f.op in _COMPARE:
        params.append(f.value)
        return sql.SQL("{} {} %s").format(col, sql.SQL(_COMPARE[f.op]))
    if f.op == "in":
        params.append(list(f.value))
        return sql.SQL("{} = any(%s)").format(col)
    if f.op == "is":
        keyword = {None: "null", True: "true", False: "false"}[f.value]
        return sql.SQL("{} is {}").format(col, sql.SQL(keyword))
    if f.op == "cs":
        params.append(as_list(f.value))
        return sql.SQL("{} @> %s").format(col)
    if f.op == "ov":
        params.append(as_list(f.value))
        return sql.SQL("{} && %s").format(col)
    raise ValueError(f"unknown filter operator {f.op!r}")  # pragma: no cover - FilterOp is closed


def _keyset(order: Sequence[Order], after: Keyset, params: list[Any]) -> sql.Composable:
    # (a > x) or (a = x and b > y) or ...: spelled out rather than a row comparison because the sort
    # directions may differ per column.
    alternatives: list[sql.Composable] = []
    for i, key in enumerate(order):
        terms: list[sql.Composable] = []
        for prev, value in zip(order[:i], after.values[:i], strict=True):
            params.append(value)
            terms.append(sql.SQL("{} = %s").format(sql.Identifier(prev.column)))
        params.append(after.values[i])
        terms.append(
            sql.SQL("{} {} %s").format(sql.Identifier(key.column), sql.SQL("<" if key.descending else ">"))
        )
        alternatives.append(sql.SQL("(") + sql.SQL(" and ").join(terms) + sql.SQL(")"))
    return sql.SQL("(") + sql.SQL(" or ").join(alternatives) + sql.SQL(")")


def where_clause(
    filters: Sequence[Filter], params: list[Any], order: Sequence[Order] = (), after: Keyset | None = None
) -> sql.Composable:
    """``where ...`` for the filters (and keyset position), or nothing."""
    parts = [_filter(f, params) for f in filters]
    if after is not None:
        parts.append(_keyset(order, after, params))
    if not parts:
        return sql.SQL("")
    return sql.SQL(" where ") + sql.SQL(" and ").join(parts)


def compile_select(query: Query) -> tuple[sql.Composed, list[Any]]:
    """SQL and parameters for a :class:`Query`."""
    params: list[Any] = []
    stmt = sql.SQL("select {} from {}").format(_columns(query.columns), _table(query.table))
    stmt += where_clause(query.filters, params, query.order, query.after)
    if query.order:
        stmt += sql.SQL(" order by ") + sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(o.column), sql.SQL("desc" if o.descending else "asc"))
            for o in query.order
        )
    if query.limit is not None:
        params.append(query.limit)
        stmt += sql.SQL(" limit %s")
    return stmt, params


def compile_count(query: Query) -> tuple[sql.Composed, list[Any]]:
    """SQL and parameters counting a :class:`Query`'s rows (its limit and position ignored)."""
    params: list[Any] = []
    stmt = sql.SQL("select count(*) as count from {}").format(_table(query.table))
    stmt += where_clause(query.filters, params)
    return stmt, params


def json_dumps(value: Any) -> str:
    """JSON text for a jsonb value. Unlike ``json.dumps`` it accepts what models hold (datetimes in a
    message, UUIDs in evidence), encoding them as the REST backend does."""
    return to_json(value).decode()


def adapt_value(column: str, value: Any, json_columns: frozenset[str]) -> Any:
    """Wrap JSON values so psycopg sends them as jsonb rather than as arrays."""
    if column in json_columns and value is not None:
        return Jsonb(value, dumps=json_dumps)
    return value


def compile_insert(op: Insert) -> tuple[sql.Composed, list[Any]]:
    """``insert ... on conflict (id) do nothing returning ...``: a retried insert is a no-op."""
    columns = sorted({c for row in op.rows for c in row})
    params: list[Any] = []
    values: list[sql.Composable] = []
    for row in op.rows:
        cells: list[sql.Composable] = []
        for c in columns:
            if c in row:
                params.append(adapt_value(c, row[c], op.json_columns))
                cells.append(sql.SQL("%s"))
            else:
                cells.append(sql.SQL("default"))
        values.append(sql.SQL("(") + sql.SQL(", ").join(cells) + sql.SQL(")"))
    stmt = sql.SQL("insert into {} ({}) values {} on conflict (id) do nothing returning {}").format(
        _table(op.table), _columns(columns), sql.SQL(", ").join(values), _columns(op.returning)
    )
    return stmt, params


def compile_select_ids(
    table: str, ids: Sequence[Any], returning: Sequence[str]
) -> tuple[sql.Composed, list[Any]]:
    """Read rows back by id (the rows an earlier attempt of a retried insert already wrote)."""
    stmt = sql.SQL("select {} from {} where id = any(%s)").format(_columns(returning), _table(table))
    return stmt, [list(ids)]


# -- bulk insert: COPY into a stage table, then INSERT ... SELECT -----------------------------------------
#
# COPY cannot write into a table with row-level security, and it has no ON CONFLICT. So a batch is copied
# (binary format) into a temporary table, then moved with one INSERT ... SELECT ... ON CONFLICT (id) DO
# NOTHING: RLS's WITH CHECK applies to every row exactly as for a plain insert, and a retried batch inserts
# nothing twice. The stage is created once per connection, role and column set, and is emptied at every
# commit (ON COMMIT DELETE ROWS): creating and dropping a temp table per batch cost ~2-4 ms of catalog work.

#: Column names, type oids and type names of a table, in column order.
TABLE_TYPES = sql.SQL(
    "select a.attname as name, a.atttypid::int as oid, t.typname as type"
    " from pg_catalog.pg_attribute a join pg_catalog.pg_type t on t.oid = a.atttypid"
    " where a.attrelid = pg_catalog.to_regclass(%s) and a.attnum > 0 and not a.attisdropped order by a.attnum"
)


def group_by_columns(
    rows: Sequence[Mapping[str, Any]],
) -> list[tuple[tuple[str, ...], list[Mapping[str, Any]]]]:
    """Rows grouped by the set of columns they give (absent columns get the table's defaults)."""
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    return list(groups.items())


def stage_name(role: str, table: str, columns: Sequence[str]) -> str:
    """The stage's name: one per role (a temp table belongs to the role that made it, and another role on
    the same pooled connection may not write to it) and per column set."""
    digest = hashlib.sha1("\0".join((role, table, *columns)).encode()).hexdigest()[:16]
    return f"phase3_stage_{digest}"


def compile_stage(table: str, stage: str, columns: Sequence[str]) -> sql.Composed:
    """A temporary table with the types of ``table``'s ``columns``, emptied at every commit."""
    return sql.SQL(
        "create temp table if not exists {} on commit delete rows as select {} from {} with no data"
    ).format(sql.Identifier(stage), _columns(columns), _table(table))


def compile_copy_stage(stage: str, columns: Sequence[str]) -> sql.Composed:
    """``copy <stage> (...) from stdin`` in binary format."""
    return sql.SQL("copy {} ({}) from stdin (format binary)").format(
        sql.Identifier("pg_temp", stage), _columns(columns)
    )


def compile_insert_from_stage(
    table: str, stage: str, columns: Sequence[str], returning: Sequence[str]
) -> sql.Composed:
    """Move a stage's rows into ``table``; rows whose id is already there are skipped."""
    return sql.SQL("insert into {} ({}) select {} from {} on conflict (id) do nothing returning {}").format(
        _table(table),
        _columns(columns),
        _columns(columns),
        sql.Identifier("pg_temp", stage),
        _columns(returning),
    )


_VECTOR_HEADER = struct.Struct(">HH")


def encode_vectors(values: Sequence[Any]) -> list[Any]:
    """A bulk insert's vector column, encoded for :func:`vector_binary_dumper` in one numpy pass.

    When every value is a float32 array of one width (what ``bulk_create`` sends), the whole column becomes
    one buffer of pgvector binary rows and each value a ``bytes`` slice of it: ~1 us per 768-float row
    instead of ~6 us converting row by row. Anything else is left for the dumper to convert.
    """
    arrays = [v for v in values if v is not None]
    if not arrays or not all(isinstance(v, np.ndarray) and v.ndim == 1 for v in arrays):
        return list(values)
    width = arrays[0].shape[0]
    if any(v.shape[0] != width for v in arrays):
        return list(values)
    encoded = np.empty((len(arrays), 4 + 4 * width), dtype=np.uint8)
    encoded[:, :4] = np.frombuffer(_VECTOR_HEADER.pack(width, 0), dtype=np.uint8)
    encoded[:, 4:] = np.stack(arrays).astype(">f4").view(np.uint8)
    rows = iter(encoded)
    return [None if v is None else next(rows).tobytes() for v in values]


def vector_binary_dumper(oid: int) -> type[Dumper]:
    """A binary COPY dumper for pgvector's ``vector`` with the database's own type oid.

    pgvector's binary form is ``int16 dimensions, int16 unused, float32[dimensions]``, all big-endian;
    numpy writes it in one call, which is what makes a 768-float embedding cheap to send (text form costs
    ~100 us per row to format). Accepts ``bytes`` already in that form (:func:`encode_vectors`), numpy
    arrays, float sequences and pgvector's text form.
    """

    class VectorBinaryDumper(Dumper):
        format = pq.Format.BINARY

        def dump(self, obj: Any) -> Buffer:
            if isinstance(obj, bytes):
                return obj
            if isinstance(obj, str):
                obj = json.loads(obj)
            values = np.asarray(obj, dtype=">f4")
            if values.ndim != 1:
                raise ValueError(f"a vector must be one-dimensional, got shape {values.shape}")
            return _VECTOR_HEADER.pack(values.shape[0], 0) + values.tobytes()

    VectorBinaryDumper.oid = oid
    return VectorBinaryDumper


def jsonb_binary_dumper(oid: int) -> type[Dumper]:
    """A binary COPY dumper for ``jsonb`` (version byte 1, then the JSON text) encoding with pydantic-core:
    ~4x faster than psycopg's default ``json.dumps`` and, like :func:`json_dumps`, it accepts datetimes."""

    class JsonbBinaryDumper(Dumper):
        format = pq.Format.BINARY

        def dump(self, obj: Any) -> Buffer:
            return b"\x01" + to_json(obj)

    JsonbBinaryDumper.oid = oid
    return JsonbBinaryDumper


_ARRAY_HEADER = struct.Struct(">iiIii")  # dimensions, has nulls, element type, length, lower bound
_EMPTY_ARRAY = struct.Struct(">iiI")  # an empty array has no dimensions
_TEXT_OID = 25


def text_array_binary_dumper(oid: int) -> type[Dumper]:
    """A binary COPY dumper for ``text[]`` from a list of strings (None allowed): psycopg's generic list
    dumper costs ~5 us per value, this ~1 us (a memory's topic lists are short)."""

    class TextArrayBinaryDumper(Dumper):
        format = pq.Format.BINARY

        def dump(self, obj: Any) -> Buffer:
            if not obj:
                return _EMPTY_ARRAY.pack(0, 0, _TEXT_OID)
            parts = [b""]
            nulls = 0
            for item in obj:
                if item is None:
                    nulls = 1
                    parts.append(b"\xff\xff\xff\xff")
                else:
                    data = str(item).encode()
                    parts.append(len(data).to_bytes(4, "big") + data)
            parts[0] = _ARRAY_HEADER.pack(1, nulls, _TEXT_OID, len(obj), 1)
            return b"".join(parts)

    TextArrayBinaryDumper.oid = oid
    return TextArrayBinaryDumper


#: Faster binary COPY dumpers than psycopg's defaults, by type name (see each).
BULK_DUMPERS = {
    "vector": vector_binary_dumper,
    "jsonb": jsonb_binary_dumper,
    "_text": text_array_binary_dumper,
}


def compile_update(op: Update) -> tuple[sql.Composed, list[Any]]:
    """``update ... set ... where ... returning ...``."""
    params: list[Any] = []
    assignments: list[sql.Composable] = []
    for column, value in op.values.items():
        params.append(adapt_value(column, value, op.json_columns))
        assignments.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
    stmt = sql.SQL("update {} set {}").format(_table(op.table), sql.SQL(", ").join(assignments))
    stmt += where_clause(op.filters, params)
    stmt += sql.SQL(" returning {}").format(_columns(op.returning))
    return stmt, params


def compile_delete(op: Delete) -> tuple[sql.Composed, list[Any]]:
    """``delete from ... where ... returning ...``."""
    params: list[Any] = []
    stmt = sql.SQL("delete from {}").format(_table(op.table))
    stmt += where_clause(op.filters, params)
    stmt += sql.SQL(" returning {}").format(_columns(op.returning))
    return stmt, params


def compile_rpc(op: Rpc) -> tuple[bytes, list[Any]]:
    """A function call with named arguments (``name => value``), as PostgREST calls it."""
    params = [
        Jsonb(value, dumps=json_dumps) if op.casts.get(name) == "jsonb" and value is not None else value
        for name, value in op.args.items()
    ]
    names = tuple(op.args)
    casts = tuple(op.casts.get(n) for n in names)
    return _rpc_statement(op.function, names, casts, op.returns, json=op.json), params


@functools.lru_cache(maxsize=256)
def _rpc_statement(
    function: str, names: tuple[str, ...], casts: tuple[str | None, ...], returns: str, *, json: bool = False
) -> bytes:
    # The text depends only on the call's shape, which a program has few of; composing and quoting it
    # anew took ~0.2 ms of every search.
    args = [
        sql.SQL("{} => ").format(sql.Identifier(name))
        + (sql.SQL("%s::{}").format(sql.SQL(cast)) if cast else sql.SQL("%s"))
        for name, cast in zip(names, casts, strict=True)
    ]
    call = sql.SQL("{}({})").format(_table(function), sql.SQL(", ").join(args))
    if json:
        # As PostgREST answers: to_jsonb of the row alias is an object for a composite result and the
        # value itself for a scalar one (a function in FROM returning a base type names that value).
        if returns == "rows":
            return (sql.SQL("select to_jsonb(r) as value from ") + call + sql.SQL(" r")).as_bytes(None)
        return (sql.SQL("select to_jsonb(") + call + sql.SQL(") as value")).as_bytes(None)
    statement = (
        sql.SQL("select * from ") + call
        if returns == "rows"
        else sql.SQL("select ") + call + sql.SQL(" as value")
    )
    return statement.as_bytes(None)


def map_error(exc: BaseException) -> Phase3Error:
    """The SDK error for a psycopg or pool error."""
    if isinstance(exc, Phase3Error):
        return exc
    from psycopg_pool import PoolTimeout

    if isinstance(exc, PoolTimeout):
        # The pool hides why: either every connection is busy, or none could be opened at all (a wrong
        # URL, a server down), which the pool only logs. Say both, since the caller cannot tell them apart.
        return Phase3TimeoutError(
            f"could not get a database connection in time: {exc}",
            code="pool_timeout",
            hint="check that the database is reachable at that URL (psycopg_pool logs each failed connect); "
            "if it is, the pool is exhausted: raise max_connections or close idle clients",
        )
    if isinstance(exc, psycopg.Error):
        diag = exc.diag
        code = exc.sqlstate
        message = diag.message_primary or str(exc).strip() or type(exc).__name__
        if code is None:
            # No SQLSTATE: the connection itself failed (refused, reset, closed by the server).
            return Phase3ConnectionError(f"database connection failed: {message}", code="connection")
        missing = missing_user_error(code, message, diag.message_detail)
        if missing is not None:
            return missing
        cls = error_class_for(code)
        return cls(message, code=code, details=diag.message_detail, hint=diag.message_hint)
    return Phase3ConnectionError(f"{type(exc).__name__}: {exc}", code="connection")


def rows_by_id(rows: Iterable[Mapping[str, Any]]) -> dict[Any, dict[str, Any]]:
    """Index rows by their ``id`` column."""
    return {row["id"]: dict(row) for row in rows}
