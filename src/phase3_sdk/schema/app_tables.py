"""Tables of the app that the SDK does not model (``client.table(name, row=Model)``), described purely.

An :class:`AppTableSpec` holds the table's name and the columns the caller's pydantic model names (or none,
for rows as dicts). It checks every name a request would carry (a plain identifier, and a column of the
model when there is one) and validates every value against its model field, so bad input is an
:class:`InvalidInputError` naming the field before any request, as for the SDK's own tables.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Union, cast, get_args, get_origin
from uuid import UUID

from pydantic import BaseModel, TypeAdapter, ValidationError

from ..backends.base import IDENTIFIER, Filter, FilterOp, Order
from ..errors import InvalidInputError
from ..models._base import check_storable, invalid_input_from

#: ``list(column__op=value)``: the operators after ``__``, named as PostgREST names them; no suffix is eq.
FILTER_OPS: frozenset[str] = frozenset({"eq", "neq", "gt", "gte", "lt", "lte", "in", "is", "cs", "ov"})

#: Every column, read when the table has no model (rows come back as dicts of whatever the table holds).
ALL_COLUMNS = ("*",)


def check_identifier(name: Any, *, what: str, field: str) -> str:
    """``name`` if it is a plain identifier, else InvalidInputError (before any request)."""
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise InvalidInputError(
            f"{what} must be a plain identifier (letters, digits, _), got {name!r}", field=field
        )
    return name


def _is_json_annotation(annotation: Any) -> bool:
    """A field holding a mapping or a model is a JSON document (jsonb) in the table, not an array."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(_is_json_annotation(a) for a in get_args(annotation) if a is not type(None))
    target = origin or annotation
    if isinstance(target, type):
        return issubclass(target, Mapping | BaseModel) or target is dict
    return False


def _is_json_value(value: Any) -> bool:
    return isinstance(value, dict) or (
        isinstance(value, list | tuple) and any(isinstance(v, dict) for v in value)
    )


@dataclass(frozen=True)
class AppTableSpec:
    """One app table: its name, and the caller's row model (None: rows are dicts, columns unchecked)."""

    name: str
    row: type[BaseModel] | None = None
    #: Columns holding JSON besides those the model's annotations say (mappings and models).
    extra_json: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def make(cls, name: Any, row: Any = None, json_columns: Sequence[str] = ()) -> AppTableSpec:
        """The spec, or InvalidInputError for a bad table name, model or column name."""
        check_identifier(name, what="a table name", field="name")
        if row is not None and not (isinstance(row, type) and issubclass(row, BaseModel)):
            raise InvalidInputError(f"row must be a pydantic model class, got {row!r}", field="row")
        if isinstance(json_columns, str):
            raise InvalidInputError("json_columns must be a list of column names", field="json_columns")
        spec = cls(name, row, frozenset(json_columns))
        for column in json_columns:
            spec.check_column(column, field="json_columns")
        if row is None:
            return spec
        for column in spec.model_columns:
            check_identifier(column, what=f"a column of {name} (a field of {row.__name__})", field=column)
        if "id" not in spec.model_columns:
            raise InvalidInputError(
                f"{row.__name__} has no id field: table() reads, updates and deletes rows by their id "
                "column, and inserts idempotently on it",
                field="row",
            )
        return spec

    @cached_property
    def fields(self) -> dict[str, Any]:
        """Column name -> the model's field annotation."""
        if self.row is None:
            return {}
        return {f.alias or n: f.annotation for n, f in self.row.model_fields.items()}

    @property
    def model_columns(self) -> tuple[str, ...]:
        """The model's columns (none without a model)."""
        return tuple(self.fields)

    @property
    def columns(self) -> tuple[str, ...]:
        """What a read selects: the model's columns, or every column."""
        return self.model_columns or ALL_COLUMNS

    @cached_property
    def json_columns(self) -> frozenset[str]:
        """Columns the model says hold JSON documents, plus those named when the table was made."""
        return self.extra_json | {c for c, a in self.fields.items() if _is_json_annotation(a)}

    @cached_property
    def generates_id(self) -> bool:
        """An insert without an id gets a client-made UUID (so a retried insert never duplicates): when the
        model's id is a UUID, or there is no model. Any other id type must be given by the caller."""
        if self.row is None:
            return True
        try:
            TypeAdapter(self.fields["id"]).validate_python(UUID(int=0), strict=True)
        except ValidationError:
            return False
        return True

    @cached_property
    def rows_adapter(self) -> TypeAdapter[list[Any]]:
        """Validates a result set into the model in one call."""
        return TypeAdapter(list[self.row])  # type: ignore[name-defined]

    def check_column(self, column: Any, *, field: str) -> str:
        """A column a request may name: a plain identifier, and a field of the model when there is one."""
        name = check_identifier(column, what="a column name", field=field)
        if self.row is not None and name not in self.fields:
            raise InvalidInputError(
                f"{self.name} ({self.row.__name__}) has no column {column!r} "
                f"(columns: {', '.join(self.model_columns)})",
                field=field,
            )
        return name

    def _adapter(self, column: str) -> TypeAdapter[Any] | None:
        return _adapter_for(self.row, column) if self.row is not None else None

    def value(self, column: str, value: Any, *, what: str) -> Any:
        """``value`` validated as the model's field ``column`` holds it (a JSON-ready Python value)."""
        adapter = self._adapter(column)
        if adapter is not None:
            try:
                value = adapter.dump_python(adapter.validate_python(value), mode="python")
            except ValidationError as exc:
                raise invalid_input_from(exc, what=f"{what} {column}") from None
        check_storable(value, field=column, what=what)
        return value

    def payload(self, data: Mapping[str, Any], *, what: str) -> dict[str, Any]:
        """A row to write: each key a known column, each value valid for its field."""
        if not isinstance(data, Mapping):
            raise InvalidInputError(f"{what} must be a mapping of column -> value", field="data")
        return {
            self.check_column(column, field=str(column)): self.value(column, value, what=what)
            for column, value in data.items()
        }

    def write_json_columns(self, rows: Sequence[Mapping[str, Any]]) -> frozenset[str]:
        """JSON columns of a write: the declared ones, and any column given an object (as ``rpc()`` does)."""
        given = {c for row in rows for c, v in row.items() if _is_json_value(v)}
        return self.json_columns | given

    def filters(self, given: Mapping[str, Any]) -> tuple[Filter, ...]:
        """``column=value`` (equality) and ``column__op=value`` keywords as backend filters."""
        found: list[Filter] = []
        for key, value in given.items():
            column, _, op = key.partition("__")
            op = op or "eq"
            if op not in FILTER_OPS:
                raise InvalidInputError(
                    f"unknown filter operator {op!r} in {key!r}; use one of: {', '.join(sorted(FILTER_OPS))}",
                    field=key,
                )
            self.check_column(column, field=key)
            found.append(Filter(column, cast(FilterOp, op), self._filter_value(column, op, value, key)))
        return tuple(found)

    def _filter_value(self, column: str, op: str, value: Any, key: str) -> Any:
        what = f"filter for {self.name}"
        if op == "is":
            if value not in (None, True, False):
                raise InvalidInputError(f"{key} takes None, True or False, got {value!r}", field=key)
            return value
        if op == "in":
            if isinstance(value, str | bytes) or not isinstance(value, Sequence | set | frozenset):
                raise InvalidInputError(f"{key} takes a list of values, got {value!r}", field=key)
            return [self.value(column, v, what=what) for v in value]
        if value is None:
            raise InvalidInputError(f"{key}=None matches nothing: use {column}__is=None", field=key)
        if op in ("cs", "ov"):
            # An array column: the operand is one element or a list of them; checked as such by the model.
            items = list(value) if isinstance(value, list | tuple | set | frozenset) else [value]
            return self.value(column, items, what=what)
        return self.value(column, value, what=what)

    def order(self, order: str | None) -> tuple[Order, ...]:
        """``"-col"`` -> col descending, then id as the tie-breaker keyset pagination needs (default: id).

        The order column must hold no NULLs (keyset pages compare values), as the SDK's tables guarantee.
        """
        spec = order or "id"
        descending = spec.startswith("-")
        column = self.check_column(spec.lstrip("-+"), field="order")
        if column == "id":
            return (Order("id", descending),)
        return (Order(column, descending), Order("id", descending))

    def id_value(self, id: Any) -> Any:
        """An id as the model's id field holds it."""
        return self.value("id", id, what=f"{self.name} id") if self.row is not None else id

    def rows(self, rows: list[dict[str, Any]]) -> list[Any]:
        """Rows as the caller's model (or the dicts themselves without one)."""
        if self.row is None:
            return rows
        try:
            return self.rows_adapter.validate_python(rows)
        except ValidationError as exc:
            # The table holds what the model does not: the model is the caller's to fix, not the input.
            raise invalid_input_from(exc, what=f"{self.name} row as {self.row.__name__}") from None


@functools.cache
def _adapter_for(model: type[BaseModel], column: str) -> TypeAdapter[Any]:
    # Built once per model field: making a TypeAdapter costs far more than using one.
    annotation = next(f.annotation for n, f in model.model_fields.items() if (f.alias or n) == column)
    return TypeAdapter(Any if annotation is None else annotation)


def id_filter(value: Any) -> tuple[Filter, ...]:
    """The filter picking one row by its id."""
    op: FilterOp = "eq"
    return (Filter("id", op, value),)
