"""What every model shares: rows accept what the database sends, payloads reject what it would not."""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ..embeddings import vector_text
from ..errors import InvalidInput

EMBEDDING_DIMENSION = 768


class RowModel(BaseModel):
    """A row as read from the database. Unknown columns (added by a newer migration) are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


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


def check_storable(value: Any, *, field: str, what: str) -> None:
    """Raise :class:`InvalidInput` naming ``field`` if ``value`` holds anything PostgreSQL cannot store."""
    found = unstorable(value)
    if found:
        inner, problem = found
        where = f"{field}{'' if inner.startswith('[') or not inner else '.'}{inner}"
        raise InvalidInput(f"invalid {what}: {where}: {problem}", field=where, code="validation")


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

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any, info: Any) -> Any:
        found = unstorable(value)
        if found:
            inner, problem = found
            where = f" (at {info.field_name}{'' if inner.startswith('[') else '.'}{inner})" if inner else ""
            raise PydanticCustomError("unstorable", "{problem}{where}", {"problem": problem, "where": where})
        return value

    @model_validator(mode="after")
    def _storable_extras(self) -> Any:
        # Fields a model allows beyond its declared ones (a message's extra keys) are stored too.
        for key, value in (self.__pydantic_extra__ or {}).items():
            found = unstorable(value) or ((key, f"has a key that {p}") if (p := _text_problem(key)) else None)
            if found:
                inner, problem = found
                raise PydanticCustomError(
                    "unstorable",
                    "{key}: {problem}",
                    {"key": _key_text(key) + (inner and f" {inner}"), "problem": problem},
                )
        return self


def _parse_embedding(value: Any) -> Any:
    # pgvector's text form "[0.1,0.2]" arrives from both PostgREST and psycopg (the type is not registered,
    # because on Supabase it lives in a schema that is not on every role's search_path).
    if isinstance(value, str):
        return json.loads(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _check_embedding(value: list[float]) -> list[float]:
    if len(value) != EMBEDDING_DIMENSION:
        raise ValueError(f"expected {EMBEDDING_DIMENSION} dimensions, got {len(value)}")
    if not all(math.isfinite(x) for x in value):
        raise ValueError("every dimension must be a finite number (no NaN or infinity)")
    return value


def _dump_embedding(value: list[float]) -> str:
    # The text form is what pgvector parses on both paths, and what a function argument needs (a float8[]
    # has no implicit cast to vector).
    return vector_text(value)


#: A 768-dimension embedding: validated on the way in, sent as pgvector's text form.
Embedding = Annotated[
    list[float],
    BeforeValidator(_parse_embedding),
    AfterValidator(_check_embedding),
    PlainSerializer(_dump_embedding, return_type=str),
]


def invalid_input_from(exc: ValidationError, *, what: str) -> InvalidInput:
    """One readable :class:`InvalidInput` naming every field pydantic rejected."""
    problems = []
    first_field: str | None = None
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or what
        first_field = first_field or loc
        if err["type"] == "extra_forbidden":
            problems.append(f"{loc}: unknown field")
        else:
            problems.append(f"{loc}: {err['msg']}")
    return InvalidInput(f"invalid {what}: " + "; ".join(problems), field=first_field, code="validation")
