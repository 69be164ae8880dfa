"""What is particular to the Postgres store: schemas, pooled writers, connection errors."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from graphrun.engine import RunStatus
from graphrun.store import GraphExistsError, StoreError, open_store
from graphrun.store.sql.postgres import PostgresStore
from tests.store.conftest import drop_schema, loop_graph, new_run, postgres_dsn

pytestmark = pytest.mark.postgres


@pytest.fixture
async def schemas() -> AsyncIterator[list[str]]:
    """Schema names for this test, dropped afterwards."""
    names = [f"t_{uuid.uuid4().hex[:16]}" for _ in range(2)]
    dsn = await postgres_dsn()
    yield names
    for name in names:
        await drop_schema(dsn, name)


async def test_stores_in_different_schemas_do_not_see_each_other(schemas: list[str]) -> None:
    dsn = await postgres_dsn()
    a = await open_store(f"{dsn}?schema={schemas[0]}")
    b = await open_store(f"{dsn}?schema={schemas[1]}")
    try:
        assert isinstance(a, PostgresStore)
        await a.create_graph("g", "in a", {})
        assert await b.get_graph("g") is None
        await b.create_graph("g", "in b", {})
        graph = await a.get_graph("g")
        assert graph is not None
        assert graph.name == "in a"
    finally:
        await a.close()
        await b.close()


async def test_concurrent_creates_of_one_graph_let_exactly_one_win(schemas: list[str]) -> None:
    store = PostgresStore(await postgres_dsn(), schema=schemas[0])
    await store.open()
    try:
        results = await asyncio.gather(
            *(store.create_graph("g", f"n{i}", {}) for i in range(6)), return_exceptions=True
        )
    finally:
        await store.close()
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, GraphExistsError) for r in results if isinstance(r, BaseException))


async def test_close_waits_for_pending_writes(schemas: list[str]) -> None:
    from graphrun.engine import Executor

    dsn = await postgres_dsn()
    store = PostgresStore(dsn, schema=schemas[0])
    await store.open()
    run_id = await new_run(store)
    task = asyncio.ensure_future(
        Executor(loop_graph(40), checkpointer=store, durability="async").start(
            {"n": 0}, run_id=run_id, after_seq=1
        )
    )
    await task
    await store.close()
    again = PostgresStore(dsn, schema=schemas[0])
    await again.open()
    try:
        run = await again.get_run(run_id)
        assert run is not None
        assert (run.status, run.state) == (RunStatus.COMPLETED, {"n": 40})
    finally:
        await again.close()


async def test_an_unreachable_server_gives_a_clear_error() -> None:
    store = PostgresStore("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(StoreError, match="cannot connect to PostgreSQL"):
        await store.open()
