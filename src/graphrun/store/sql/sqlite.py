"""The SQLite store: stdlib ``sqlite3``, one writer thread with group commit.

Step records take one of two ways to the database, chosen per batch:

- **On the event loop**, when the writer thread is idle: the records saved during one
  turn of the loop are written in one short transaction right there, without waiting for
  the lock (``busy_timeout`` 0). A durable step then costs one transaction (tens of
  microseconds) instead of a round trip to a thread (around 100 µs on 2 vCPUs).
- **Through the writer thread** otherwise: when the writer still has work queued (so
  records of a run stay in order), when the batch is large (a run saving faster than the
  loop turns: write-behind), when the lock is held by another connection, or when ``save``
  is called from another event loop. The writer batches everything pending into one
  transaction (group commit).

Either way the future returned by ``save`` completes after the commit. WAL checkpoints
(which fsync) run on the writer thread, never on the loop. Reads run on a small thread
pool with connections of their own; other writes are jobs on the writer thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from graphrun.engine.checkpoint import StepRecord
from graphrun.store._codec import PreparedStep, prepare
from graphrun.store.errors import StoreClosedError, StoreError
from graphrun.store.sql import _sqlite_conn
from graphrun.store.sql._plans import Plan, run_sync
from graphrun.store.sql._sqlite_conn import BEGIN_READ, BEGIN_WRITE, DEFAULT_BUSY_TIMEOUT_MS
from graphrun.store.sql._sqlite_writer import (
    WAL_CHECKPOINT,
    Job,
    Outcome,
    Pending,
    SqliteWriter,
    write_steps,
)
from graphrun.store.sql._steps import StepSql, qmark
from graphrun.store.sql.migrations import VERSION_TABLE, upgrade_statements
from graphrun.store.sql.store import SqlStore

T = TypeVar("T")

INLINE_MAX = 32
"""Most records one transaction on the event loop may write (a bigger batch goes to the
writer thread rather than hold up the loop)."""
HANDOFF_AT = 256
"""A run that saves this many records without letting the loop turn hands them to the
writer thread at once (write-behind keeps going while the run runs)."""
WAL_CHECKPOINT_EVERY = 500
"""Commits on the event loop between two WAL checkpoints on the writer thread."""


class SqliteStore(SqlStore):
    """The SQLite :class:`~graphrun.store.base.Store` on one database file.

    ``commit_on_loop=False`` sends every step record through the writer thread;
    ``busy_timeout_ms`` is how long the writer waits for another process's write lock;
    ``read_threads`` is the size of the reading pool. Use it from the event loop that
    opened it (another loop's saves take the writer thread, in order per loop).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        commit_on_loop: bool = True,
        read_threads: int = 2,
    ) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self.commit_on_loop = commit_on_loop
        self._read_threads = read_threads
        self._sql = StepSql(qmark)
        self._compiler = _sqlite_conn.compiler()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: SqliteWriter | None = None
        self._loop_conn: sqlite3.Connection | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._reader_local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self._batch: list[tuple[PreparedStep, asyncio.Future[None]]] = []
        self._flush_scheduled = False
        self._handed = 0  # home-loop items given to the writer and not yet delivered
        self._loop_commits = 0
        self._closed = False

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    # -- lifecycle ----------------------------------------------------------------------

    async def open(self) -> None:
        """Create the file if needed, start the writer, apply migrations."""
        if self._closed:
            raise StoreClosedError(f"{self!r} was closed; make a new store to reopen the file")
        if self._writer is not None:
            return
        self._loop = asyncio.get_running_loop()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = _sqlite_conn.connect(self.path, busy_timeout_ms=self.busy_timeout_ms)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite database {str(self.path)!r}: {exc}") from exc
        self._writer = SqliteWriter(conn, self._sql, self._compiler, self._deliver)
        self._writer.start()
        self._readers = ThreadPoolExecutor(self._read_threads, "graphrun-sqlite-read")
        try:
            await self.migrate()
            if self.commit_on_loop:
                self._loop_conn = _sqlite_conn.connect(
                    self.path, busy_timeout_ms=0, autocheckpoint=False
                )
        except BaseException:
            await self.close()
            raise

    async def migrate(self) -> None:
        """Bring the schema to the newest revision (in one write transaction)."""
        await self._job(_migrate)

    async def close(self) -> None:
        """Commit everything ``save`` accepted, stop the writer, close connections."""
        if self._closed:
            return
        self._closed = True
        if self._batch:
            self._hand_off()
        if self._writer is not None:
            self._writer.stop()
            await asyncio.to_thread(self._writer.join)
            await asyncio.sleep(0)  # let the last deliveries run
        if self._readers is not None:
            await asyncio.to_thread(self._readers.shutdown)
        for conn in [*self._reader_conns, self._loop_conn]:
            if conn is not None:
                conn.close()
        self._reader_conns.clear()
        self._loop_conn = None

    def _check_open(self) -> None:
        if self._closed or self._writer is None:
            state = "closed" if self._closed else "not open (await store.open() first)"
            raise StoreClosedError(f"{self!r} is {state}")

    # -- the step path ------------------------------------------------------------------

    def save(self, record: StepRecord) -> Awaitable[None]:
        p = prepare(record)  # not JSON: raises now, nothing is written
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        try:
            self._check_open()
        except StoreError as exc:
            done.set_exception(exc)
            return done
        assert self._writer is not None
        if loop is not self._loop:
            self._writer.put(Pending(p, done, loop, False))
            return done
        if record.urgent and not self._batch and self._commit_now(p, done):
            return done  # the caller waits anyway: no loop turn, no batch
        self._batch.append((p, done))
        if len(self._batch) >= HANDOFF_AT:
            self._hand_off()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return done

    def _commit_now(self, p: PreparedStep, done: asyncio.Future[None]) -> bool:
        """Commit one record on the loop connection right away, if the writer thread is
        idle and the lock is free; ``False`` leaves it to the usual batching."""
        conn = self._loop_conn
        if conn is None or self._handed:
            return False
        try:
            results = write_steps(conn, [p], self._sql, self._compiler, fail_if_busy=True)
        except BaseException as exc:
            done.set_exception(exc)
            return True
        if results is None:  # another connection holds the lock
            return False
        err = results[0]
        if err is None:
            done.set_result(None)
        else:
            done.set_exception(err)
        self._count_loop_commit()
        return True

    def _count_loop_commit(self) -> None:
        self._loop_commits += 1
        if self._loop_commits % WAL_CHECKPOINT_EVERY == 0 and self._writer is not None:
            self._writer.put(WAL_CHECKPOINT)

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch = self._batch
        if not batch:
            return
        conn = self._loop_conn
        if conn is None or self._handed or len(batch) > INLINE_MAX:
            self._hand_off()
            return
        self._batch = []
        try:
            results = write_steps(
                conn, [p for p, _ in batch], self._sql, self._compiler, fail_if_busy=True
            )
        except BaseException as exc:
            results = [exc] * len(batch)
        if results is None:  # another connection holds the lock: let the writer wait
            self._batch = batch + self._batch
            self._hand_off()
            return
        for (_, fut), err in zip(batch, results, strict=True):
            if fut.done():
                continue
            if err is None:
                fut.set_result(None)
            else:
                fut.set_exception(err)
        self._count_loop_commit()

    def _hand_off(self) -> None:
        batch, self._batch = self._batch, []
        assert self._writer is not None and self._loop is not None
        self._handed += len(batch)
        for p, fut in batch:
            self._writer.put(Pending(p, fut, self._loop, True))

    def _deliver(self, outcomes: list[Outcome]) -> None:
        for fut, err, value, home in outcomes:
            if home:
                self._handed -= 1
            if fut.done():
                continue
            if err is None:
                fut.set_result(value)
            else:
                fut.set_exception(err)

    # -- other writes and reads ---------------------------------------------------------

    async def _job(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        self._check_open()
        assert self._writer is not None
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        home = loop is self._loop
        if home:
            if self._batch:  # steps saved before this call are written before it
                self._hand_off()
            self._handed += 1
        self._writer.put(Job(fn, fut, loop, home))
        return await fut

    async def _write(self, plan: Plan[T]) -> T:
        compiler = self._compiler
        conn = self._loop_conn
        if (
            conn is not None
            and not self._batch
            and not self._handed
            and asyncio.get_running_loop() is self._loop
        ):
            # A small write (a run, a lease) commits on the loop's connection like a step:
            # a hand-off to the writer thread costs more, and keeps that thread busy and
            # holding the GIL while the loop waits for it.
            try:
                conn.execute(BEGIN_WRITE)
            except sqlite3.OperationalError as exc:
                if not _sqlite_conn.is_busy(exc):
                    raise
            else:
                try:
                    result = run_sync(conn, compiler, plan)
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                self._count_loop_commit()
                return result

        def run(conn: sqlite3.Connection) -> T:
            return _in_transaction(conn, BEGIN_WRITE, lambda: run_sync(conn, compiler, plan))

        return await self._job(run)

    async def _read(self, plan: Plan[T]) -> T:
        self._check_open()
        assert self._readers is not None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._read_now, plan)

    async def _read_point(self, plan: Plan[T]) -> T:
        # On the loop's own connection: a hand-off to a reader thread costs more than
        # such a read, and decoding its JSON holds the GIL in either thread.
        self._check_open()
        conn = self._loop_conn
        if conn is None or asyncio.get_running_loop() is not self._loop:
            return await self._read(plan)
        return _in_transaction(conn, BEGIN_READ, lambda: run_sync(conn, self._compiler, plan))

    def _read_now(self, plan: Plan[T]) -> T:
        conn: sqlite3.Connection | None = getattr(self._reader_local, "conn", None)
        if conn is None:
            conn = _sqlite_conn.connect(self.path, busy_timeout_ms=self.busy_timeout_ms)
            self._reader_local.conn = conn
            with self._reader_lock:
                self._reader_conns.append(conn)
        return _in_transaction(conn, BEGIN_READ, lambda: run_sync(conn, self._compiler, plan))


def _in_transaction(conn: sqlite3.Connection, begin: str, fn: Callable[[], T]) -> T:
    conn.execute(begin)
    try:
        result = fn()
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def _migrate(conn: sqlite3.Connection) -> None:
    def apply() -> None:
        found = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", (VERSION_TABLE,)
        ).fetchone()
        current: Any = None
        if found is not None:
            row = conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
            current = row[0] if row is not None else None
        for statement in upgrade_statements("sqlite", current):
            conn.execute(statement)

    _in_transaction(conn, BEGIN_WRITE, apply)
