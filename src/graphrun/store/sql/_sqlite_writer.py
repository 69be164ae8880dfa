"""The SQLite writer: one thread, one connection, group commit.

Everything queued while the writer was busy goes into its next transaction: the step
records of every run at once, in a handful of statements, with one commit for all of them
(a refused record writes nothing and leaves the others in). Other writes (creating a run,
leases, migrations) are jobs with a transaction of their own, run in queue order between
the groups.

Results go back to each caller's event loop with ``call_soon_threadsafe``, one callback per
loop per transaction.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from graphrun.engine.errors import CheckpointConflictError
from graphrun.store._codec import PreparedStep
from graphrun.store._rows import CHECKPOINT_COLUMNS, EVENT_COLUMNS
from graphrun.store.sql import _queries as q
from graphrun.store.sql._plans import Compiler, run_sync
from graphrun.store.sql._sqlite_conn import BEGIN_WRITE, is_busy
from graphrun.store.sql._steps import StepSql, group_by_run


@dataclass(slots=True)
class Pending:
    """A step record waiting for its commit, and who waits for it."""

    step: PreparedStep
    future: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop
    home: bool


@dataclass(slots=True)
class Job:
    """A write with its own transaction: ``fn(conn)`` runs on the writer thread."""

    fn: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    home: bool


class _Signal:
    def __init__(self, name: str) -> None:
        self.name = name


STOP = _Signal("stop")
WAL_CHECKPOINT = _Signal("wal checkpoint")

Item = Pending | Job | _Signal
Outcome = tuple["asyncio.Future[Any]", BaseException | None, Any, bool]
"""(future, error, value, home): delivered on the future's loop."""


def write_steps(
    conn: sqlite3.Connection,
    steps: Sequence[PreparedStep],
    sql: StepSql,
    compiler: Compiler,
    *,
    fail_if_busy: bool = False,
) -> list[BaseException | None] | None:
    """Write ``steps`` in one transaction; one result per step (``None``: committed).

    First as few statements as possible: one fenced run-row update per run, then every
    checkpoint and every event in multi-row inserts (see ``group_by_run``). If anything is
    refused, the transaction is rolled back and the records are written one by one: a
    refused record is refused by its fenced ``UPDATE`` before it writes anything, so the
    others go on; a record whose insert still fails is left out and the rest written
    again. With ``fail_if_busy``, returns ``None`` without writing when another connection
    holds the write lock.
    """
    dropped: dict[int, BaseException] = {}
    grouped = True
    results: list[BaseException | None] | None
    while True:
        try:
            conn.execute(BEGIN_WRITE)
        except sqlite3.OperationalError as exc:
            if fail_if_busy and is_busy(exc):
                return None
            raise
        try:
            if grouped:
                grouped = False
                results = [None] * len(steps) if _write_grouped(conn, steps, sql) else None
            else:
                results = _write_one_by_one(conn, steps, sql, compiler, dropped)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if results is not None:
            conn.execute("COMMIT")
            return results
        conn.execute("ROLLBACK")


_ROWS_PER_INSERT = 500  # at most 11 parameters a row: well under SQLite's 32,766


def _insert_rows(
    conn: sqlite3.Connection,
    sql: StepSql,
    table: str,
    columns: tuple[str, ...],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[start : start + _ROWS_PER_INSERT]
        conn.execute(sql.insert_rows(table, columns, len(chunk)), [v for row in chunk for v in row])


def _write_grouped(conn: sqlite3.Connection, steps: Sequence[PreparedStep], sql: StepSql) -> bool:
    groups = group_by_run(steps)
    if groups is None:
        return False
    for group in groups:
        update, params = sql.group_update(group)
        if conn.execute(update, params).rowcount != 1:
            return False
    try:
        _insert_rows(
            conn, sql, "checkpoints", CHECKPOINT_COLUMNS,
            [p.checkpoint_row() for p in steps if p.checkpoint],
        )  # fmt: skip
        _insert_rows(conn, sql, "events", EVENT_COLUMNS, [e for p in steps for e in p.events])
    except sqlite3.IntegrityError:
        return False
    return True


def _write_one_by_one(
    conn: sqlite3.Connection,
    steps: Sequence[PreparedStep],
    sql: StepSql,
    compiler: Compiler,
    dropped: dict[int, BaseException],
) -> list[BaseException | None] | None:
    results: list[BaseException | None] = []
    for i, p in enumerate(steps):
        err: BaseException | None
        if i in dropped:
            err = dropped[i]
        else:
            update, params = sql.run_update(p)
            if conn.execute(update, params).rowcount != 1:
                err = run_sync(conn, compiler, q.explain_refusal(p))
            else:
                try:
                    if p.checkpoint:
                        conn.execute(sql.insert_checkpoint, p.checkpoint_row())
                    _insert_rows(conn, sql, "events", EVENT_COLUMNS, p.events)
                except sqlite3.IntegrityError as exc:
                    dropped[i] = CheckpointConflictError(
                        f"run {p.run_id!r}: the record for step {p.step} conflicts with what "
                        f"is stored ({exc})"
                    )
                    return None  # the run row was updated: start over without this one
                err = None
        results.append(err)
    return results


class SqliteWriter:
    """The writer thread (see the module docstring). ``deliver(outcomes)`` is called on
    each waiting loop with that loop's outcomes."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        sql: StepSql,
        compiler: Compiler,
        deliver: Callable[[list[Outcome]], None],
    ) -> None:
        self._conn = conn
        self._sql = sql
        self._compiler = compiler
        self._deliver = deliver
        self._queue: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._run, name="graphrun-sqlite-writer", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def put(self, item: Item) -> None:
        self._queue.put(item)

    def stop(self) -> None:
        """Finish everything queued so far, then end the thread."""
        self._queue.put(STOP)

    def join(self) -> None:
        self._thread.join()

    def _run(self) -> None:
        try:
            while True:
                items = [self._queue.get()]
                while True:
                    try:
                        items.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                steps: list[Pending] = []
                stop = False
                for item in items:
                    if isinstance(item, Pending):
                        steps.append(item)
                        continue
                    self._commit(steps)
                    steps = []
                    if isinstance(item, Job):
                        self._job(item)
                    elif item is WAL_CHECKPOINT:
                        self._wal_checkpoint()
                    elif item is STOP:
                        stop = True
                self._commit(steps)
                if stop:
                    return
        finally:
            self._conn.close()

    def _commit(self, steps: list[Pending]) -> None:
        if not steps:
            return
        try:
            results = write_steps(self._conn, [p.step for p in steps], self._sql, self._compiler)
            assert results is not None
        except BaseException as exc:  # e.g. disk full: nothing of the group was written
            results = [exc] * len(steps)
        self._send([(p.future, err, None, p.home) for p, err in zip(steps, results, strict=True)],
                   [p.loop for p in steps])  # fmt: skip

    def _job(self, job: Job) -> None:
        try:
            value = job.fn(self._conn)
        except BaseException as exc:
            self._send([(job.future, exc, None, job.home)], [job.loop])
        else:
            self._send([(job.future, None, value, job.home)], [job.loop])

    def _wal_checkpoint(self) -> None:
        try:
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:  # best effort: the next one will do
            return

    def _send(self, outcomes: list[Outcome], loops: list[asyncio.AbstractEventLoop]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
        for outcome, loop in zip(outcomes, loops, strict=True):
            by_loop.setdefault(loop, []).append(outcome)
        for loop, mine in by_loop.items():
            try:
                loop.call_soon_threadsafe(self._deliver, mine)
            except RuntimeError:  # that loop is closed: nobody is waiting any more
                continue
