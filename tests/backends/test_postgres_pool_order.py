"""The Postgres backend's pool hands out the connection returned last: calls one after another stay on one
warm server process however many connections a burst of concurrent calls left in the pool."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

from phase3_sdk import Phase3Client

MakeUser = Callable[..., uuid.UUID]

#: Connections the burst opens (and the pool keeps: below max_connections, none is closed).
BURST = 3


def test_calls_in_turn_reuse_the_connection_returned_last(db_url: str, make_user: MakeUser) -> None:
    with Phase3Client.connect(db_url, min_connections=1, max_connections=BURST) as root:
        me = root.as_user(user_id=make_user())
        backend = root._shared.backend  # type: ignore[attr-defined]
        assert me.tools.count() == 0  # opens the pool
        # Hold BURST connections at once, as BURST concurrent calls would, so the pool grows to BURST.
        held: list[object] = []
        ready = threading.Barrier(BURST + 1)  # the holders and this thread
        release = threading.Event()

        def hold() -> None:
            with backend._connection() as conn:
                held.append(conn)
                ready.wait(timeout=30)
                release.wait(timeout=30)

        threads = [threading.Thread(target=hold) for _ in range(BURST)]
        for t in threads:
            t.start()
        ready.wait(timeout=30)
        release.set()
        for t in threads:
            t.join(timeout=30)
        assert len({id(c) for c in held}) == BURST
        assert backend._pool.get_stats()["pool_available"] == BURST

        # Calls in turn, the SDK's own between them: every one on the same connection, where a queue would
        # hand out each of the BURST in turn.
        pids = set()
        for _ in range(2 * BURST):
            assert me.tools.count() == 0
            with backend._connection() as conn:
                pids.add(conn.info.backend_pid)
        assert len(pids) == 1
