"""The one progress bar (``phase3_sdk._progress``): drawn where someone watches, silent elsewhere."""

from __future__ import annotations

import importlib.util
import io
import time
import warnings

import pytest
from rich.console import Console
from rich.progress import Progress

from phase3_sdk._progress import ProgressBar, _CellDisplay


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=120, color_system=None), out


def test_on_a_terminal_a_counted_bar_shows_done_total_and_rate() -> None:
    console, out = terminal()
    with ProgressBar("storing memories", total=10, unit="rows", console=console) as bar:
        assert bar.shown
        bar.advance(3)
        bar.advance(4)
        bar.print("a line above the bar")
    text = out.getvalue()
    assert "storing memories" in text
    assert "7/10" in text
    assert "rows/s" in text
    assert "a line above the bar" in text


def test_a_fraction_bar_shows_a_percentage_and_its_latest_description() -> None:
    console, out = terminal()
    bar = ProgressBar("queued", console=console)
    bar.update(0.25, description="running: 25%")
    bar.close()
    bar.close()  # closing twice is harmless
    assert "running: 25%" in out.getvalue()
    assert "25%" in out.getvalue()


def test_a_total_learned_later_is_used() -> None:
    console, out = terminal()
    with ProgressBar("tuning users", total=None, unit="users", console=console) as bar:
        bar.update(2, total=5)
    assert "2/5" in out.getvalue()


def test_a_transient_bar_still_writes_its_printed_lines() -> None:
    console, out = terminal()
    with ProgressBar("tuning users", total=2, unit="users", transient=True, console=console) as bar:
        bar.update(1)
        bar.print("user 1 done")
    assert "user 1 done" in out.getvalue()


def test_without_a_terminal_nothing_is_drawn_but_lines_are_written() -> None:
    out = io.StringIO()
    console = Console(file=out, width=120)
    assert not console.is_terminal
    with ProgressBar("storing memories", total=10, unit="rows", console=console) as bar:
        assert not bar.shown
        bar.advance(5)
        bar.print("user 1 done")
    assert out.getvalue() == "user 1 done\n"


def test_disabled_draws_nothing_even_on_a_terminal() -> None:
    console, out = terminal()
    with ProgressBar("storing memories", total=10, unit="rows", enabled=False, console=console) as bar:
        assert not bar.shown
        bar.advance(5)
        bar.update(6, description="x")
    assert out.getvalue() == ""


@pytest.mark.skipif(importlib.util.find_spec("ipywidgets") is not None, reason="ipywidgets is installed")
def test_in_a_notebook_without_ipywidgets_no_warning_and_the_final_state_is_drawn() -> None:
    def notebook() -> Console:
        return Console(file=io.StringIO(), force_jupyter=True, record=True, width=120)

    # rich's own live bar warns here (the helper exists to avoid this), so the check below can fail.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Progress(console=notebook()) as plain:
            plain.add_task("x", total=1)
    assert any("ipywidgets" in str(w.message) for w in caught)

    console = notebook()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with ProgressBar("synthesis running", console=console) as bar:
            assert bar.shown
            bar.update(0.5)
            bar.update(1.0, description="synthesis completed")
    text = console.export_text()
    assert "synthesis completed" in text
    assert "100%" in text


@pytest.mark.skipif(importlib.util.find_spec("ipywidgets") is not None, reason="ipywidgets is installed")
def test_in_a_notebook_without_ipywidgets_the_bar_is_one_output_updated_in_place() -> None:
    from IPython.core.displaypub import CapturingDisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    published = CapturingDisplayPublisher()
    shell.display_pub, before = published, shell.display_pub
    console = Console(file=io.StringIO(), force_jupyter=True, width=100)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # rich's ipywidgets warning would fail here
            started = time.monotonic()
            with ProgressBar("storing memories", total=202, unit="rows", console=console) as bar:
                bar.advance(1)
                # Past the redraw interval (a lower bound on the wait, so this always holds): the next
                # change is drawn while the work runs, not only at the end.
                time.sleep(_CellDisplay.INTERVAL + 0.05)
                bar.advance(1)
                for _ in range(200):
                    bar.advance(1)
            elapsed = time.monotonic() - started
    finally:
        shell.display_pub = before
        InteractiveShell.clear_instance()
    outputs = published.outputs
    ids = {out["transient"]["display_id"] for out in outputs}
    assert len(ids) == 1  # one output of the cell, replaced, never a new one per step
    assert [out["update"] for out in outputs] == [False] + [True] * (len(outputs) - 1)
    texts = [out["data"]["text/plain"] for out in outputs]
    assert "0/202" in texts[0]
    assert any("2/202" in text for text in texts[1:-1])  # drawn mid-run
    assert "202/202" in texts[-1]
    assert "rows/s" in texts[-1]
    assert "storing memories" in outputs[-1]["data"]["text/html"]
    # Throttled: at most one redraw per interval while it ran, besides the first and the last drawing
    # (drawing all 202 steps would be 202 messages to the browser).
    assert len(outputs) <= 2 + elapsed / _CellDisplay.INTERVAL
