"""The Postgres backend: psycopg 3 on a direct connection, with RLS enforced as PostgREST enforces it.

Every operation is one transaction that first sets the role and the JWT claims locally, so policies and
``auth.uid()`` behave exactly as behind PostgREST. The statements of a transaction are pipelined: a
one-statement operation is one network round trip (see ``_fetch``).
"""

from __future__ import annotations

import re
import select
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import msgspec

from ..._extras import missing_extra

try:
    import psycopg
    from psycopg.pq import TransactionStatus
    from psycopg.rows import dict_row
    from psycopg.types.json import set_json_loads
    from psycopg_pool import AsyncConnectionPool, PoolTimeout
except ImportError as exc:
    raise missing_extra(exc, "the Postgres backend (connect(), local())", "postgres") from None

from ..._flavour import AsyncLock, AsyncOutcome
from ...backends import sql as q
from ...backends.base import (
    DEFAULT_POOL_MAX,
    DEFAULT_POOL_MIN,
    DEFAULT_STATEMENT_TIMEOUT_MS,
    Delete,
    Insert,
    Query,
    Rpc,
    Update,
)
from ...errors import ConfigurationError, Phase3ConnectionError
from ...identity import Identity

T = TypeVar("T")

DEFAULT_CONNECT_TIMEOUT = 10.0

Conn = psycopg.AsyncConnection[dict[str, Any]]
#: What a server (or Supabase's pooler) answers to a login no retry will fix. Only the server's own words
#: are kept for the message: libpq's prefix names the host, which a mistyped URL can fill with password.
_LOGIN_REFUSED = re.compile(
    r"((?:\w+ )?authentication failed[^\n]*|role \"[^\"]*\" does not exist|database \"[^\"]*\" does not "
    r"exist|no pg_hba\.conf entry[^\n]*|Tenant or user not found)"
)


async def _with_read_back(conn: Conn, op: Insert, written: dict[Any, dict[str, Any]]) -> list[dict[str, Any]]:
    """The inserted rows in request order, reading back those an earlier attempt had already written
    (``ON CONFLICT (id) DO NOTHING`` returns nothing for them)."""
    wanted = [row["id"] for row in op.rows]
    missing = [i for i in wanted if i not in written]
    if missing:
        stmt, params = q.compile_select_ids(op.table, missing, op.returning)
        cur = await conn.execute(stmt, params)
        written.update(q.rows_by_id(await cur.fetchall()))
    return [written[i] for i in wanted if i in written]


async def _drain(pipeline: psycopg.AsyncPipeline, conn: Conn) -> None:
    """Read every answer still owed to a pipeline in which a statement has just failed.

    In pipeline mode each ``execute`` also reads whatever answers have already arrived, so a statement's
    error can surface from a *later* ``execute`` (the identity's, from the statement's) as well as from
    ``sync()``, depending on packet timing. The answers queued after the failure (the skipped statement's
    "pipeline aborted", the Sync's) are then still unread, and the next use of the pipeline (the rollback, or
    leaving the pipeline, which psycopg logs as "error ignored terminating") trips over them. Each sync
    reads at least the answers owed before it, so two suffice; four bound the loop on a broken connection.
    """
    for _ in range(4):
        if conn.closed:
            return
        try:
            await pipeline.sync()
            return
        except psycopg.Error:
            continue


#: jsonb values (messages, steps, payloads) decoded by msgspec: 1.4 us instead of json.loads' 5.3 us for a
#: two-message conversation, the largest share of reading a page of memories after the wire itself.
_JSON_DECODER = msgspec.json.Decoder()


async def _configure(conn: Conn) -> None:
    """Set up a new pooled connection: the faster JSON decoder for json and jsonb columns, and the binary
    dumper of a query vector (``q.BinaryVector``, which only the SDK's own vector arguments are)."""
    set_json_loads(_JSON_DECODER.decode, conn)
    conn.adapters.register_dumper(q.BinaryVector, q.BinaryVectorDumper)


class AsyncHotFirstPool(AsyncConnectionPool[Conn]):
    """A pool that hands out the connection returned last, not the one idle longest.

    psycopg_pool keeps its idle connections in a queue, so once it holds two or more (a burst of
    concurrent calls made them, or the first call found the pool still opening) every call takes the next
    server process in turn, each with its caches (catalog, plans, the CPU's own) cold from serving nobody
    since its last turn: 0.9 ms of a 9 ms search at 20,000 memories, measured alternating two connections
    against one. Handing out the warmest connection first is also what PgBouncer does by default; those
    left idle at the far end are the ones the pool closes when it shrinks.
    """

    async def _get_ready_connection(self, timeout: float | None) -> Conn | None:  # noqa: ASYNC109 (the base's signature)
        # Called under the pool's lock. The base pops the idle queue's head and returns connections to its
        # tail, so the last returned is moved to the head first. Should a later psycopg_pool keep its idle
        # connections otherwise, this does nothing and the pool is as it was.
        idle = getattr(self, "_pool", None)
        if isinstance(idle, deque) and len(idle) > 1:
            idle.rotate(1)
        return await super()._get_ready_connection(timeout)


class AsyncPostgresBackend:
    """Runs the SDK's operations on a PostgreSQL database through a connection pool."""

    #: ``Insert(bulk=True)`` goes through binary COPY, so vector values may stay numpy arrays.
    bulk_copy = True
    #: Rows hold what psycopg decoded (UUID, aware datetime, dict/list for jsonb, list for arrays), so
    #: resources need not validate what it already typed; the rows of one call share one cursor's columns.
    typed_rows = True
    #: A database URL is a privileged credential: this backend may always act as the service role.
    has_service_key = True
    #: PostgreSQL caps no read.
    max_rows: int | None = None

    def __init__(
        self,
        conninfo: str,
        *,
        min_size: int = DEFAULT_POOL_MIN,
        max_size: int = DEFAULT_POOL_MAX,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        statement_timeout_ms: int | None = DEFAULT_STATEMENT_TIMEOUT_MS,
    ) -> None:
        options = f"-c statement_timeout={statement_timeout_ms}" if statement_timeout_ms else ""
        self._conninfo = conninfo
        self._connect_kwargs: dict[str, Any] = {
            "autocommit": True,
            "row_factory": dict_row,
            "options": options,
            "connect_timeout": max(int(connect_timeout), 1),
        }
        self._pool: AsyncConnectionPool[Conn] = AsyncHotFirstPool(
            conninfo,
            min_size=min_size,
            max_size=max_size,
            timeout=connect_timeout,
            open=False,
            kwargs=self._connect_kwargs,
            configure=_configure,
            name="phase3",
        )
        self._opened = False
        self._open_lock = AsyncLock()
        #: Bulk insert state: column types per table, and the stage tables each pooled connection has (a
        #: weak map, so a connection the pool closes takes its entry with it).
        self._types: dict[str, dict[str, tuple[int, str]]] = {}
        self._stages: weakref.WeakKeyDictionary[Conn, set[str]] = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        # The conninfo may hold a password: never show it.
        return f"{type(self).__name__}(pool={self._pool.name!r})"

    async def _open(self) -> None:
        # The pool opens lazily so that constructing a client never blocks or needs a running loop.
        async with self._open_lock:
            if not self._opened:
                await self._check_login()
                await self._pool.open(wait=False)
                self._opened = True

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Conn]:
        """A pooled connection, passing over those the server has already ended.

        An idle connection has nothing to read unless the server sent something unasked, which for the
        SDK (it never LISTENs) means it is ending the session: ``pg_terminate_backend``, a restart, an
        idle timeout, a pooler dropping it. Such a connection is closed and the next one taken at once,
        instead of an attempt (and its retry backoff) being spent on a dead socket. psycopg_pool's own
        ``check`` would cost a round trip per call and sleeps a reconnect backoff (1 s, then 2 s, ...)
        after each dead connection; asking the socket is one system call.
        """
        for _ in range(self._pool.max_size):
            conn = await self._pool.getconn()
            if not select.select([conn.fileno()], [], [], 0)[0]:
                break
            await conn.close()
            await self._pool.putconn(conn)  # a closed connection is discarded and replaced
        else:
            conn = await self._pool.getconn()
        try:
            yield conn
        finally:
            await self._pool.putconn(conn)

    async def _check_login(self) -> None:
        """Connect once before the pool does, so that a login the server refuses fails now, in one line.

        The pool retries a failed connect in the background, logging a warning each time, until a caller
        gives up with ``pool_timeout``: useless (10 s and a dozen warnings that bury the cause) for a wrong
        password, user or database name, which no retry fixes, and slow for a server that is not there at
        all. So a refused login is a :class:`ConfigurationError` now, and a server that cannot be reached
        is a :class:`Phase3ConnectionError` now, which the retry policy retries like any transient
        failure; the pool is opened only once a connection has succeeded (the next call tries again).
        """
        try:
            conn = await psycopg.AsyncConnection.connect(self._conninfo, **self._connect_kwargs)
        except psycopg.OperationalError as exc:
            refusal = _LOGIN_REFUSED.search(str(exc))
            if refusal is None:
                # libpq's text names host and port, never the password; its first line says why.
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise Phase3ConnectionError(
                    f"could not connect to the database: {reason}",
                    code="connection",
                    unprocessed=True,
                    hint="is the server running at that host and port (SUPABASE_DB_URL)?",
                ) from None
            raise ConfigurationError(
                f"the database refused the login: {refusal.group(0).strip()}",
                code="login_refused",
                hint="check the user, password and database name in the URL (SUPABASE_DB_URL); on "
                "Supabase: Project Settings > Database > Connection string",
            ) from None
        await conn.close()

    async def run(self, identity: Identity, work: Callable[[Conn], AsyncOutcome[T]]) -> T:
        """Run ``work`` in one transaction under ``identity``; map any failure to an SDK error."""
        if not self._opened:
            await self._open()
        try:
            async with self._connection() as conn, conn.pipeline(), conn.transaction():
                await conn.execute(q.SET_IDENTITY, q.identity_params(identity))
                return await work(conn)
        except (psycopg.Error, PoolTimeout) as exc:
            raise q.map_error(exc) from exc

    async def run_unpipelined(self, identity: Identity, work: Callable[[Conn], AsyncOutcome[T]]) -> T:
        """:meth:`run` without pipeline mode, for work that uses COPY (which pipeline mode does not allow)."""
        if not self._opened:
            await self._open()
        try:
            async with self._connection() as conn, conn.transaction():
                await conn.execute(q.SET_IDENTITY, q.identity_params(identity))
                return await work(conn)
        except (psycopg.Error, PoolTimeout) as exc:
            raise q.map_error(exc) from exc

    async def _fetch(self, identity: Identity, stmt: Any, params: list[Any]) -> list[dict[str, Any]]:
        """One statement in its own transaction under ``identity``, in one round trip.

        The identity and the statement are sent together, with one Sync, and answered together: what
        :meth:`run` does in three round trips (its transaction block waits for each answer), which cost
        ~0.7 ms of a 4 ms search. Statements pipelined up to a Sync with no BEGIN run as one implicit
        transaction, committed at the Sync or rolled back there if one fails, so the role and claims set
        locally end with it exactly as with BEGIN and COMMIT, which cost two more statements to send
        and answer (~0.05 ms of a 1.5 ms search, ``benchmarks/client_search_overhead.py``). Should a
        failed statement leave a transaction open all the same, it is rolled back here before the
        connection goes back to the pool.
        """
        if not self._opened:
            await self._open()
        failure: psycopg.Error | None = None
        try:
            async with self._connection() as conn:
                try:
                    # No sync() in the block: leaving the pipeline sends the one Sync and reads every
                    # answer, where a sync() here cost a second round trip for that Sync (~1.4 ms of a
                    # 20 ms search on a loaded 2-core machine).
                    async with conn.pipeline() as pipeline:
                        try:
                            await conn.execute(q.SET_IDENTITY, q.identity_params(identity))
                            cur = await conn.execute(stmt, params)
                        except psycopg.Error as exc:
                            # A statement's error can surface from a later execute (see _drain): read
                            # what is owed here, inside the pipeline, so that leaving it is clean.
                            failure = exc
                            await _drain(pipeline, conn)
                except psycopg.Error as exc:
                    # The usual way a statement fails: its error arrives with the answers to the Sync.
                    failure = failure or exc
                if failure is not None:
                    # The Sync ended the implicit transaction; anything still open is ended here before
                    # the connection goes back to the pool.
                    if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
                        await conn.rollback()
                    raise failure
                return await cur.fetchall()
        except (psycopg.Error, PoolTimeout) as exc:
            raise q.map_error(exc) from exc

    async def select(self, query: Query, identity: Identity) -> list[dict[str, Any]]:
        """Rows of ``query``."""
        stmt, params = q.compile_select(query)
        return await self._fetch(identity, stmt, params)

    async def count(self, query: Query, identity: Identity) -> int:
        """How many rows ``query`` matches."""
        stmt, params = q.compile_count(query)
        rows = await self._fetch(identity, stmt, params)
        return int(rows[0]["count"])

    async def insert(self, op: Insert, identity: Identity) -> list[dict[str, Any]]:
        """Insert rows; rows an earlier attempt already wrote are read back instead of duplicated."""
        if not op.rows:
            return []
        if op.bulk:
            return await self._bulk_insert(op, identity)
        stmt, params = q.compile_insert(op)

        async def work(conn: Conn) -> list[dict[str, Any]]:
            cur = await conn.execute(stmt, params)
            written = q.rows_by_id(await cur.fetchall())
            return await _with_read_back(conn, op, written)

        return await self.run(identity, work)

    async def _table_types(
        self, conn: Conn, table: str, columns: Sequence[str]
    ) -> dict[str, tuple[int, str]]:
        # Column type oids for COPY, read once per table (they only change with a migration that adds a
        # column, which then misses here and is read again).
        types = self._types.get(table, {})
        if not all(c in types for c in columns):
            cur = await conn.execute(q.TABLE_TYPES, (f"{q.SCHEMA}.{table}",))
            types = {t["name"]: (t["oid"], t["type"]) for t in await cur.fetchall()}
            self._types[table] = types
        return types

    async def _bulk_insert(self, op: Insert, identity: Identity) -> list[dict[str, Any]]:
        # One transaction: per group of rows giving the same columns, COPY (binary) into a stage table, then
        # INSERT ... SELECT ... ON CONFLICT (id) DO NOTHING (backends/sql/copy.py says why a stage).
        groups = q.group_by_columns(op.rows)
        made: list[tuple[Conn, str]] = []

        async def work(conn: Conn) -> list[dict[str, Any]]:
            known = self._stages.get(conn, set())
            written: dict[Any, dict[str, Any]] = {}
            for columns, rows in groups:
                types = await self._table_types(conn, op.table, columns)
                stage = q.stage_name(identity.role, op.table, columns)
                if stage not in known:
                    await conn.execute(q.compile_stage(op.table, stage, columns))
                    made.append((conn, stage))
                cur = conn.cursor()
                for c in columns:
                    oid, type_name = types[c]
                    if type_name in q.BULK_DUMPERS:
                        # Registered on this cursor only: nothing leaks into the pooled connection.
                        cur.adapters.register_dumper(None, q.BULK_DUMPERS[type_name](oid))
                async with cur.copy(q.compile_copy_stage(stage, columns)) as copy:
                    copy.set_types([types[c][0] for c in columns])
                    for row in rows:
                        await copy.write_row([row[c] for c in columns])
                await cur.execute(q.compile_insert_from_stage(op.table, stage, columns, op.returning))
                written.update(q.rows_by_id(await cur.fetchall()))
            return await _with_read_back(conn, op, written)

        result = await self.run_unpipelined(identity, work)
        # Only a committed stage exists afterwards: one made in a rolled-back transaction is made again.
        for conn, stage in made:
            self._stages.setdefault(conn, set()).add(stage)
        return result

    async def update(self, op: Update, identity: Identity) -> list[dict[str, Any]]:
        """Update matching rows and return them."""
        stmt, params = q.compile_update(op)
        return await self._fetch(identity, stmt, params)

    async def delete(self, op: Delete, identity: Identity) -> list[dict[str, Any]]:
        """Delete matching rows and return them."""
        stmt, params = q.compile_delete(op)
        return await self._fetch(identity, stmt, params)

    async def rpc(self, op: Rpc, identity: Identity) -> Any:
        """Call a database function."""
        stmt, params = q.compile_rpc(op)
        rows = await self._fetch(identity, stmt, params)
        if op.returns == "rows":
            return [row["value"] for row in rows] if op.json else rows
        if op.returns == "scalar":
            return rows[0]["value"] if rows else None
        return None

    async def aclose(self) -> None:
        """Close the pool and its connections."""
        if self._opened:
            await self._pool.close()
            self._opened = False
