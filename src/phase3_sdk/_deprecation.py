"""Deprecated names of the 0.1 API: one warning text, so that every alias says the same things.

Each alias lives one release (0.2) and is removed in 0.3; CHANGELOG.md lists them all.
"""

from __future__ import annotations

import warnings

#: The release that removes what is deprecated now.
REMOVED_IN = "0.3"


def warn_deprecated(old: str, new: str, *, stacklevel: int = 3, note: str = "") -> None:
    """Warn that ``old`` is deprecated in favour of ``new`` (``stacklevel`` 3 points at the caller of the
    function that calls this)."""
    text = f"{old} is deprecated and will be removed in {REMOVED_IN}; use {new}"
    warnings.warn(text + (f" ({note})" if note else ""), DeprecationWarning, stacklevel=stacklevel)


#: Deprecated keyword arguments, by method name: what the API table (scripts/api_table.py) marks.
DEPRECATED_ARGUMENTS: dict[str, frozenset[str]] = {"page": frozenset({"limit"})}
