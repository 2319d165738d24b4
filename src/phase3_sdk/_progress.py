"""The one progress bar of the SDK and its CLI (rich), drawn on stderr where someone can watch it.

Flavour-neutral: rich draws synchronously from its own thread, so the async and the blocking client share
it. Where nobody watches (a log file, CI, a pipe) it draws nothing, so captured output stays clean; lines
given to :meth:`ProgressBar.print` are still written. In a notebook rich needs ``ipywidgets`` to redraw
a bar in place (and warns once per call site without it), so there, without ``ipywidgets``, the bar is
one output of the cell redrawn through IPython's display handle (``display(..., display_id=True)``, then
``handle.update``: plain kernel messages, no widget), a few times a second at most; where no IPython shell
runs (a console forced into notebook mode) it is drawn once, in its final state, when it closes.
"""

from __future__ import annotations

import importlib.util
import io
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID


def _stderr_console() -> Console:
    from rich.console import Console

    # Made per bar, not at import: tests and callers swap sys.stderr.
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


class ProgressBar:
    """A progress bar: a description, the bar, how far (and, for counted work, how fast and how long to go).

    ``total`` is the amount of work (``None`` until known, see :meth:`update`); ``unit`` names what is
    counted (``"rows"``, ``"users"``): with it the bar shows ``done/total``, a rate and the time left;
    without it, a percentage of a 0..1 fraction or of ``total``. ``enabled=False`` draws nothing.
    ``transient=True`` removes the bar from the screen when it closes. Use it as a context manager or
    call :meth:`close`.
    """

    def __init__(
        self,
        description: str,
        *,
        total: float | None = 1.0,
        unit: str | None = None,
        enabled: bool = True,
        transient: bool = False,
        console: Console | None = None,
    ) -> None:
        self._console = console
        self._unit = unit
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._live = False
        self._cell: _CellDisplay | None = None
        if not enabled:
            return
        try:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
        except ModuleNotFoundError:
            # rich comes with the 'cli' extra; a bar is a nicety, so without it the work runs unwatched.
            return

        console = self.console
        if not (console.is_terminal or console.is_jupyter):
            return
        counted = (MofNCompleteColumn(), TaskProgressColumn(), TextColumn("{task.fields[rate]}"))
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            *(counted if unit else (TaskProgressColumn(),)),
            TimeElapsedColumn(),
            *((TimeRemainingColumn(),) if unit else ()),
        )
        # Redrawn in place on a terminal, or in a notebook that has ipywidgets; otherwise kept as a model
        # and drawn once on close (see the module docstring).
        self._live = console.is_terminal or importlib.util.find_spec("ipywidgets") is not None
        self._progress = Progress(*columns, console=console, transient=transient, auto_refresh=self._live)
        self._task = self._progress.add_task(description, total=total, rate="")
        if self._live:
            self._progress.start()
        elif console.is_jupyter:
            self._cell = _CellDisplay.open(self._progress, console.width)

    @property
    def console(self) -> Console:
        """Where the bar and :meth:`print` write (stderr unless the caller gave a console)."""
        if self._console is None:
            self._console = _stderr_console()
        return self._console

    @property
    def shown(self) -> bool:
        """Whether a bar is being drawn."""
        return self._progress is not None

    def update(
        self, completed: float | None = None, *, total: float | None = None, description: str | None = None
    ) -> None:
        """Set how much is done (of ``total``, which may be given or changed here) and the description."""
        if self._progress is None or self._task is None:
            return
        self._progress.update(self._task, completed=completed, total=total, description=description)
        self._show_rate()
        if self._cell is not None:
            self._cell.redraw(self._progress)

    def advance(self, amount: float) -> None:
        """Count ``amount`` more units done."""
        if self._progress is None or self._task is None:
            return
        self._progress.advance(self._task, amount)
        self._show_rate()
        if self._cell is not None:
            self._cell.redraw(self._progress)

    def print(self, message: str) -> None:
        """Write a line above the bar (or plainly, when no bar is drawn)."""
        if self._progress is not None and self._live:
            self._progress.console.print(message)
        else:
            self.console.print(message)

    def close(self) -> None:
        """Stop drawing; the last state stays on screen unless the bar is transient."""
        if self._progress is None:
            return
        progress, self._progress = self._progress, None
        if self._live:
            progress.stop()
        elif self._cell is not None:
            self._cell.redraw(progress, final=True, clear=progress.live.transient)
        elif not progress.live.transient:
            progress.console.print(progress.get_renderable())

    def _show_rate(self) -> None:
        if self._unit is None or self._progress is None or self._task is None:
            return
        task = self._progress.tasks[0]
        if task.elapsed:
            self._progress.update(self._task, rate=f"{task.completed / task.elapsed:,.0f} {self._unit}/s")

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _CellDisplay:
    """A bar in a notebook cell without ipywidgets: one display output, replaced through its display id.

    Each redraw is one ``update_display_data`` message to the browser, so redraws are throttled to
    :attr:`INTERVAL`; the final state is always drawn.
    """

    #: Seconds between redraws at most (4 a second: smooth to the eye, cheap for the kernel's channel).
    INTERVAL = 0.25

    def __init__(self, handle: Any, width: int) -> None:
        self._handle = handle
        self._width = width
        self._drawn = time.monotonic()

    @classmethod
    def open(cls, progress: Progress, width: int) -> _CellDisplay | None:
        """Show the bar as a new output of the running cell, or None where no IPython shell runs."""
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:
            return None
        if get_ipython() is None:
            return None
        show: Callable[..., Any] = display  # IPython's own signature is untyped
        handle = show(_snapshot(progress.get_renderable(), width), display_id=True)
        return cls(handle, width) if handle is not None else None

    def redraw(self, progress: Progress, *, final: bool = False, clear: bool = False) -> None:
        """Replace the shown bar with its current state (at most every INTERVAL seconds unless final)."""
        now = time.monotonic()
        if not final and now - self._drawn < self.INTERVAL:
            return
        self._drawn = now
        if clear:
            # A transient bar leaves nothing behind, as on a terminal.
            self._handle.update(_Snapshot("", ""))
            return
        self._handle.update(_snapshot(progress.get_renderable(), self._width))


class _Snapshot:
    """A rendered bar as a notebook shows it: HTML (rich's colours), with plain text for other front ends."""

    def __init__(self, html: str, text: str) -> None:
        self._html = html
        self._text = text

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/html": self._html, "text/plain": self._text}


def _snapshot(renderable: Any, width: int) -> _Snapshot:
    from rich.console import Console

    # Not in notebook mode itself, or inside a kernel it would display each drawing as a new output.
    recorder = Console(
        file=io.StringIO(), record=True, width=width, color_system="truecolor", force_jupyter=False
    )
    recorder.print(renderable)
    text = recorder.export_text(clear=False).rstrip("\n")
    html = recorder.export_html(
        inline_styles=True, code_format='<pre style="line-height:normal">{code}</pre>'
    )
    return _Snapshot(html, text)
