"""Where commands write: results to stdout, progress and errors to stderr."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from phase3_sdk._extras import missing_extra

try:
    from rich.console import Console
except ImportError as exc:
    raise missing_extra(exc, "the phase3 command", "cli") from None


def stdout() -> Console:
    """A console on stdout, for results."""
    # Made per call, not at import: tests and callers swap sys.stdout.
    return Console(file=sys.stdout, highlight=False, soft_wrap=True)


def stderr() -> Console:
    """A console on stderr, for progress."""
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def print_findings(findings: Sequence[object]) -> None:
    """Findings on stdout, one a line."""
    # Plain print: one finding per line, never wrapped, so that grep and CI logs keep them whole.
    for finding in findings:
        print(finding)
