"""Stopping a run manager: stop() returns even when it lands while a worker tidies up."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from graphrun.engine.status import RunStatus
from tests.durability.support import initial_state, make_manager, store_with_graph


async def test_stop_while_a_worker_stops_a_heartbeat_returns(
    tmp_path: Path, execution_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a run ends, its worker stops the run's heartbeat and waits for it. A stop()
    landing during that wait must stop the worker, not be taken for the heartbeat's own
    cancellation and lost (the worker would live on and stop() would never return)."""
    store = await store_with_graph(tmp_path / "graphrun.db", "quick", pause=0.05)

    async def stuck_renewal(*args: Any, **kwargs: Any) -> bool:
        # A renewal stuck on a slow database that takes a moment to unwind when
        # cancelled: the window in which the worker waits for its heartbeat to end.
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(0.3)
            raise
        return True

    monkeypatch.setattr(store, "renew_lease", stuck_renewal)
    manager = make_manager(store, lease_seconds=0.3)
    try:
        await manager.start()
        run, _ = await manager.create_run("quick", initial_state(0, loops=2))
        done = await manager.wait(run.run_id, 10)
        assert done.status is RunStatus.COMPLETED, done.error
        await asyncio.sleep(0.05)  # the worker is now waiting for the heartbeat
        stopping = asyncio.create_task(manager.stop())
        await asyncio.wait([stopping], timeout=5)
        if not stopping.done():
            for worker in manager._workers:  # let the test end
                worker.cancel()
            await stopping
            raise AssertionError("stop() did not return: a worker lost its cancellation")
    finally:
        await store.close()
