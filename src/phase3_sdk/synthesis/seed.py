"""Deprecated home of the seeded memory histories: use :mod:`phase3_sdk.testing.seed` (removed in 0.3)."""

from __future__ import annotations

import warnings

from phase3_sdk.testing.seed import PLANTED_KINDS, generate_history, generate_history_with_truth

__all__ = ["PLANTED_KINDS", "generate_history", "generate_history_with_truth"]

warnings.warn(
    "phase3_sdk.synthesis.seed moved to phase3_sdk.testing.seed; import it from there",
    DeprecationWarning,
    stacklevel=2,
)
