"""Row models built fast, from rows a database driver typed or from rows still to be validated.

Validating a page of rows into models costs more than fetching it: pydantic-core spends about 3 us on each
model instance, half of it on making the instance rather than on its fields (benchmarks/
client_overhead.py). :class:`RowFactory` reaches the same instances two cheaper ways:

* **typed rows** (``build(rows, typed=True)``), as psycopg decodes them: a column the driver already
  decodes into the field's type (uuid, timestamptz, text, integer, double precision, boolean) is taken as
  it is, which is all validation would do with it. What depends on the data rather than on the column's
  type is checked: a ``Literal`` column's value, the elements of an array, the shape of a JSON document.
  What the driver does not type is validated by pydantic, a column at a time: an embedding (pgvector's
  text form), nested models (``StepRecord``), constrained fields (``Pattern.layer``), any type this module
  does not know. ``tests/client/test_fast_rows.py`` holds the models to the schema this relies on.
* **untyped rows** (``typed=False``, e.g. JSON of unknown shape): every field is validated by pydantic-core
  into a plain dict (a ``TypedDict`` of the model's fields, with the same field types and constraints),
  which costs about half as much as validating into the model.

JSON rows of a known table reach the typed path too: :attr:`RowFactory.json_decoder` (msgspec) parses a
PostgREST body straight into the same Python types psycopg produces (UUIDs, aware datetimes, checked
``Literal`` strings), in about the time a plain JSON parse takes; what it cannot type (an embedding's text,
nested records, constrained fields) it leaves as JSON values, for the typed path to validate.

Either way the dict becomes the instance's ``__dict__`` as ``model_construct`` would set it, with the
fields in the model's order and defaults for the columns a query left out. Anything that does not fit (a
failed check, a missing required column, a model with validators or aliases) sends the rows through
``TypeAdapter(list[Model]).validate_python`` as before, so the result, or the error, is pydantic's own.
"""

from __future__ import annotations

import copy
import types
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, partial
from itertools import chain, repeat
from operator import is_not, itemgetter
from typing import Annotated, Any, Generic, Literal, TypeVar, Union, cast, get_args, get_origin
from uuid import UUID

import msgspec
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from typing_extensions import TypedDict

M = TypeVar("M", bound=BaseModel)

#: Python types psycopg decodes columns into (uuid, timestamptz, text, integer/bigint, double precision,
#: boolean) and that validation hands back unchanged.
_DRIVER_TYPES: frozenset[Any] = frozenset({UUID, datetime, str, int, float, bool})
#: Model settings that leave field validation as it is; a model with any other setting is always validated.
_NEUTRAL_CONFIG = frozenset({"extra", "populate_by_name", "validate_by_name", "validate_by_alias", "title"})
#: Plans cached per list of columns (callers choosing columns can make many): a bound, not a tuning knob.
_MAX_PLANS = 64

# An instance's state lives in BaseModel's four slots. Setting them through the slot descriptors is what
# model_construct does (via object.__setattr__) without its per-field Python loop: ~0.4 us an instance.
_SET_DICT = BaseModel.__dict__["__dict__"].__set__
_SET_FIELDS_SET = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_SET_EXTRA = BaseModel.__dict__["__pydantic_extra__"].__set__
_SET_PRIVATE = BaseModel.__dict__["__pydantic_private__"].__set__

#: Whether the values of one column are ones validation would return unchanged (one pass over them).
Check = Callable[[Iterable[Any]], bool]

_not_none = partial(is_not, None)


def _anything(values: Iterable[Any]) -> bool:
    return True


def _types(values: Iterable[Any]) -> set[type]:
    return set(map(type, values))


def _optional(annotation: Any) -> tuple[Any, bool]:
    """``(X, True)`` for ``X | None``, else ``(annotation, False)``."""
    args = get_args(annotation)
    if get_origin(annotation) in (Union, types.UnionType) and len(args) == 2 and type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return annotation, False


def _driver_typed(annotation: Any) -> bool:
    """A field whose column psycopg already decodes into the field's own type (or None)."""
    return annotation is Any or _optional(annotation)[0] in _DRIVER_TYPES


def _check(annotation: Any) -> Check | None:
    """A check that values decoded by the driver are ones validation returns unchanged (an equal value of
    the same types), or None when there is no such cheap check and the field has to be validated.

    The checks go over a whole column with C-level iteration (``map``, ``chain``), so checking 1,000 rows
    costs tens of microseconds a column. Scalars are checked by exact type: a JSON ``1`` in a
    ``list[float]`` fails the check and is validated (into ``1.0``) rather than kept as an int.
    """
    if annotation is Any:
        return _anything
    inner, optional = _optional(annotation)
    if optional:
        check_inner = _check(inner)
        if check_inner is None:
            return None
        return lambda values: check_inner(filter(_not_none, values))
    if inner in _DRIVER_TYPES:
        return lambda values: _types(values) <= {inner}
    origin, args = get_origin(inner), get_args(inner)
    if origin is Literal and all(type(a) is str for a in args):
        allowed = frozenset(args)

        def literal(values: Iterable[Any]) -> bool:
            distinct = set(values)
            return distinct <= allowed and _types(distinct) <= {str}

        return literal
    if origin is list and len(args) == 1:
        check_item = _check(args[0])
        if check_item is None:
            return None

        def array(values: Iterable[Any]) -> bool:
            values = list(values)
            return _types(values) <= {list} and check_item(chain.from_iterable(values))

        return array
    if origin is dict and len(args) == 2 and args[0] is str:
        check_value = _check(args[1])
        if check_value is None:
            return None

        def mapping(values: Iterable[Any]) -> bool:
            values = list(values)
            if not (_types(values) <= {dict} and _types(chain.from_iterable(values)) <= {str}):
                return False
            return check_value is _anything or check_value(chain.from_iterable(map(dict.values, values)))

        return mapping
    return None


def _json_type(annotation: Any) -> Any:
    """The type msgspec decodes a JSON value of this field into: the field's own type where msgspec makes
    exactly what psycopg would (and checks it as strictly), otherwise ``Any`` (left as JSON)."""
    if annotation is Any or annotation in _DRIVER_TYPES:
        return annotation
    inner, optional = _optional(annotation)
    if optional:
        decoded = _json_type(inner)
        return Any if decoded is Any else decoded | None
    origin, args = get_origin(inner), get_args(inner)
    if origin is Literal and all(type(a) is str for a in args):
        return inner
    if origin is list and len(args) == 1 and (item := _json_type(args[0])) is not Any:
        return list[item]  # type: ignore[valid-type]
    if origin is dict and len(args) == 2 and args[0] is str:
        return dict[str, _json_type(args[1])]  # type: ignore[misc]
    return Any


def _annotation(field: FieldInfo) -> Any:
    """The field's type with its constraints, as validation sees it."""
    return Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation


def _fresh_default(field: FieldInfo) -> Callable[[], Any] | None:
    """How to make the default of a field whose default is not shared between instances, or None.

    pydantic calls a ``default_factory`` for each instance and deep-copies an unhashable default.
    """
    if field.default_factory is not None:
        return cast(Callable[[], Any], field.default_factory)
    try:
        hash(field.default)
    except TypeError:
        default = field.default
        return lambda: copy.deepcopy(default)
    return None


def _mirrorable(model: type[BaseModel]) -> bool:
    """Whether building instances outside pydantic gives what validation gives: no validators, aliases,
    private attributes, ``__init__``/``__new__``/``model_post_init`` of its own, or settings that change
    how fields validate. Row models are plain; this guards against one growing any of these."""
    decorators = model.__pydantic_decorators__
    if (
        decorators.validators
        or decorators.field_validators
        or decorators.root_validators
        or decorators.model_validators
        or model.__pydantic_post_init__ is not None
        or model.__pydantic_custom_init__
        or model.__pydantic_root_model__
        or model.__private_attributes__
        or model.__new__ is not object.__new__
        or model.model_config.get("extra", "ignore") != "ignore"
        or not set(model.model_config) <= _NEUTRAL_CONFIG
    ):
        return False
    return all(
        f.alias is None
        and f.validation_alias is None
        and f.discriminator is None
        and not f.validate_default
        and not f.default_factory_takes_validated_data
        for f in model.model_fields.values()
    )


@dataclass(frozen=True, slots=True)
class _Plan:
    """How typed rows with one particular list of columns become instances."""

    #: The rows' keys are the model's fields in the model's order, so each row itself becomes ``__dict__``.
    reuse: bool
    #: The rows have keys that are not fields (ignored, as ``extra="ignore"`` ignores them).
    project: bool
    present: tuple[str, ...]
    fields_set: frozenset[str]
    checks: tuple[tuple[str, Check], ...]
    validated: tuple[tuple[str, TypeAdapter[list[Any]]], ...]
    #: Fields the rows leave out whose default is made anew for each instance.
    fresh: tuple[tuple[str, Callable[[], Any]], ...]


class RowFactory(Generic[M]):
    """Builds instances of one row model from rows; one per model (:func:`row_factory`)."""

    def __init__(self, model: type[M]) -> None:
        self.model = model
        #: False: every call validates the rows into the model (see :func:`_mirrorable`).
        self.mirrorable = _mirrorable(model)
        fields = model.model_fields
        self._names = tuple(fields)
        self._all_fields = frozenset(fields)
        self._required = frozenset(n for n, f in fields.items() if f.is_required())
        #: Every field in the model's order, holding its default (None where a row must give the value).
        self._template = {n: None if f.is_required() else f.default for n, f in fields.items()}
        self._fresh = {n: make for n, f in fields.items() if (make := _fresh_default(f)) is not None}
        self._plans: dict[tuple[tuple[str, ...], bool], _Plan | None] = {}

    @cached_property
    def adapter(self) -> TypeAdapter[list[M]]:
        """Validates a whole result set into models in one call into pydantic-core."""
        return TypeAdapter(list[self.model])  # type: ignore[name-defined]

    @cached_property
    def _checks(self) -> dict[str, Check | None]:
        # The fields typed rows cannot take as they are: a check, or None where they must be validated.
        return {
            name: None if field.metadata else _check(field.annotation)
            for name, field in self.model.model_fields.items()
            if field.metadata or not _driver_typed(field.annotation)
        }

    @cached_property
    def _column_adapters(self) -> dict[str, TypeAdapter[list[Any]]]:
        fields = self.model.model_fields
        return {
            name: TypeAdapter(list[_annotation(fields[name])])  # type: ignore[arg-type,misc]
            for name, check in self._checks.items()
            if check is None
        }

    @cached_property
    def _dicts_adapter(self) -> TypeAdapter[list[dict[str, Any]]]:
        # The model's fields as a TypedDict: the same field types and constraints, validated the same way,
        # into dicts holding only the fields a row gives (total=False), in the model's order.
        fields = {name: _annotation(field) for name, field in self.model.model_fields.items()}
        row_dict = cast(Any, TypedDict)(f"{self.model.__name__}Dict", fields, total=False)
        row_dict.__pydantic_config__ = ConfigDict(extra="ignore")
        return TypeAdapter(list[row_dict])  # type: ignore[valid-type]

    @cached_property
    def json_decoder(self) -> msgspec.json.Decoder[list[dict[str, Any]]]:
        """Decodes a JSON array of rows into dicts whose values are typed as psycopg types them.

        A field with constraints or a type msgspec would not make the same way is decoded as plain JSON
        (validated later, a column at a time); unknown keys are dropped. A value of the wrong type raises
        ``msgspec.ValidationError``: decode such a body as plain JSON and let validation say what is wrong.
        """
        fields = {
            name: Any if field.metadata else _json_type(field.annotation)
            for name, field in self.model.model_fields.items()
        }
        row_dict = cast(Any, TypedDict)(f"{self.model.__name__}Json", fields, total=False)
        return msgspec.json.Decoder(list[row_dict])  # type: ignore[valid-type]

    def typed_dicts(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """JSON rows validated into dicts of the field types (what ``build(..., typed=True)`` takes).

        A bad value raises the model's own ``ValidationError``, as validating the rows into models would.
        """
        try:
            return self._dicts_adapter.validate_python(rows)
        except ValidationError:
            self.adapter.validate_python(rows)  # the error located in the model, not in a TypedDict
            raise

    def build(self, rows: Sequence[Mapping[str, Any]], *, typed: bool) -> list[M]:
        """The rows as model instances, equal to ``adapter.validate_python(rows)`` in every way.

        ``typed``: the values are as a database driver decoded them (see the module's docstring), and the
        rows share one list of columns, as the rows of one statement do (rows of differing lengths are
        validated). Typed rows are taken over: a row that is a dict of the model's fields in order becomes
        an instance's ``__dict__``, so the caller must not use the rows afterwards.
        """
        if not rows:
            return []
        if not self.mirrorable:
            return self.adapter.validate_python(rows)
        return self._from_typed(rows) if typed else self._from_untyped(rows)

    def _plan(self, keys: tuple[str, ...], *, is_dict: bool) -> _Plan | None:
        key = (keys, is_dict)
        if key not in self._plans:
            if len(self._plans) >= _MAX_PLANS:
                self._plans.clear()
            self._plans[key] = self._make_plan(keys, is_dict=is_dict)
        return self._plans[key]

    def _make_plan(self, keys: tuple[str, ...], *, is_dict: bool) -> _Plan | None:
        given = frozenset(keys)
        if not self._required <= given:
            return None  # validation names the missing column
        present = tuple(n for n in self._names if n in given)
        return _Plan(
            reuse=is_dict and keys == self._names,
            project=not given <= self._all_fields,
            present=present,
            fields_set=frozenset(present),
            checks=tuple((n, c) for n, c in self._checks.items() if c is not None and n in given),
            validated=tuple((n, a) for n, a in self._column_adapters.items() if n in given),
            fresh=tuple((n, make) for n, make in self._fresh.items() if n not in given),
        )

    def _from_typed(self, rows: Sequence[Mapping[str, Any]]) -> list[M]:
        first = rows[0]
        plan = self._plan(tuple(first), is_dict=type(first) is dict)
        # The plan is the first row's; rows of one statement share its columns. Rows that do not (mixed by
        # hand) would most likely differ in length, which costs ~20 us per 1,000 rows to see.
        if plan is None or set(map(len, rows)) != {len(first)}:
            return self.adapter.validate_python(rows)
        # Everything that can fail runs before any row is touched, so the fallback sees the rows as given.
        try:
            for name, check in plan.checks:
                if not check(map(itemgetter(name), rows)):
                    return self.adapter.validate_python(rows)
            validated = [(n, a.validate_python(list(map(itemgetter(n), rows)))) for n, a in plan.validated]
        except (ValidationError, TypeError, KeyError):
            # TypeError: an unhashable value where a Literal's string goes; KeyError: rows of other columns.
            return self.adapter.validate_python(rows)
        if plan.reuse:
            dicts = cast(list[dict[str, Any]], rows if isinstance(rows, list) else list(rows))
        else:
            dicts = [
                self._complete({n: row[n] for n in plan.present} if plan.project else row, plan.fresh)
                for row in rows
            ]
        for name, values in validated:
            for d, value in zip(dicts, values, strict=True):
                d[name] = value
        return self._instances(dicts, repeat(plan.fields_set))

    def _from_untyped(self, rows: Sequence[Mapping[str, Any]]) -> list[M]:
        try:
            dicts = self._dicts_adapter.validate_python(rows)
        except ValidationError:
            return self.adapter.validate_python(rows)  # pydantic's own error, located in the model
        count = len(self._names)
        fields_sets = [self._all_fields] * len(dicts)
        for i, d in enumerate(dicts):
            if len(d) != count:  # a row without some columns: those fields get defaults and are not "set"
                if not self._required <= d.keys():
                    return self.adapter.validate_python(rows)
                fields_sets[i] = frozenset(d)
                dicts[i] = self._complete(d, tuple((n, f) for n, f in self._fresh.items() if n not in d))
        return self._instances(dicts, fields_sets)

    def _complete(
        self, row: Mapping[str, Any], fresh: tuple[tuple[str, Callable[[], Any]], ...]
    ) -> dict[str, Any]:
        # The template is in the model's order, and update() keeps a key where it already is.
        d = self._template.copy()
        d.update(row)
        for name, make in fresh:
            d[name] = make()
        return d

    def _instances(self, dicts: list[dict[str, Any]], fields_sets: Iterable[frozenset[str]]) -> list[M]:
        # Each step runs over all rows inside C (map over a slot descriptor's __set__, consumed by a
        # zero-length deque): ~15% faster than one Python loop doing the four steps per row.
        instances = list(map(object.__new__, repeat(self.model, len(dicts))))
        deque(map(_SET_DICT, instances, dicts), maxlen=0)
        # A fields set of its own per instance: assigning a field adds to it.
        deque(map(_SET_FIELDS_SET, instances, map(set, fields_sets)), maxlen=0)
        deque(map(_SET_EXTRA, instances, repeat(None)), maxlen=0)
        deque(map(_SET_PRIVATE, instances, repeat(None)), maxlen=0)
        return instances


_FACTORIES: dict[type[BaseModel], RowFactory[Any]] = {}


def row_factory(model: type[M]) -> RowFactory[M]:
    """The factory of ``model``, made once per model."""
    factory = _FACTORIES.get(model)
    if factory is None:
        factory = _FACTORIES[model] = RowFactory(model)
    return factory
