"""Cancellation is durable: a cancelled run, running or queued, stays cancelled across a
SIGKILL and a restart, and none of its nodes executes again."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.durability.recording_tools import read_lines
from tests.durability.support import (
    ServerProcess,
    checkpoint_problems,
    create_graph,
    event_problems,
    fail_on,
    fetch_history,
    initial_state,
    recorded_spec,
    start_run,
    wait_all_final,
)


def started(log: Path, run_id: str) -> list[dict[str, Any]]:
    return [x for x in read_lines(log) if x["run"] == run_id and x["phase"] == "start"]


@pytest.mark.slow
def test_cancelled_runs_stay_cancelled_across_a_kill_and_restart(tmp_path: Path) -> None:
    log = tmp_path / "executions.jsonl"
    server = ServerProcess(
        tmp_path, tmp_path / "graphrun.db", log, lease_seconds=1.0, max_concurrent_runs=2
    )
    try:
        client = server.start()
        graph_id = create_graph(client, recorded_spec(0.1))
        running, survivor, queued, later = (
            start_run(client, graph_id, initial_state(i, loops=25)) for i in range(4)
        )
        deadline = time.monotonic() + 15
        while len(started(log, running)) < 2:
            assert time.monotonic() < deadline, "the first run did not start"
            time.sleep(0.02)

        r = client.post(f"/runs/{queued}/cancel")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled"
        r = client.post(f"/runs/{running}/cancel")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled"
        cancelled_at = time.time()
        executed = len(started(log, running))
        steps_then = len(fetch_history(client, running).checkpoints)

        time.sleep(0.3)  # `later` takes the freed place; then the server dies
        client.close()
        server.kill()
        client = server.start()
        # The runs that were not cancelled are recovered and finish ...
        wait_all_final(client, [survivor, later], time.monotonic() + 60)
        time.sleep(1.5)  # ... and a few more recovery passes go by
        histories = {r: fetch_history(client, r) for r in (running, survivor, queued, later)}
        client.close()
    finally:
        server.stop()

    assert histories[survivor].status == histories[later].status == "completed"
    # The restart did recover what was running: the survivor resumed from a checkpoint.
    assert [e for e in histories[survivor].events if e["type"] == "run_resumed"]
    for run_id in (running, queued):
        h = histories[run_id]
        assert h.status == "cancelled", (run_id, h.status)
        fail_on(event_problems(h, terminal="run_cancelled") + checkpoint_problems(h))
    assert started(log, queued) == []
    assert len(started(log, running)) == executed
    assert all(x["t"] < cancelled_at for x in read_lines(log) if x["run"] == running)
    assert len(histories[running].checkpoints) == steps_then
    assert not [e for e in histories[running].events if e["type"] == "run_resumed"]
