"""Memories on their way in: ``bulk_create``'s rows checked in one pass, the text embedded on write, and
the warning for memories stored without an embedding.

Pure (no I/O), so both clients share this one copy; ``_async/resources/conversations.py`` does the
writing and the embedder calls.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pydantic import Field, TypeAdapter, ValidationError

from .._extras import missing_extra
from ..errors import ConfigurationError, InvalidInputError, MissingEmbeddingsWarning
from ._base import as_uuid, error_location
from .memory import ConversationCreate, MessageDict

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


class _BulkRow(ConversationCreate):
    """A row of ``bulk_create`` without its embedding (checked apart, vectorised): a create payload plus
    what an import may carry over. Messages validate into plain dicts (:class:`MessageDict`), which costs
    a sixth of building :class:`Message` models and needs no dump afterwards."""

    messages: list[MessageDict] = Field(min_length=1)  # type: ignore[assignment]
    id: UUID | None = None
    is_deleted: bool = False
    updated_at: datetime | None = None


_BULK_ROWS = TypeAdapter(list[_BulkRow])

#: Columns whose database default is not NULL: a row without a value there leaves the column out, so the
#: default applies (every other optional column defaults to NULL, so None is sent as it is).
_DEFAULTED = ("created_at", "updated_at")


def _row_error(exc: ValidationError, start: int) -> InvalidInputError:
    """InvalidInputError for the first bad row of a chunk (``rows[i]``), naming each of its bad fields."""
    errors = exc.errors(include_url=False)
    first = min(int(e["loc"][0]) for e in errors)
    problems, fields = [], []
    for err in errors:
        if int(err["loc"][0]) != first:
            continue
        loc = error_location(err, 1)
        fields.append(f"rows[{start + first}].{loc}" if loc else f"rows[{start + first}]")
        problems.append(
            f"{loc or 'row'}: {'unknown field' if err['type'] == 'extra_forbidden' else err['msg']}"
        )
    return InvalidInputError(
        f"invalid rows[{start + first}]: " + "; ".join(problems), field=fields[0], code="validation"
    )


def _embeddings(values: list[Any], indices: list[int]) -> npt.NDArray[np.float32]:
    """The embeddings of a chunk as one (n, 768) float32 array, checked in one numpy pass.

    Only when the fast check fails are rows looked at one by one, to name the first bad one.
    """
    # Imported here: embeddings need numpy (the 'search' extra); memories without them do not.
    try:
        import numpy as np
    except ImportError as exc:
        raise missing_extra(exc, "memories with embeddings", "search") from None
    from ..embeddings import EMBEDDING_DIMENSION, check_dimension

    try:
        with np.errstate(over="ignore"):  # an overflow shows as infinity, caught below
            matrix = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError):  # ragged or not numbers: find the row
        matrix = np.empty((0,), dtype=np.float32)
    if matrix.shape == (len(values), EMBEDDING_DIMENSION):
        finite = np.isfinite(matrix).all(axis=1)
        if bool(finite.all()):
            return matrix
        bad = [int(np.flatnonzero(~finite)[0])]
    else:
        bad = range(len(values))  # type: ignore[assignment]
    for k in bad:
        field = f"rows[{indices[k]}].embedding"
        # check_dimension raises for a wrong shape, non-numbers, NaN and infinity; a value finite as float64
        # but not as float32 (|x| > 3.4e38) passes it, so that is checked here.
        with np.errstate(over="ignore"):
            narrowed = check_dimension(values[k], field=field)
        if not np.isfinite(narrowed).all():
            raise InvalidInputError(f"{field} has values beyond float32's range", field=field)
    raise AssertionError("unreachable: a bad embedding was not found")  # pragma: no cover


def bulk_chunk(rows: Sequence[Any], start: int, owner: UUID, *, binary: bool) -> list[dict[str, Any]]:
    """Validate ``rows`` (``rows[start:]`` of the call) and return them ready for the backend.

    One pydantic call validates the chunk's scalar fields and one numpy pass its embeddings; the
    first bad row raises :class:`InvalidInputError` naming ``rows[i].field``.
    """
    data: list[dict[str, Any]] = []
    vectors: list[Any] = []
    with_vector: list[int] = []
    for k, row in enumerate(rows):
        i = start + k
        if not isinstance(row, Mapping):
            raise InvalidInputError(f"rows[{i}] must be a mapping of column values", field=f"rows[{i}]")
        item = dict(row)
        row_owner = item.pop("user_id", None)
        if row_owner is not None and row_owner != owner and as_uuid(row_owner, f"rows[{i}].user_id") != owner:
            raise InvalidInputError(
                f"rows[{i}].user_id is not the user this call writes for", field=f"rows[{i}].user_id"
            )
        if "embedding" in item:
            vector = item.pop("embedding")
            if vector is not None:  # None and absent alike store NULL
                vectors.append(vector)
                with_vector.append(k)
        data.append(item)
    try:
        payloads = _BULK_ROWS.validate_python(data)
    except ValidationError as exc:
        raise _row_error(exc, start) from None
    matrix = _embeddings(vectors, [start + k for k in with_vector]) if vectors else None
    out: list[dict[str, Any]] = []
    for payload in payloads:
        # The validated fields as they are (no model_dump: the values are already what the backend sends).
        fields = dict(payload.__dict__)
        for column in _DEFAULTED:
            if fields[column] is None:
                del fields[column]
        for message in fields["messages"]:
            message.setdefault("timestamp", None)  # as Message models store it
        fields["id"] = payload.id or uuid.uuid4()
        fields["user_id"] = owner
        fields["embedding"] = None
        out.append(fields)
    if matrix is not None:
        from ..embeddings import vector_text

        for k, vector in zip(with_vector, matrix, strict=True):
            # COPY sends float32 rows as binary vectors; JSON (REST) needs pgvector's text form.
            out[k]["embedding"] = vector if binary else vector_text(vector)
    return out


# -- embedding on write --------------------------------------------------------------------------------
# A memory stored without an embedding is invisible to semantic search (its query side embeds text, its
# stored side has nothing to compare with). With an embedder configured on the client, create and
# bulk_create embed the memory's text (its messages' contents, one per line: Conversation.text); without
# one they warn, once per process, so the gap is never silent. The implicit default HashingEmbedder is
# deliberately NOT used for this: it is a keyword hash, not a model, and writing its vectors would fill
# the column with values no real model can later be compared with (mixed vector spaces rank garbage).

_warned_unembedded = False


def message_text(messages: Iterable[Any]) -> str:
    """A memory's text as embedded on write: its messages' contents, one per line (``Conversation.text``)."""
    parts = []
    for message in messages:
        content = (
            message.get("content", "") if isinstance(message, Mapping) else getattr(message, "content", "")
        )
        parts.append(str(content))
    return "\n".join(parts)


def warn_unembedded(count: int, stacklevel: int) -> None:
    global _warned_unembedded
    if count == 0 or _warned_unembedded:
        return
    _warned_unembedded = True
    warnings.warn(
        f"{count} memor{'y' if count == 1 else 'ies'} stored without an embedding: search.semantic cannot "
        f"find {'it' if count == 1 else 'them'} (search.text can). Give each row an 'embedding', or create "
        "the client with "
        "embedder=... (e.g. OpenAIEmbedder, OllamaEmbedder or WordLlamaEmbedder) to embed on write. "
        "This warning is shown once.",
        MissingEmbeddingsWarning,
        stacklevel=stacklevel + 1,
    )


_warned_cleared = False


def warn_cleared(stacklevel: int) -> None:
    """Say once per process that an update cleared a memory's embedding (no embedder to redo it)."""
    global _warned_cleared
    if _warned_cleared:
        return
    _warned_cleared = True
    warnings.warn(
        "a memory's messages changed and the client has no embedder: its embedding was cleared rather than "
        "left describing the old text, so search.semantic cannot find it until it is embedded again (give "
        "update() an 'embedding', or create the client with embedder=...). This warning is shown once.",
        MissingEmbeddingsWarning,
        stacklevel=stacklevel + 1,
    )


def embedder_matrix(vectors: Any, count: int) -> npt.NDArray[np.float32]:
    """What an embedder returned for ``count`` texts as an (n, 768) float32 matrix, checked before any is
    stored (a wrong count, shape or a non-finite value is the embedder's fault: ConfigurationError)."""
    import numpy as np  # an embedder means the 'search' extra is there: phase3_sdk.embeddings needs numpy

    from ..embeddings import EMBEDDING_DIMENSION

    if len(vectors) != count:
        raise ConfigurationError(f"the embedder returned {len(vectors)} vectors for {count} texts")
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.shape != (count, EMBEDDING_DIMENSION) or not bool(np.isfinite(matrix).all()):
        raise ConfigurationError(
            f"the embedder returned vectors of shape {matrix.shape} (or non-finite values); "
            f"conversations.embedding needs {EMBEDDING_DIMENSION} finite floats per memory"
        )
    return matrix
