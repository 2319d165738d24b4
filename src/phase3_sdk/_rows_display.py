"""``list()`` results: :class:`Rows` (the blocking client) and :class:`AsyncRows` (asyncio).

A listing is lazy: pages are read as iteration reaches them, and the rows read are kept, so looping twice,
``len``, an index, a display in Jupyter or :meth:`Rows.to_pandas` run the query once between them
(:meth:`Rows.stream` reads afresh without keeping rows, for listings too large to hold). In a notebook a
``Rows`` displays as a table of its first rows with compact cells (a list of ids shows as a count).

Hand-written twins: generated code names ``AsyncRows``, the sync copy ``Rows``. They stay here rather than in
``_flavour/`` because this module is the public result type of ``list()`` and its display (pure, the same in
both flavours: ``AsyncRows.collect()`` hands back a ``Rows``); only ``AsyncRows`` itself, a dozen lines
that iterate with ``async for``, is flavour-specific, and splitting it from ``Rows`` would put one idea in
two places.
"""

from __future__ import annotations

import html
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload
from uuid import UUID

from pydantic import BaseModel

from ._extras import import_extra

if TYPE_CHECKING:
    import pandas as pd

T = TypeVar("T")

#: How many rows a notebook shows of a listing, and how wide a text cell may be.
DISPLAY_ROWS = 20
CELL_WIDTH = 60
#: Columns never shown in a table: a 768-float vector is no use to read, and user_id is the same on every
#: row a user's client lists. ``to_pandas()`` keeps them all.
HIDDEN = frozenset({"embedding", "user_id"})


def compact(value: Any, width: int = CELL_WIDTH) -> str:
    """One short line for a cell: lists and mappings by size, ids shortened, long text cut."""
    if value is None:
        return ""
    if isinstance(value, UUID):
        return str(value)[:8]
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        if value and all(isinstance(v, UUID) for v in value):
            return f"{len(value)} ids"
        return f"[{len(value)} items]"
    text = json.dumps(value, default=str, separators=(",", ":")) if isinstance(value, Mapping) else str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _fields(row: Any) -> dict[str, Any]:
    if isinstance(row, BaseModel):
        return {name: getattr(row, name, None) for name in type(row).model_fields}
    if isinstance(row, Mapping):
        return dict(row)
    return {"value": row}


def _columns(rows: Sequence[Any], hidden: frozenset[str] = HIDDEN) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows[:DISPLAY_ROWS]:
        seen.update(dict.fromkeys(k for k in _fields(row) if k not in hidden))
    return list(seen)


class Rows(Sequence[T], Generic[T]):
    """The rows of a ``list()`` call: a lazy sequence, read page by page as far as it is used.

    Iterating reads pages as the loop reaches them (breaking early reads no more); rows read are kept,
    so a second loop, ``len``, an index or a display reads each page once in all. For a listing too large
    to hold, :meth:`stream` reads it afresh without keeping anything.
    """

    def __init__(self, fetch: Callable[[], Iterator[T]], *, what: str) -> None:
        self._fetch = fetch
        self._what = what
        self._held: list[T] = []
        self._source: Iterator[T] | None = None
        self._done = False

    @classmethod
    def of(cls, rows: Sequence[T], *, what: str) -> Rows[T]:
        """Rows already in hand (what :meth:`AsyncRows.collect` returns), for display."""
        done = cls(lambda: iter(()), what=what)
        done._held = list(rows)
        done._done = True
        return done

    @property
    def fetched(self) -> bool:
        """Whether every row has been read."""
        return self._done

    def _pull(self) -> bool:
        """Read one more row into the held ones; False at the end."""
        if self._done:
            return False
        if self._source is None:
            self._source = self._fetch()
        try:
            self._held.append(next(self._source))
        except StopIteration:
            self._done = True
            self._source = None
            return False
        return True

    def _all(self) -> list[T]:
        while self._pull():
            pass
        return self._held

    def __iter__(self) -> Iterator[T]:
        i = 0
        while i < len(self._held) or self._pull():
            yield self._held[i]
            i += 1

    def stream(self) -> Iterator[T]:
        """Every row, read afresh page by page and not kept (one page in memory at a time)."""
        return self._fetch()

    def __len__(self) -> int:
        return len(self._all())

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, int) and index >= 0:
            while index >= len(self._held) and self._pull():
                pass
            return self._held[index]
        return self._all()[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Rows):
            return self._all() == other._all()
        if isinstance(other, list):
            return self._all() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        if not self._done:
            return f"<Rows of {self._what}: {len(self._held)} read so far>"
        return f"<Rows of {self._what}: {len(self._held)} rows>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # noqa: FBT001 (IPython passes it positionally)
        """IPython's plain-text display: the first rows as aligned text (fetches, like the HTML table)."""
        printer.text(self.to_text())

    def to_text(self, rows: int = DISPLAY_ROWS) -> str:
        """The first ``rows`` rows as an aligned plain-text table with compact cells."""
        held = self._all()
        columns = _columns(held)
        cells = [[compact(_fields(row).get(c), 30) for c in columns] for row in held[:rows]]
        widths = [max([len(c), *(len(line[i]) for line in cells)]) for i, c in enumerate(columns)]
        lines = [f"{self._what}: {len(held)} rows" + (f" (first {rows} shown)" if len(held) > rows else "")]
        lines.append("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
        lines += ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in cells]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """A table of the first rows, with compact cells (Jupyter calls this to display the value)."""
        rows = self._all()
        columns = _columns(rows)
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = []
        for row in rows[:DISPLAY_ROWS]:
            fields = _fields(row)
            cells = "".join(f"<td>{html.escape(compact(fields.get(c)))}</td>" for c in columns)
            body.append(f"<tr>{cells}</tr>")
        more = len(rows) - DISPLAY_ROWS
        caption = f"{self._what}: {len(rows)} rows" + (f" (first {DISPLAY_ROWS} shown)" if more > 0 else "")
        return (
            f'<table class="phase3-rows"><caption>{html.escape(caption)}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        )

    def to_pandas(self) -> pd.DataFrame:
        """The rows as a ``pandas.DataFrame``, one column per field, values as they are (needs the
        'notebook' extra)."""
        pandas = import_extra("pandas", "Rows.to_pandas()", "notebook")
        rows = self._all()
        records = [_fields(row) for row in rows]
        # Every field, the embedding too when it was read (include_embedding=True), not a column of Nones.
        read = any(r.get("embedding") is not None for r in records)
        columns = _columns(rows, frozenset() if read else frozenset({"embedding"})) if rows else None
        frame: pd.DataFrame = pandas.DataFrame.from_records(records, columns=columns)
        return frame


class AsyncRows(Generic[T]):
    """The rows of an async ``list()`` call: ``async for`` streams them; ``await rows.collect()`` holds them
    all as :class:`Rows` (which display as a table in a notebook)."""

    def __init__(self, fetch: Callable[[], AsyncIterator[T]], *, what: str) -> None:
        self._fetch = fetch
        self._what = what

    def __aiter__(self) -> AsyncIterator[T]:
        return self._fetch()

    async def collect(self) -> Rows[T]:
        """Every row, fetched now."""
        return Rows.of([row async for row in self._fetch()], what=self._what)

    def __repr__(self) -> str:
        return f"<AsyncRows of {self._what}: iterate with async for, or await .collect()>"
