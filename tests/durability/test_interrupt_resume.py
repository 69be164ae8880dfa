"""Answers to interrupts across a restart.

A run paused by ``interrupt_after`` is answered with a state patch; the process dies while
the resumed step runs; after the restart the recovered run must still have the patch.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from graphrun.engine.status import RunStatus
from tests.durability.support import make_manager, open_sqlite

GATE_SPEC: dict[str, Any] = {
    "name": "gate",
    "graph_id": "gate",
    "reducers": {"trail": "append", "total": "add"},
    "nodes": {
        "ask": {
            "tool": "recorded_step",
            "args": {"key": "asked", "pause": 0.0},
            "interrupt_after": True,
            "next": "work",
        },
        "work": {"tool": "recorded_step", "args": {"key": "worked", "pause": 1.0}, "next": "END"},
    },
}


async def test_a_resume_patch_survives_a_restart_during_the_resumed_step(
    tmp_path: Path, execution_log: Path
) -> None:
    store = await open_sqlite(tmp_path / "graphrun.db")
    await store.create_graph("gate", "gate", GATE_SPEC)
    try:
        first = make_manager(store, lease_seconds=30.0)
        await first.start()
        run, _ = await first.create_run("gate", {"seed": 0})
        paused = await first.wait(run.run_id, 10)
        assert paused.status is RunStatus.INTERRUPTED
        await first.resume(run.run_id, {"approved": True})
        await asyncio.sleep(0.4)  # `work` is running, the patch applied in memory only
        await first.stop()  # the process dies

        second = make_manager(store, lease_seconds=30.0)
        await second.start()
        done = await second.wait(run.run_id, 10)
        await second.stop()
    finally:
        await store.close()
    assert done.status is RunStatus.COMPLETED, done.error
    assert (done.state or {}).get("approved") is True, done.state
