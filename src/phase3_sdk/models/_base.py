"""What every model shares: rows accept what the database sends, payloads reject what it would not."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, PlainSerializer, ValidationError

from .._extras import import_extra
from ..errors import InvalidInput

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


class PayloadModel(BaseModel):
    """A create or update payload. Unknown fields are an error that names them, before any request."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=False)


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
