"""What is particular to the SQLite store: the file, its settings, and the two ways a step
record reaches the database (on the event loop, or through the writer thread)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from graphrun.engine import END, Event, EventType, Executor, Graph, RunStatus, StepRecord
from graphrun.store import StoreClosedError, open_store
from graphrun.store.sql import _sqlite_writer, sqlite
from graphrun.store.sql.sqlite import SqliteStore
from tests.store.conftest import loop_graph, new_run


def _record(run_id: str, step: int, seq: int, n: int, *, snapshot: bool = False) -> StepRecord:
    return StepRecord(
        run_id=run_id,
        step=step,
        kind="checkpoint",
        status=RunStatus.RUNNING,
        events=[Event(seq, EventType.LOG, run_id, None, step, {}, time.time())],
        delta={"n": n},
        snapshot={"n": n} if snapshot else None,
        pending=["inc"],
    )


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    s = SqliteStore(tmp_path / "db" / "graphrun.db")
    await s.open()
    yield s
    await s.close()


async def test_the_file_is_created_in_wal_mode(store: SqliteStore) -> None:
    assert store.path.exists()
    conn = sqlite3.connect(store.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    assert {"graphs", "graph_versions", "runs", "run_inputs", "checkpoints", "events"} <= tables


async def test_a_sqlite_url_with_a_driver_names_a_file_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    s = await open_store("sqlite+aiosqlite:///./named.db")
    try:
        assert isinstance(s, SqliteStore)
        await s.create_graph("g", "g", {})
    finally:
        await s.close()
    assert (tmp_path / "named.db").exists()


async def test_using_a_store_that_is_not_open_says_so(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "x.db")
    with pytest.raises(StoreClosedError, match="not open"):
        await s.get_run("r")
    await s.open()
    run_id = await new_run(s)
    await s.close()
    with pytest.raises(StoreClosedError, match="closed"):
        await s.save(_record(run_id, 0, 2, 0, snapshot=True))
    with pytest.raises(StoreClosedError, match="closed"):
        await s.open()


async def test_close_commits_what_save_accepted(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "x.db")
    await s.open()
    run_id = await new_run(s)
    futures = [s.save(_record(run_id, 0, 2, 0, snapshot=True))]
    futures += [s.save(_record(run_id, i, i + 2, i)) for i in range(1, 300)]
    await s.close()  # nothing awaited the saves
    assert all(f.done() for f in futures)  # type: ignore[attr-defined]
    again = SqliteStore(tmp_path / "x.db")
    await again.open()
    try:
        run = await again.get_run(run_id)
        assert run is not None
        assert (run.step, run.state, run.last_seq) == (299, {"n": 299}, 301)
    finally:
        await again.close()


async def test_a_save_waits_for_a_lock_held_elsewhere_without_blocking_the_loop(
    store: SqliteStore,
) -> None:
    run_id = await new_run(store)
    other = sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process writing
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    tick_task = asyncio.create_task(ticker())
    try:
        threading.Timer(0.2, lambda: other.execute("COMMIT")).start()
        started = time.perf_counter()
        await store.save(_record(run_id, 0, 2, 0, snapshot=True))
        waited = time.perf_counter() - started
    finally:
        tick_task.cancel()
        other.close()
    assert waited >= 0.15
    assert ticks >= 10  # the loop kept running while the writer thread waited
    run = await store.get_run(run_id)
    assert run is not None
    assert run.state == {"n": 0}


async def test_save_from_another_event_loop_goes_through_the_writer(store: SqliteStore) -> None:
    run_id = await new_run(store)
    errors: list[BaseException] = []

    def other_thread() -> None:
        async def save_all() -> None:
            await store.save(_record(run_id, 0, 2, 0, snapshot=True))
            await store.save(_record(run_id, 1, 3, 1))

        try:
            asyncio.run(save_all())
        except BaseException as exc:
            errors.append(exc)

    await asyncio.to_thread(other_thread)
    assert errors == []
    run = await store.get_run(run_id)
    assert run is not None
    assert (run.step, run.state) == (1, {"n": 1})


async def test_a_write_after_a_save_is_committed_after_it(store: SqliteStore) -> None:
    run_id = await new_run(store)
    saved = store.save(_record(run_id, 0, 2, 0, snapshot=True))  # not awaited
    change = await store.set_status(run_id, RunStatus.RUNNING, event=EventType.LOG)
    await saved
    assert change.event is not None
    assert change.event.seq == 3  # after the saved record's event, not before it


async def test_concurrent_runs_share_group_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    original = _sqlite_writer.write_steps

    def counting(conn: sqlite3.Connection, steps: Any, *args: Any, **kwargs: Any) -> Any:
        batches.append(len(steps))
        return original(conn, steps, *args, **kwargs)

    monkeypatch.setattr(_sqlite_writer, "write_steps", counting)
    monkeypatch.setattr(sqlite, "write_steps", counting)
    s = SqliteStore(tmp_path / "x.db", commit_on_loop=False)
    await s.open()
    try:
        compiled = loop_graph(20)
        ids = [await new_run(s, f"r{i}") for i in range(30)]
        batches.clear()
        await asyncio.gather(
            *(
                Executor(compiled, checkpointer=s, durability="sync").start(
                    {"n": 0}, run_id=run_id, after_seq=1
                )
                for run_id in ids
            )
        )
    finally:
        await s.close()
    assert sum(batches) == 30 * 21
    assert max(batches) > 5  # records of many runs in one transaction
    assert len(batches) < 30 * 21 / 3


async def test_the_file_grows_with_the_deltas_not_with_the_state(store: SqliteStore) -> None:
    big = {f"key{i}": "y" * 1000 for i in range(100)}
    g = Graph("tick", max_steps=250)
    g.add_node("tick", tool="increment", args={"key": "n"})
    g.add_conditional_edges("tick", lambda s: "tick" if s["n"] < 200 else END, targets=["tick"])
    run_id = await new_run(store, state={**big, "n": 0})
    await Executor(g.compile(), checkpointer=store, snapshot_every=1000).start(
        {**big, "n": 0}, run_id=run_id, after_seq=1
    )
    await store.close()
    conn = sqlite3.connect(store.path, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        stored = conn.execute(
            "SELECT sum(length(delta) + coalesce(length(snapshot), 0)) FROM checkpoints"
        ).fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    # 201 checkpoints of a 100 kB state: the input (snapshot and delta) plus 200 tiny deltas.
    assert 200_000 < stored < 200_000 + 201 * 30
    # The whole file: the input a few times over (run input, step 0, the event log),
    # nowhere near 201 copies of the state (20 MB).
    assert pages * page_size < 1_500_000


async def test_a_batch_with_a_refused_record_writes_the_rest(store: SqliteStore) -> None:
    from graphrun.store._codec import prepare
    from graphrun.store.sql._sqlite_conn import compiler, connect
    from graphrun.store.sql._sqlite_writer import write_steps
    from graphrun.store.sql._steps import StepSql, qmark

    a, b = await new_run(store, "a"), await new_run(store, "b")
    await store.save(_record(a, 0, 2, 0, snapshot=True))
    await store.save(_record(b, 0, 2, 0, snapshot=True))
    batch = [
        prepare(_record(a, 1, 3, 1)),
        prepare(_record(a, 1, 4, 99)),  # a second step 1: refused
        prepare(_record(a, 3, 4, 3)),  # does not follow step 1: refused
        prepare(_record(a, 2, 4, 2)),  # follows what is stored: written
        prepare(_record(b, 1, 3, 1)),
    ]
    conn = connect(store.path)
    try:
        results = write_steps(conn, batch, StepSql(qmark), compiler())
    finally:
        conn.close()
    assert results is not None
    assert [type(r).__name__ for r in results] == [
        "NoneType",
        "CheckpointConflictError",
        "CheckpointConflictError",
        "NoneType",
        "NoneType",
    ]
    assert "already has a checkpoint for step 1" in str(results[1])
    assert "does not follow the last checkpoint (step 1)" in str(results[2])
    run_a, run_b = await store.get_run(a), await store.get_run(b)
    assert run_a is not None
    assert run_b is not None
    assert (run_a.state, run_a.last_seq, run_b.state) == ({"n": 2}, 4, {"n": 1})
