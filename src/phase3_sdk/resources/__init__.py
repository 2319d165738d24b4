"""Deprecated home of :mod:`phase3_sdk.schema` (table metadata and cursors), removed in 0.3.

``phase3_sdk.resources.query`` and ``phase3_sdk.resources.tables`` are the very modules
``phase3_sdk.schema.query`` and ``phase3_sdk.schema.tables``, so their objects compare equal.
"""

from __future__ import annotations

import sys
import warnings

from ..schema import query, tables

warnings.warn(
    "phase3_sdk.resources is deprecated and will be removed in 0.3; use phase3_sdk.schema",
    DeprecationWarning,
    stacklevel=2,
)

sys.modules[f"{__name__}.query"] = query
sys.modules[f"{__name__}.tables"] = tables

__all__ = ["query", "tables"]
