"""Everything that differs between the asyncio client and the blocking one, and nothing else.

I/O code is written once in ``_async/`` and ``scripts/gen_sync.py`` turns it into ``_sync/`` by renaming
``AsyncFoo`` to ``Foo`` and ``async_foo`` to ``foo``. What cannot be written once (a task vs. a thread, an
awaited sleep vs. a blocking one) lives here as a pair of twins of those two names, so the generated code
picks its half by name alone: ``_async`` imports ``AsyncTaskGroup`` and ``async_sleep``, ``_sync`` gets
``TaskGroup`` and ``sleep`` from the same ``from ..._flavour import ...`` line.

One module per concern, with both twins side by side rather than an asyncio module and a blocking one:
the two halves must keep one contract (same arguments, same errors, same stop rules), and that is
checked by reading them next to each other and by ``tests/flavour/``, which runs every pair through the
same tests.

- ``basics.py``: ``sleep``, ``Lock``, ``run_blocking`` (CPU-bound or blocking work off the event loop) and
  ``Outcome`` (what a deferred call produces).
- ``tasks.py``: ``TaskGroup`` (concurrent work, every error surfaced), ``Event`` (wait with a timeout) and
  ``LeaseKeeper`` (renew a lease in the background while a body runs).
- ``handlers.py``: ``HandlerCaller`` (a Python tool handler, sync or async, under a time limit) and
  ``HandlerTimeout``.

Only this package and ``_sync/__init__.py`` are hand-written per flavour; ``_rows_display.py`` keeps
``AsyncRows`` beside ``Rows`` because it is the public result type of ``list()``, not a primitive.
"""

from __future__ import annotations

from .basics import (
    AsyncLock,
    AsyncOutcome,
    Lock,
    Outcome,
    async_run_blocking,
    async_sleep,
    run_blocking,
    sleep,
)
from .handlers import AsyncHandlerCaller, HandlerCaller, HandlerTimeout
from .tasks import AsyncEvent, AsyncLeaseKeeper, AsyncTaskGroup, Event, LeaseKeeper, TaskGroup

__all__ = [
    "AsyncEvent",
    "AsyncHandlerCaller",
    "AsyncLeaseKeeper",
    "AsyncLock",
    "AsyncOutcome",
    "AsyncTaskGroup",
    "Event",
    "HandlerCaller",
    "HandlerTimeout",
    "LeaseKeeper",
    "Lock",
    "Outcome",
    "TaskGroup",
    "async_run_blocking",
    "async_sleep",
    "run_blocking",
    "sleep",
]
