"""What every model shares: rows accept what the database sends, payloads reject what it would not."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, TypeVar
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .._extras import import_extra
from ..errors import InvalidInputError

EMBEDDING_DIMENSION = 768


class _Shown(str):
    """A value's short stand-in in a repr (printed as is, without quotes)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


_UUID_TEXT = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
#: Longer lists than this are summarised in a repr; longer text is cut.
_REPR_ITEMS = 5
_REPR_TEXT = 100


def _is_id(value: Any) -> bool:
    return isinstance(value, UUID) or (isinstance(value, str) and _UUID_TEXT.match(value) is not None)


def compact_value(value: Any) -> Any:
    """``value`` for a repr: lists of ids become "<N ids>", vectors "<N floats>", long text is cut."""
    if isinstance(value, list | tuple):
        if value and all(_is_id(v) for v in value) and len(value) > 1:
            return _Shown(f"<{len(value)} ids>")
        if len(value) > _REPR_ITEMS and all(isinstance(v, float | int) for v in value):
            return _Shown(f"<{len(value)} floats>")
        if len(value) > _REPR_ITEMS:
            shown = ", ".join(repr(compact_value(v)) for v in value[:3])
            return _Shown(f"[{shown}, … {len(value)} items]")
        return type(value)(compact_value(v) for v in value)
    if isinstance(value, dict):
        return {k: compact_value(v) for k, v in value.items()}
    if isinstance(value, str) and len(value) > _REPR_TEXT:
        return value[: _REPR_TEXT - 1] + "…"
    return value


class RowModel(BaseModel):
    """A row as read from the database. Unknown columns (added by a newer migration) are ignored.

    Its repr is compact: lists of ids (a pattern's evidence) show as how many there are, an embedding
    as its width, long text cut; the values themselves are untouched.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, compact_value(value)


#: What PostgreSQL cannot store in ``text`` or ``jsonb``: NUL, and UTF-16 surrogates (a lone one is not a
#: character; UTF-8 cannot encode it). One regex pass over each string finds either.
_UNSTORABLE_CHAR = re.compile("[\x00\ud800-\udfff]")


def _text_problem(text: str) -> str | None:
    match = _UNSTORABLE_CHAR.search(text)
    if match is None:
        return None
    if match.group() == "\x00":
        return "contains NUL (\\u0000), which PostgreSQL cannot store"
    return (
        f"contains a lone surrogate (\\u{ord(match.group()):04x}), which is not a character and PostgreSQL "
        "cannot store"
    )


def _key_text(key: Any) -> str:
    text = str(key)
    return text if text.isidentifier() else json.dumps(text)


def _has_unstorable(value: Any) -> bool:
    """The fast check: does ``value`` hold anything :func:`unstorable` would report? (No paths built.)

    Iterative, with the common cases inline: it runs on every field of every payload, bulk rows included.
    """
    search = _UNSTORABLE_CHAR.search
    kind = type(value)
    if kind is str:
        return search(value) is not None
    if kind is not dict and kind is not list and kind is not tuple:
        return isinstance(value, str | dict | list | tuple) and unstorable(value) is not None
    stack = [value]
    while stack:
        node = stack.pop()
        if type(node) is dict:
            for key in node:
                if type(key) is str and search(key) is not None:
                    return True
            items: Any = node.values()
        else:
            items = node
        for item in items:
            kind = type(item)
            if kind is str:
                if search(item) is not None:
                    return True
            elif kind is float:
                if not math.isfinite(item):
                    return True
            elif kind is dict or kind is list or kind is tuple:
                stack.append(item)
            elif isinstance(item, str | dict | list | tuple) and unstorable(item) is not None:
                return True
    return False


def unstorable(value: Any, path: str = "") -> tuple[str, str] | None:
    """``(path, problem)`` for the first thing in ``value`` that PostgreSQL cannot store, else None.

    Walks strings, and the dicts and lists of JSON values: NUL or a lone surrogate in a string or a key
    (``text`` and ``jsonb`` refuse both), or a NaN/infinite number inside JSON (which JSON cannot carry).
    ``path`` locates it inside ``value`` (``[3].content``). Models, numbers and the like are left alone.
    """
    if isinstance(value, str):
        problem = _text_problem(value)
        return (path, problem) if problem else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{_key_text(key)}" if path else _key_text(key)
            if isinstance(key, str) and (problem := _text_problem(key)):
                return inner, f"has a key that {problem}"
            found = unstorable(item, inner)
            if found:
                return found
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            if isinstance(item, float):
                if not math.isfinite(item):
                    return f"{path}[{i}]", f"is {item}, which JSON cannot carry"
                continue
            found = unstorable(item, f"{path}[{i}]")
            if found:
                return found
    elif isinstance(value, float) and path and not math.isfinite(value):
        return path, f"is {value}, which JSON cannot carry"
    return None


def _join(field: str, inner: str) -> str:
    if not inner:
        return field
    return f"{field}{inner}" if inner.startswith("[") else f"{field}.{inner}"


def check_storable(value: Any, *, field: str, what: str) -> None:
    """Raise :class:`InvalidInputError` naming ``field`` if ``value`` holds what PostgreSQL cannot store."""
    if not _has_unstorable(value):
        return
    found = unstorable(value)
    if found:
        inner, problem = found
        where = _join(field, inner)
        raise InvalidInputError(f"invalid {what}: {where}: {problem}", field=where, code="validation")


#: Bytes of UTF-8 a text column under a btree index may hold: PostgreSQL refuses an index row over 2704
#: bytes (54000, "index row size exceeds btree maximum"), and the row carries the key's other columns too.
INDEXED_TEXT_MAX_BYTES = 2000


def _check_indexed_text(value: str) -> str:
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > INDEXED_TEXT_MAX_BYTES:
        raise PydanticCustomError(
            "indexed_text_too_long",
            "is {size} bytes of UTF-8; an indexed text column holds at most {limit}",
            {"size": size, "limit": INDEXED_TEXT_MAX_BYTES},
        )
    return value


#: Text stored in a column with a btree index (a unique key): limited in bytes, not characters.
IndexedText = Annotated[str, AfterValidator(_check_indexed_text)]


class PayloadModel(BaseModel):
    """A create or update payload. Unknown fields are an error that names them, before any request.

    Text PostgreSQL cannot store (NUL, lone surrogates; NaN or infinity inside JSON) is refused here, by
    field, so a batch with one such value is refused whole before anything is sent: otherwise the database
    refuses it (22P05, 22021) after earlier batches were written, naming neither the row nor the field.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=False)

    @model_validator(mode="after")
    def _storable(self) -> Any:
        # One pass over the validated values (a validator per field cost 3x more on bulk_create's rows);
        # only when it finds something are the field and the path inside it worked out. The field goes in
        # the error's context, and error_location() adds it to the error's location (the model's).
        extra = self.__pydantic_extra__
        search = _UNSTORABLE_CHAR.search
        for value in self.__dict__.values():
            kind = type(value)
            if kind is str:
                if search(value) is not None:
                    break
            elif value is None or kind is bool or kind is int or kind is float:
                continue
            elif _has_unstorable(value):
                break
        else:
            if not (extra and _has_unstorable(extra)):
                return self
        for name, value in [*self.__dict__.items(), *(extra or {}).items()]:
            is_extra = bool(extra) and name in extra  # type: ignore[operator]
            key_problem = _text_problem(name) if is_extra else None
            found = ("", f"has a key that {key_problem}") if key_problem else unstorable(value)
            if found:
                inner, problem = found
                field = _join(_key_text(name) if is_extra else name, inner)
                raise PydanticCustomError("unstorable", "{problem}", {"problem": problem, "field": field})
        return self


def error_location(err: Any, start: int = 0) -> str:
    """A pydantic error's location (``messages.0.content``) from ``loc[start:]``.

    An unstorable-text error is raised by its model, so its own location is the model's; the field it
    names (with the path inside it) is appended.
    """
    parts = [str(p) for p in err["loc"][start:]]
    if err["type"] == "unstorable":
        parts.append(str(err["ctx"]["field"]))
    return ".".join(parts)


def _parse_embedding(value: Any) -> Any:
    # pgvector's text form "[0.1,0.2]" arrives from both PostgREST and psycopg (the type is not registered,
    # because on Supabase it lives in a schema that is not on every role's search_path).
    if isinstance(value, str):
        return json.loads(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _check_embedding(value: list[float]) -> list[float]:
    # Embeddings are sent in pgvector's text form, which needs numpy (the 'search' extra): say so here, at
    # validation, where the error reaches the caller as itself (a serializer would wrap it).
    import_extra("numpy", "memories with embeddings", "search")
    if len(value) != EMBEDDING_DIMENSION:
        raise ValueError(f"expected {EMBEDDING_DIMENSION} dimensions, got {len(value)}")
    if not all(math.isfinite(x) for x in value):
        raise ValueError("every dimension must be a finite number (no NaN or infinity)")
    return value


def _dump_embedding(value: list[float]) -> str:
    # The text form is what pgvector parses on both paths, and what a function argument needs (a float8[]
    # has no implicit cast to vector). Imported here: embeddings need numpy (the 'search' extra), which a
    # model that never carries an embedding should not load.
    from ..embeddings import vector_text

    return vector_text(value)


#: A 768-dimension embedding: validated on the way in, sent as pgvector's text form.
Embedding = Annotated[
    list[float],
    BeforeValidator(_parse_embedding),
    AfterValidator(_check_embedding),
    PlainSerializer(_dump_embedding, return_type=str),
]


def invalid_input_from(exc: ValidationError, *, what: str) -> InvalidInputError:
    """One readable :class:`InvalidInputError` naming every field pydantic rejected."""
    problems = []
    first_field: str | None = None
    for err in exc.errors(include_url=False):
        loc = error_location(err) or what
        first_field = first_field or loc
        if err["type"] == "extra_forbidden":
            problems.append(f"{loc}: unknown field")
        else:
            problems.append(f"{loc}: {err['msg']}")
    return InvalidInputError(f"invalid {what}: " + "; ".join(problems), field=first_field, code="validation")


_P = TypeVar("_P", bound=PayloadModel)


def as_uuid(value: UUID | str, field: str = "id") -> UUID:
    """``value`` as a UUID, or InvalidInputError naming the field (before any request)."""
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        raise InvalidInputError(f"{field} must be a UUID, got {value!r}", field=field) from None


def validate_payload(model: type[_P], data: Mapping[str, Any], *, what: str) -> _P:
    """Build a payload model, turning pydantic's error into InvalidInputError naming every bad field."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise invalid_input_from(exc, what=what) from None
