"""The blocking implementation, generated from ``_async`` by ``scripts/gen_sync.py`` (except this file)."""
