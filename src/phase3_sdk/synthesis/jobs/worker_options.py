"""What ``run_worker`` takes: its defaults (lease, polling, page size, worker id) and the stop signal it
watches."""

from __future__ import annotations

import os
import socket
import uuid
from typing import Protocol

#: How long a claimed job stays a worker's without a heartbeat; heartbeats renew it every third of it.
DEFAULT_LEASE_SECONDS = 60
#: How long an idle worker waits before asking for work again.
DEFAULT_POLL_INTERVAL = 1.0
#: Memories read per request when a job loads its history.
MEMORY_PAGE_SIZE = 1000


class StopSignal(Protocol):
    """What ``run_worker(stop_event=...)`` watches: a ``threading.Event`` or ``asyncio.Event`` both fit."""

    def is_set(self) -> bool:
        """True once the worker should stop taking jobs."""
        ...


def default_worker_id() -> str:
    """``host:pid:random``: unique per worker, and says where to look when a lease is held."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
