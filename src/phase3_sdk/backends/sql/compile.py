"""Turning the backend values (``Query``, ``Insert``, ...) into SQL and bound parameters.

Identifiers are always quoted with ``psycopg.sql.Identifier`` and come from the SDK's table definitions;
values are always bound parameters.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..._extras import missing_extra

try:
    from psycopg import sql
    from psycopg.types.json import Jsonb
except ImportError as exc:
    raise missing_extra(exc, "the Postgres backend (connect(), local())", "postgres") from None
from pydantic_core import to_json

from ...identity import Identity
from ..base import VECTOR_CAST, Delete, Filter, Insert, Keyset, Order, Query, Rpc, Update
from .dumpers import BinaryVector

SCHEMA = "public"

#: One statement sets both the role and the claims for the transaction, exactly as PostgREST does
#: (``set_config(..., true)`` is ``SET LOCAL``), so ``auth.uid()`` and the RLS policies hold.
SET_IDENTITY = sql.SQL("select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)")

_COMPARE = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def identity_params(identity: Identity) -> tuple[str, str]:
    """Parameters for :data:`SET_IDENTITY`."""
    return identity.role, identity.claims_json()


def table_sql(name: str) -> sql.Composable:
    """A table (or function) of the SDK's schema, quoted."""
    return sql.Identifier(SCHEMA, name)


def columns_sql(columns: Iterable[str]) -> sql.Composable:
    """A quoted, comma-separated column list; ``("*",)`` is every column."""
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
    stmt = sql.SQL("select {} from {}").format(columns_sql(query.columns), table_sql(query.table))
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
    stmt = sql.SQL("select count(*) as count from {}").format(table_sql(query.table))
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
        table_sql(op.table), columns_sql(columns), sql.SQL(", ").join(values), columns_sql(op.returning)
    )
    return stmt, params


def compile_select_ids(
    table: str, ids: Sequence[Any], returning: Sequence[str]
) -> tuple[sql.Composed, list[Any]]:
    """Read rows back by id (the rows an earlier attempt of a retried insert already wrote)."""
    stmt = sql.SQL("select {} from {} where id = any(%s)").format(columns_sql(returning), table_sql(table))
    return stmt, [list(ids)]


def compile_update(op: Update) -> tuple[sql.Composed, list[Any]]:
    """``update ... set ... where ... returning ...``."""
    params: list[Any] = []
    assignments: list[sql.Composable] = []
    for column, value in op.values.items():
        params.append(adapt_value(column, value, op.json_columns))
        assignments.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
    stmt = sql.SQL("update {} set {}").format(table_sql(op.table), sql.SQL(", ").join(assignments))
    stmt += where_clause(op.filters, params)
    stmt += sql.SQL(" returning {}").format(columns_sql(op.returning))
    return stmt, params


def compile_delete(op: Delete) -> tuple[sql.Composed, list[Any]]:
    """``delete from ... where ... returning ...``."""
    params: list[Any] = []
    stmt = sql.SQL("delete from {}").format(table_sql(op.table))
    stmt += where_clause(op.filters, params)
    stmt += sql.SQL(" returning {}").format(columns_sql(op.returning))
    return stmt, params


def _rpc_param(value: Any, cast: str | None) -> Any:
    if value is None:
        return None
    if cast == "jsonb":
        return Jsonb(value, dumps=json_dumps)
    if cast == VECTOR_CAST and not isinstance(value, str):
        # Floats go in binary (a vector's text form stays text): see BinaryVector.
        return BinaryVector.of(value)
    return value


def compile_rpc(op: Rpc) -> tuple[bytes, list[Any]]:
    """A function call with named arguments (``name => value``), as PostgREST calls it. A vector given as
    floats is bound in pgvector's binary form (:class:`~.dumpers.BinaryVector`)."""
    names = tuple(op.args)
    casts = tuple(op.casts.get(n) for n in names)
    params = [_rpc_param(value, cast) for value, cast in zip(op.args.values(), casts, strict=True)]
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
    call = sql.SQL("{}({})").format(table_sql(function), sql.SQL(", ").join(args))
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


def rows_by_id(rows: Iterable[Mapping[str, Any]]) -> dict[Any, dict[str, Any]]:
    """Index rows by their ``id`` column."""
    return {row["id"]: dict(row) for row in rows}
