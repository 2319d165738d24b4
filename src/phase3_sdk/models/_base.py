"""What every model shares: rows accept what the database sends, payloads reject what it would not."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, PlainSerializer, ValidationError

from ..embeddings import vector_text
from ..errors import InvalidInputError

EMBEDDING_DIMENSION = 768


class RowModel(BaseModel):
    """A row as read from the database. Unknown columns (added by a newer migration) are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


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


def invalid_input_from(exc: ValidationError, *, what: str) -> InvalidInputError:
    """One readable :class:`InvalidInputError` naming every field pydantic rejected."""
    problems = []
    first_field: str | None = None
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or what
        first_field = first_field or loc
        if err["type"] == "extra_forbidden":
            problems.append(f"{loc}: unknown field")
        else:
            problems.append(f"{loc}: {err['msg']}")
    return InvalidInputError(f"invalid {what}: " + "; ".join(problems), field=first_field, code="validation")
