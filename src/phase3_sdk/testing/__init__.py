"""Helpers for testing code that uses the SDK, not used by the SDK at runtime.

* :mod:`phase3_sdk.testing.seed`: seeded, deterministic memory histories with planted patterns, for
  tests, demos and benchmarks.
"""
