"""The asyncio implementation: the single source of truth.

``_sync`` is generated from it by ``scripts/gen_sync.py``.
"""
