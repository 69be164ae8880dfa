"""The Postgres store: asyncpg, a connection pool, no thread hand-offs.

Each run with records to write has one writer task: it writes the run's records in the
order ``save`` was called, all that queued up since its last write in one statement (the
fenced run-row update, the checkpoints and the events: one round trip, atomic), on a
pooled connection. Many runs commit in parallel, each on its own connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa

from graphrun.engine.checkpoint import StepRecord
from graphrun.engine.errors import CheckpointConflictError
from graphrun.store._codec import PreparedStep, prepare
from graphrun.store._rows import CHECKPOINT_COLUMNS, EVENT_COLUMNS
from graphrun.store.errors import StoreClosedError, StoreError
from graphrun.store.sql import _queries as q
from graphrun.store.sql._plans import Compiler, Plan, run_async
from graphrun.store.sql._steps import StepGroup, StepSql, dollar, group_by_run
from graphrun.store.sql.migrations import VERSION_TABLE, upgrade_statements
from graphrun.store.sql.store import SqlStore
from graphrun.store.sql.tables import checkpoints, events

if TYPE_CHECKING:
    import asyncpg  # type: ignore[import-untyped]

T = TypeVar("T")


def _pg_type(column: sa.Column[Any]) -> str:
    if isinstance(column.type, sa.Integer):
        return "integer"
    if isinstance(column.type, sa.Float):
        return "double precision"
    return "text"


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Connections go back to the pool as they are: every use ends its transaction and
    sets no session state, so the default reset (a round trip per release) buys nothing."""


_PG_TYPES = {c.name: _pg_type(c) for table in (checkpoints, events) for c in table.c}


def _compiler() -> Compiler:
    from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg

    return Compiler(pg_asyncpg.dialect(), positional=True)  # type: ignore[no-untyped-call]


class PostgresStore(SqlStore):
    """The Postgres :class:`~graphrun.store.base.Store`.

    ``schema``: keep the tables in that schema (created if missing) instead of the
    connection's default ``search_path``.
    """

    def __init__(
        self, dsn: str, *, schema: str | None = None, min_size: int = 1, max_size: int = 10
    ) -> None:
        self.dsn = dsn
        self.schema = schema
        self._min_size = min_size
        self._max_size = max_size
        self._sql = StepSql(dollar)
        self._compiler = _compiler()
        self._pool: asyncpg.Pool | None = None
        self._queues: dict[str, list[tuple[PreparedStep, asyncio.Future[None]]]] = {}
        self._writers: dict[str, asyncio.Task[None]] = {}
        self._closed = False

    def __repr__(self) -> str:
        where = self.dsn.split("@")[-1]
        return f"PostgresStore({where!r}, schema={self.schema!r})"

    # -- lifecycle ----------------------------------------------------------------------

    async def open(self) -> None:
        """Connect the pool, create the schema if asked for one, apply migrations."""
        if self._closed:
            raise StoreClosedError(f"{self!r} was closed; make a new store to reconnect")
        if self._pool is not None:
            return
        import asyncpg

        settings = {"search_path": self.schema} if self.schema else None
        try:
            if self.schema:
                conn = await asyncpg.connect(self.dsn)
                try:
                    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                finally:
                    await conn.close()
            self._pool = await asyncpg.create_pool(
                self.dsn,
                min_size=self._min_size,
                max_size=self._max_size,
                server_settings=settings,
                reset=_keep_session,
            )
        except (OSError, asyncpg.PostgresError) as exc:
            raise StoreError(f"cannot connect to PostgreSQL for {self!r}: {exc}") from exc
        try:
            await self.migrate()
        except BaseException:
            await self.close()
            raise

    async def migrate(self) -> None:
        """Bring the schema to the newest revision. An advisory lock lets one process at a
        time migrate; the others then find nothing to do."""
        pool = self._require_pool()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.graphrun.migrate'))"
            )
            current = None
            if await conn.fetchval("SELECT to_regclass($1)", VERSION_TABLE) is not None:
                current = await conn.fetchval(f"SELECT version_num FROM {VERSION_TABLE}")
            for statement in upgrade_statements("postgresql", current):
                await conn.execute(statement)

    async def close(self) -> None:
        """Wait for the records ``save`` accepted, then close the pool."""
        if self._closed:
            return
        self._closed = True
        if self._writers:
            await asyncio.wait(list(self._writers.values()))
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def _require_pool(self) -> asyncpg.Pool:
        if self._closed or self._pool is None:
            state = "closed" if self._closed else "not open (await store.open() first)"
            raise StoreClosedError(f"{self!r} is {state}")
        return self._pool

    # -- the step path ------------------------------------------------------------------

    def save(self, record: StepRecord) -> Awaitable[None]:
        p = prepare(record)  # not JSON: raises now, nothing is written
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        try:
            pool = self._require_pool()
        except StoreError as exc:
            done.set_exception(exc)
            return done
        queued = self._queues.setdefault(p.run_id, [])
        queued.append((p, done))
        if p.run_id not in self._writers:
            self._writers[p.run_id] = loop.create_task(self._write_run(pool, p.run_id))
        return done

    async def _write_run(self, pool: asyncpg.Pool, run_id: str) -> None:
        """Write a run's queued records, in order: whatever queued up meanwhile goes in
        the next statement (a run saving faster than the database commits is batched)."""
        try:
            while queued := self._queues.get(run_id):
                batch = list(queued)
                queued.clear()
                try:
                    results = await self._write_batch(pool, [p for p, _ in batch])
                except Exception as exc:  # the connection or the server failed
                    results = [exc] * len(batch)
                for (_, fut), err in zip(batch, results, strict=True):
                    if fut.done():
                        continue
                    if err is None:
                        fut.set_result(None)
                    else:
                        fut.set_exception(err)
        finally:
            self._queues.pop(run_id, None)
            del self._writers[run_id]

    async def _write_batch(
        self, pool: asyncpg.Pool, steps: list[PreparedStep]
    ) -> list[BaseException | None]:
        import asyncpg

        async with pool.acquire() as conn:
            groups = group_by_run(steps)
            if groups is not None:
                try:
                    if await conn.fetchval(*self._statement(groups[0])) == 1:
                        return [None] * len(steps)
                except asyncpg.IntegrityConstraintViolationError:
                    pass
            # Refused somewhere: one record at a time says which.
            results: list[BaseException | None] = []
            for p in steps:
                group = StepGroup(p.run_id, [p], p if p.checkpoint else None, None, None)
                try:
                    if await conn.fetchval(*self._statement(group)) == 1:
                        results.append(None)
                        continue
                    results.append(await run_async(conn, self._compiler, q.explain_refusal(p)))
                except asyncpg.IntegrityConstraintViolationError as exc:
                    results.append(
                        CheckpointConflictError(
                            f"run {p.run_id!r}: the record for step {p.step} conflicts with "
                            f"what is stored ({exc})"
                        )
                    )
            return results

    def _statement(self, group: StepGroup) -> tuple[Any, ...]:
        """A group of one run's records as one statement (one round trip, atomic on its
        own): the fenced run-row update, then the checkpoints and events, inserted from
        the updated row, so a refused update inserts nothing. Returns (sql, *params)."""
        update, params = self._sql.group_update(group)
        sql = [f"WITH r AS ({update} RETURNING run_id)"]
        for name, columns, rows in (
            ("c", CHECKPOINT_COLUMNS, [p.checkpoint_row() for p in group.steps if p.checkpoint]),
            ("e", EVENT_COLUMNS, [e for p in group.steps for e in p.events]),
        ):
            if not rows:
                continue
            n = len(params)
            arrays = ", ".join(
                f"${n + i + 1}::{_PG_TYPES[col]}[]" for i, col in enumerate(columns[1:])
            )
            table = "checkpoints" if name == "c" else "events"
            sql.append(
                f", {name} AS (INSERT INTO {table} ({', '.join(columns)}) "
                f"SELECT r.run_id, x.* FROM r, unnest({arrays}) AS x RETURNING 1)"
            )
            values = list(zip(*rows, strict=True))
            params.extend(list(column) for column in values[1:])
        sql.append(" SELECT count(*) FROM r")
        return ("".join(sql), *params)

    # -- other writes and reads ---------------------------------------------------------

    async def _write(self, plan: Plan[T]) -> T:
        pool = self._require_pool()
        async with pool.acquire() as conn, conn.transaction():
            return await run_async(conn, self._compiler, plan)

    async def _read(self, plan: Plan[T]) -> T:
        pool = self._require_pool()
        async with (
            pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            return await run_async(conn, self._compiler, plan)


__all__ = ["PostgresStore"]
