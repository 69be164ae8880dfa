"""Fencing: when two executors run the same run, each step's result is recorded once.

The unique ``(run_id, step)`` checkpoint and the gap-free event seqs make the second
writer lose: its record is refused, it stops with ``CheckpointConflictError``, and the
run's history stays as one executor would have written it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from graphrun.engine import spec
from graphrun.engine.errors import CheckpointConflictError
from graphrun.engine.executor import Executor
from graphrun.engine.results import RunResult
from graphrun.engine.status import RunStatus
from tests.durability.recording_tools import read_lines
from tests.durability.support import (
    ServerProcess,
    check_executions,
    checkpoint_problems,
    create_graph,
    event_problems,
    fail_on,
    fetch_history,
    initial_state,
    open_sqlite,
    recorded_spec,
    reference_run,
    reference_states,
    start_run,
    store_history,
    store_with_graph,
    wait_all_final,
    wait_for,
)

GRAPH_ID = "recorded"


def freeze_outside_a_write(proc: subprocess.Popen[bytes], db: Path) -> None:
    """SIGSTOP ``proc`` at a moment it holds no write lock on the SQLite file.

    A process frozen inside a write transaction keeps SQLite's write lock, and every
    other process on the file waits for it instead of taking over: that is SQLite, not
    what this test is about. So freeze, check that the lock is free, else thaw and retry.
    """
    for _ in range(100):
        proc.send_signal(signal.SIGSTOP)
        conn = sqlite3.connect(db, timeout=0)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:
            pass
        finally:
            conn.close()
        proc.send_signal(signal.SIGCONT)
        time.sleep(0.005)
    raise AssertionError("could not freeze the server outside a write transaction")


@pytest.mark.parametrize("durability", ["sync", "async"])
async def test_two_executors_racing_on_a_run_record_each_step_once(
    tmp_path: Path, execution_log: Path, durability: Any
) -> None:
    db = tmp_path / "graphrun.db"
    store = await store_with_graph(db, GRAPH_ID, pause=0.05)
    other = await open_sqlite(db)  # a second process's store on the same file
    compiled = spec.load(recorded_spec(0.05)).compile()
    state = initial_state(7, loops=6)
    try:
        run = await store.create_run("raced", GRAPH_ID, 1, state)
        # A first executor gets the run to step 2, then stops where it stands.
        first = Executor(compiled, checkpointer=store, durability=durability)
        task = asyncio.create_task(first.start(state, run_id=run.run_id, after_seq=run.last_seq))

        async def two_steps() -> bool:
            cp = await store.load(run.run_id)
            return cp is not None and cp.step >= 2

        await wait_for(two_steps, 10, "two checkpoints")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.1)  # what it wrote behind is committed
        before = await store.load(run.run_id)
        assert before is not None and before.status is RunStatus.RUNNING

        racers = [Executor(compiled, checkpointer=s, durability=durability) for s in (store, other)]
        results = await asyncio.gather(
            *(r.resume(run.run_id) for r in racers), return_exceptions=True
        )
        lost = [r for r in results if isinstance(r, CheckpointConflictError)]
        won = [r for r in results if isinstance(r, RunResult)]
        assert lost, f"no executor was fenced off: {results}"
        assert len(lost) + len(won) == 2, results
        assert all(r.status is RunStatus.COMPLETED for r in won), won
        if not won:
            # Each refused one of the other's records: both stopped. Nothing is lost;
            # the next executor (recovery) finishes the run.
            again = await Executor(compiled, checkpointer=store, durability=durability).resume(
                run.run_id
            )
            assert again.status is RunStatus.COMPLETED
        h = await store_history(store, run.run_id)
    finally:
        await other.close()
        await store.close()

    assert h.state == (await reference_run(recorded_spec(0.0), [state], tmp_path / "r.jsonl"))[0]
    lines = [x for x in read_lines(execution_log) if x["run"] == run.run_id]
    # Every executor ran in this process, so its pid stands for "the loser may discard".
    report = check_executions(h, lines, {os.getpid()}, once_per_process=False, last_wins=False)
    fail_on(event_problems(h) + checkpoint_problems(h) + report.problems)
    # Steps checkpointed before the race never ran again.
    runs_of: dict[int, int] = defaultdict(int)
    for x in lines:
        if x["phase"] == "start":
            runs_of[x["step"]] += 1
    assert all(runs_of[s] == 1 for s in range(1, before.step + 1)), dict(runs_of)


@pytest.mark.slow
def test_a_frozen_server_thawed_after_another_took_over_corrupts_nothing(
    tmp_path: Path,
) -> None:
    """Server A is frozen (SIGSTOP) mid-run for longer than its leases; server B, on the
    same database, takes the runs over; then A is thawed (SIGCONT) and finds its runs
    taken. A must stop them where they stand: every run completes once, with the
    history and the final state of an uninterrupted run."""
    db = tmp_path / "graphrun.db"
    log = tmp_path / "executions.jsonl"
    settings: dict[str, Any] = {
        "lease_seconds": 1.0,
        "max_concurrent_runs": 10,
        "recovery_max_attempts": 10,
    }
    a = ServerProcess(tmp_path / "a", db, log, **settings)
    b = ServerProcess(tmp_path / "b", db, log, **settings)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    spec_data = recorded_spec(0.05)
    states = [initial_state(i, loops=8 + i % 6) for i in range(24)]
    began = time.monotonic()
    try:
        client_a = a.start()
        graph_id = create_graph(client_a, spec_data)
        run_ids = [start_run(client_a, graph_id, s) for s in states]
        time.sleep(0.6)
        assert a.proc is not None
        freeze_outside_a_write(a.proc, db)
        client_b = b.start()  # its start-up finds A's leases expired and takes the runs
        time.sleep(1.0)
        a.proc.send_signal(signal.SIGCONT)
        wait_all_final(client_b, run_ids, began + 90)
        time.sleep(1.0)  # A has woken up and noticed by now; it must not have written
        histories = [fetch_history(client_b, r) for r in run_ids]
        client_a.close()
        client_b.close()
    finally:
        if a.proc is not None and a.proc.poll() is None:
            a.proc.send_signal(signal.SIGCONT)
        a.stop()
        b.stop()

    bad = [(h.run_id, h.status, h.state) for h in histories if h.status != "completed"]
    assert not bad, f"runs that did not complete: {bad}"
    expected = reference_states(spec_data, states, tmp_path / "reference.jsonl")
    assert [h.state for h in histories] == expected
    lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for x in read_lines(log):
        lines[x["run"]].append(x)
    problems: list[str] = []
    took_over = 0
    for h in histories:
        problems += event_problems(h) + checkpoint_problems(h)
        # Both servers were running at once: executions by either may be discarded,
        # but never one recorded twice.
        report = check_executions(h, lines[h.run_id], {a.pid, b.pid}, last_wins=False)
        problems += report.problems
        took_over += any(x["pid"] == b.pid for x in lines[h.run_id])
    fail_on(problems)
    assert took_over > 0, "server B ran none of the runs"
