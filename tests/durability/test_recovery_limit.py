"""A run that keeps dying is failed after GRAPHRUN_RECOVERY_MAX_ATTEMPTS recoveries, with
the reason, instead of being retried forever.

In-process: each "life" is a run manager on the same SQLite file that picks the run up,
starts its node (which records the execution and then hangs) and dies.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from graphrun.engine.status import RunStatus
from tests.durability.recording_tools import read_lines
from tests.durability.support import (
    event_problems,
    fail_on,
    get_run,
    initial_state,
    make_manager,
    open_sqlite,
    store_history,
    store_with_graph,
    wait_for,
)

GRAPH_ID = "hangs"
LIMIT = 2


def executions(path: Path) -> int:
    return sum(1 for x in read_lines(path) if x["phase"] == "start")


async def a_life(db: Path, log: Path, run_id: str | None) -> tuple[str, int]:
    """Start a manager, let it create or recover the run, wait until the run's node is
    executing, then stop the manager mid-node. Returns the run id and the executions."""
    store = await open_sqlite(db)
    manager = make_manager(store, lease_seconds=30.0, recovery_max_attempts=LIMIT)
    before = executions(log)
    await manager.start()
    try:
        if run_id is None:
            run, _ = await manager.create_run(GRAPH_ID, initial_state(0, loops=1))
            run_id = run.run_id
        await wait_for(lambda: executions(log) > before, 10, "the node to start")
    finally:
        await manager.stop()
        await store.close()
    return run_id, executions(log)


async def test_a_run_that_keeps_dying_fails_after_the_recovery_limit(
    tmp_path: Path, execution_log: Path
) -> None:
    db = tmp_path / "graphrun.db"
    store = await store_with_graph(db, GRAPH_ID, pause=3600.0)
    await store.close()

    run_id, count = await a_life(db, execution_log, None)
    assert count == 1
    for recovery in range(1, LIMIT + 1):  # each life within the limit runs the node again
        _, count = await a_life(db, execution_log, run_id)
        assert count == 1 + recovery

    # One recovery too many: the run is failed at start-up, and its node does not run.
    for _ in range(2):  # and it stays failed
        store = await open_sqlite(db)
        manager = make_manager(store, lease_seconds=30.0, recovery_max_attempts=LIMIT)
        await manager.start()
        try:
            assert await manager.recover() == 0
            run = await store.get_run(run_id)
            h = await store_history(store, run_id)
        finally:
            await manager.stop()
            await store.close()
        assert run is not None
        assert run.status is RunStatus.FAILED
        assert run.recovery_attempts == LIMIT + 1
        assert run.error is not None and run.error["type"] == "RecoveryError"
        assert run.error["message"] == (
            f"gave up after {LIMIT} recoveries: the run kept dying "
            f"(setting GRAPHRUN_RECOVERY_MAX_ATTEMPTS is {LIMIT})"
        )
        fail_on(event_problems(h, terminal="run_failed"))
        assert h.events[-1]["data"]["message"] == run.error["message"]
        assert executions(execution_log) == 1 + LIMIT


async def test_recovery_takes_expired_and_free_runs_and_counts_running_ones(
    tmp_path: Path, execution_log: Path
) -> None:
    """A run left `running` by a process that died (lease expired, never released) is
    taken over and counts one recovery; a queued run that never started is taken and
    counts none; a run whose owner is alive (lease not expired) is left alone."""
    store = await store_with_graph(tmp_path / "graphrun.db", GRAPH_ID, pause=0.0)
    manager = make_manager(store, lease_seconds=30.0, recovery_max_attempts=1)
    try:
        fresh = await store.create_run("fresh", GRAPH_ID, 1, initial_state(1, loops=2))
        stale = await store.create_run("stale", GRAPH_ID, 1, initial_state(2, loops=2))
        held = await store.create_run("held", GRAPH_ID, 1, initial_state(3, loops=2))
        long_ago = datetime.now(UTC) - timedelta(hours=1)
        assert await store.acquire_lease(stale.run_id, "dead-process", 1.0, now=long_ago)
        assert await store.acquire_lease(held.run_id, "live-process", 3600.0)
        for run in (stale, held):
            await store.set_status(run.run_id, RunStatus.RUNNING)

        assert await manager.recover() == 2
        assert (await get_run(store, fresh.run_id)).recovery_attempts == 0
        assert (await get_run(store, stale.run_id)).recovery_attempts == 1
        assert (await get_run(store, held.run_id)).recovery_attempts == 0
        await manager.start()
        for run in (fresh, stale):
            done = await manager.wait(run.run_id, 10)
            assert done.status is RunStatus.COMPLETED, done.error
        untouched = await get_run(store, held.run_id)
        assert untouched.status is RunStatus.RUNNING
        assert untouched.lease_owner == "live-process"
    finally:
        await manager.stop()
        await store.close()
