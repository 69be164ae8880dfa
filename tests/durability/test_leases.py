"""Leases: a run executes only where its lease is held, and only once per process.

In-process: run managers on a SQLite file, nodes that record every execution
(``recording_tools``).
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from graphrun.engine.events import EventType
from graphrun.engine.status import RunStatus
from tests.durability.recording_tools import read_lines
from tests.durability.support import (
    check_executions,
    checkpoint_problems,
    event_problems,
    fail_on,
    get_run,
    initial_state,
    make_manager,
    open_sqlite,
    recorded_spec,
    reference_run,
    store_history,
    store_with_graph,
    wait_for,
)

GRAPH_ID = "recorded"


def starts(path: Path, run_id: str) -> list[dict[str, Any]]:
    return [x for x in read_lines(path) if x["run"] == run_id and x["phase"] == "start"]


async def test_a_run_whose_lease_is_taken_stops_here_without_recording_anything(
    tmp_path: Path, execution_log: Path
) -> None:
    db = tmp_path / "graphrun.db"
    store = await store_with_graph(db, GRAPH_ID, pause=0.15)
    other = await open_sqlite(db)  # another process's connection to the same file
    manager = make_manager(store, lease_seconds=0.6, durability="sync")
    state = initial_state(3, loops=5)
    await manager.start()
    try:
        run, _ = await manager.create_run(GRAPH_ID, state)
        await wait_for(lambda: len(starts(execution_log, run.run_id)) >= 2, 10, "two steps")
        # Another process takes the lease (as if this one had stalled past its expiry)
        # and has not written anything yet.
        later = datetime.now(UTC) + timedelta(seconds=1)
        assert await other.acquire_lease(run.run_id, "intruder", 0.5, now=later)
        await wait_for(lambda: manager.active == 0, 5, "the executor to stop")
        held = await store.get_run(run.run_id)
        assert held is not None
        assert held.status is RunStatus.RUNNING, held.error
        assert held.lease_owner == "intruder"
        events = await store.list_events(run.run_id)
        assert not [e for e in events if e.is_terminal], [e.type for e in events]
        executed = len(starts(execution_log, run.run_id))
        await asyncio.sleep(0.3)
        assert len(starts(execution_log, run.run_id)) == executed
        # The intruder never writes and its lease runs out: a recovery pass here takes
        # the run back and finishes it.
        done = await manager.wait(run.run_id, 15)
        assert done.status is RunStatus.COMPLETED, done.error
        h = await store_history(store, run.run_id)
        # Counted when taken back, reset by the checkpoints it recorded afterwards.
        recovered = (await get_run(store, run.run_id)).recovery_attempts
    finally:
        await manager.stop()
        await other.close()
        await store.close()
    assert recovered == 0
    assert [e["type"] for e in h.events].count(EventType.RUN_RESUMED.value) == 1
    assert h.state == (await reference_run(recorded_spec(0.0), [state], tmp_path / "r.jsonl"))[0]
    lines = [x for x in read_lines(execution_log) if x["run"] == run.run_id]
    report = check_executions(h, lines, {os.getpid()}, once_per_process=False)
    fail_on(event_problems(h) + checkpoint_problems(h) + report.problems)
    # Only the step in flight when the lease was lost ran again.
    assert len({x["step"] for x in report.discarded}) <= 1, report.discarded


async def test_a_recovery_pass_does_not_start_a_run_a_worker_is_picking_up(
    tmp_path: Path, execution_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await store_with_graph(tmp_path / "graphrun.db", GRAPH_ID, pause=0.01)
    manager = make_manager(store, lease_seconds=30.0, durability="sync")
    read_run = store.get_run
    picking_up = asyncio.Event()

    async def slow_get_run(run_id: str) -> Any:
        # Widen the moment between a worker taking the run off the queue and taking its
        # lease, so that the recovery pass below lands inside it.
        picking_up.set()
        await asyncio.sleep(0.2)
        return await read_run(run_id)

    await manager.start()
    try:
        monkeypatch.setattr(store, "get_run", slow_get_run)
        run, _ = await manager.create_run(GRAPH_ID, initial_state(1, loops=3))
        await picking_up.wait()
        assert await manager.recover() == 0
        done = await manager.wait(run.run_id, 15)
        assert done.status is RunStatus.COMPLETED, done.error
        h = await store_history(store, run.run_id)
    finally:
        await manager.stop()
        await store.close()
    fail_on(event_problems(h) + checkpoint_problems(h))
    executions = Counter((x["node"], x["step"]) for x in starts(execution_log, run.run_id))
    assert set(executions.values()) == {1}, executions
    assert not [e for e in h.events if e["type"] == EventType.RUN_CANCELLED.value]
