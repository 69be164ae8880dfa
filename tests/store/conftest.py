"""Fixtures for the store tests: one store per backend, and helpers to drive runs.

``store`` is parametrized over every backend: memory, SQLite (a file in ``tmp_path``,
committing on the event loop or only through the writer thread) and Postgres (a fresh
schema per test on the server at ``GRAPHRUN_TEST_POSTGRES_URL``). Without a reachable
server the Postgres cases are skipped, or fail when ``CI=true``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from graphrun.engine import END, Branch, CompiledGraph, Graph
from graphrun.store import MemoryStore, Store
from graphrun.store.sql.postgres import PostgresStore
from graphrun.store.sql.sqlite import SqliteStore
from graphrun.store.sql.url import parse_database_url

POSTGRES_URL = os.environ.get(
    "GRAPHRUN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
_postgres_problem: list[str] = []  # filled once per session


async def postgres_dsn() -> str:
    """The test server's DSN, or skip (fail on CI) when it cannot be reached."""
    import asyncpg

    dsn = parse_database_url(POSTGRES_URL).dsn
    assert dsn is not None
    if not _postgres_problem:
        try:
            conn = await asyncpg.connect(dsn, timeout=5)
            await conn.close()
            _postgres_problem.append("")
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            _postgres_problem.append(f"PostgreSQL at {POSTGRES_URL} is not reachable: {exc}")
    if _postgres_problem[0]:
        if os.environ.get("CI") == "true":
            pytest.fail(_postgres_problem[0])
        pytest.skip(_postgres_problem[0] + " (set GRAPHRUN_TEST_POSTGRES_URL)")
    return dsn


async def drop_schema(dsn: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


OpenStore = Callable[[], Awaitable[Store]]

BACKENDS = [
    "memory",
    "sqlite",
    "sqlite-writer-thread",
    pytest.param("postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OpenStore]:
    """Opens a store on this test's database; call it again to reopen (a restart)."""
    kind: str = request.param
    opened: list[Store] = []
    schema = f"t_{uuid.uuid4().hex[:16]}"
    dsn = await postgres_dsn() if kind == "postgres" else ""
    memory = MemoryStore()

    def make() -> Store:
        if kind == "memory":
            return memory
        if kind == "sqlite":
            return SqliteStore(tmp_path / "graphrun.db")
        if kind == "sqlite-writer-thread":
            return SqliteStore(tmp_path / "graphrun.db", commit_on_loop=False)
        return PostgresStore(dsn, schema=schema, max_size=4)

    async def open_one() -> Store:
        store = make()
        await store.open()
        opened.append(store)
        return store

    try:
        yield open_one
    finally:
        for store in opened:
            await store.close()
        if kind == "postgres":
            await drop_schema(dsn, schema)


@pytest.fixture
def backend(open_store: OpenStore, request: pytest.FixtureRequest) -> str:
    """The name of the backend under test."""
    name: str = request.node.callspec.params["open_store"]
    return name


@pytest.fixture
async def store(open_store: OpenStore) -> Store:
    """An open store on a fresh database."""
    return await open_store()


def loop_graph(steps: int, name: str = "loop") -> CompiledGraph:
    """One ``increment`` node looping ``steps`` times on state key ``n``."""
    g = Graph(name, max_steps=steps + 10)
    g.add_node("inc", tool="increment", args={"key": "n"})
    g.add_conditional_edges("inc", [Branch("inc", f"n < {steps}"), Branch(END)])
    return g.compile()


async def new_run(
    store: Store, run_id: str | None = None, state: dict[str, object] | None = None
) -> str:
    """Create a queued run of graph ``g`` (created on first use); returns its id."""
    if await store.get_graph("g") is None:
        await store.create_graph("g", "loop", {"nodes": ["inc"]})
    run_id = run_id or f"run-{uuid.uuid4().hex[:12]}"
    await store.create_run(run_id, "g", 1, dict(state or {"n": 0}))
    return run_id
