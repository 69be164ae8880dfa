"""Steering runs over HTTP: interrupts and resume, checkpoint history, forks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.api.support import (
    COUNTER_SPEC,
    create_graph,
    make_settings,
    running_app,
    wait_final,
    wait_status,
    wait_until,
)

APPROVAL = {
    "name": "approval",
    "graph_id": "approval",
    "nodes": {
        "draft": {"tool": "set", "args": {"draft": "v1"}, "next": "ask"},
        "ask": {"tool": "test_ask", "args": {"question": "ship it?"}, "next": "review"},
        "review": {
            "tool": "set",
            "args": {"reviewed": True},
            "interrupt_before": True,
            "next": "END",
        },
    },
}


def _interrupted(status: str) -> bool:
    return status == "interrupted"


async def test_interrupt_resume_across_a_restart(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with running_app(settings) as (_, client):
        await create_graph(client, APPROVAL)
        run_id = (await client.post("/graph/approval/run", json={})).json()["run_id"]
        paused = await wait_status(client, run_id, _interrupted)
        assert paused["interrupt"]["kind"] == "node"
        assert paused["interrupt"]["payload"] == {"question": "ship it?"}
        assert paused["current_nodes"] == ["ask"]
        assert "journals" not in paused["interrupt"]
    # The server goes away while the run waits; the answer comes to a new one.
    async with running_app(settings) as (_, client):
        assert (await client.get(f"/graph/state/{run_id}")).json()["status"] == "interrupted"
        r = await client.post(f"/runs/{run_id}/resume", json={"input": "yes"})
        assert r.status_code == 202
        # Now paused before "review": a state patch may come with the resume.
        gate = await _wait_interrupt_kind(client, run_id, "before")
        assert gate["state"]["answer"] == "yes"
        r = await client.post(f"/runs/{run_id}/resume", json={"input": {"note": "lgtm"}})
        assert r.status_code == 202
        done = await wait_final(client, run_id)
        assert done["status"] == "completed"
        assert done["state"] == {"draft": "v1", "answer": "yes", "note": "lgtm", "reviewed": True}
        logs = [line for line in done["logs"] if "asking" in line]
        assert len(logs) == 1  # the resumed step did not log its question twice
        events = (await client.get(f"/runs/{run_id}/events")).json()["events"]
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        assert [e["type"] for e in events].count("run_interrupted") == 2
        assert [e["type"] for e in events].count("run_resumed") == 2


async def _wait_interrupt_kind(client: httpx.AsyncClient, run_id: str, kind: str) -> Any:
    def paused_there(body: dict[str, Any]) -> bool:
        return body["status"] == "interrupted" and (body["interrupt"] or {}).get("kind") == kind

    return await wait_until(client, run_id, paused_there)


async def test_resume_refusals(client: httpx.AsyncClient) -> None:
    await create_graph(client, APPROVAL)
    await create_graph(client, {**COUNTER_SPEC, "graph_id": "counter"})
    done = (
        await client.post("/graph/run?wait=true", json={"graph_id": "counter", "initial_state": {}})
    ).json()
    r = await client.post(f"/runs/{done['run_id']}/resume", json={"input": 1})
    assert r.status_code == 409
    assert "not waiting for input" in r.json()["detail"]
    assert (await client.post("/runs/nope/resume", json={})).status_code == 404
    assert (
        await client.post(f"/runs/{done['run_id']}/resume", json={"bogus": 1})
    ).status_code == 422
    run_id = (await client.post("/graph/approval/run", json={})).json()["run_id"]
    await wait_status(client, run_id, _interrupted)
    await client.post(f"/runs/{run_id}/resume", json={"input": "yes"})
    gate = await _wait_interrupt_kind(client, run_id, "before")
    r = await client.post(f"/runs/{gate['run_id']}/resume", json={"input": [1, 2]})
    assert r.status_code == 422
    assert "JSON object" in r.json()["detail"]
    # An interrupted run can be cancelled, and then never resumes.
    assert (await client.post(f"/runs/{run_id}/cancel")).json()["status"] == "cancelled"
    assert (await client.post(f"/runs/{run_id}/resume", json={})).status_code == 409


async def test_checkpoint_history_state_at_a_step_and_fork(client: httpx.AsyncClient) -> None:
    await create_graph(client, {**COUNTER_SPEC, "graph_id": "counter"})
    run_id = (
        await client.post("/graph/run?wait=true", json={"graph_id": "counter", "initial_state": {}})
    ).json()["run_id"]
    history = (await client.get(f"/runs/{run_id}/checkpoints")).json()
    steps = [c["step"] for c in history["checkpoints"]]
    assert steps == [0, 1, 2, 3, 4]
    one = history["checkpoints"][1]
    assert one["nodes"] == ["inc"]
    assert one["delta"] == {"count": 1}
    assert one["pending"] == ["inc"]
    assert one["size_bytes"] > 0
    at2 = (await client.get(f"/runs/{run_id}/checkpoints/2")).json()
    assert at2["state"] == {"count": 2}
    assert at2["pending"] == ["inc"]
    assert (await client.get(f"/runs/{run_id}/checkpoints/99")).status_code == 404

    r = await client.post(f"/runs/{run_id}/fork", json={"step": 1, "state_patch": {"count": -5}})
    assert r.status_code == 202, r.text
    child = r.json()
    assert child["parent_run_id"] == run_id
    assert child["parent_step"] == 1
    done = await wait_final(client, child["run_id"])
    assert done["status"] == "completed"
    assert done["state"] == {"count": 3}
    child_history = (await client.get(f"/runs/{child['run_id']}/checkpoints")).json()
    assert child_history["parent_run_id"] == run_id
    assert child_history["checkpoints"][0]["state_bytes"] > 0
    # Counting from -5 to 3 takes 8 increments after the fork point, then "done".
    assert [c["step"] for c in child_history["checkpoints"]][-1] == 9
    assert (await client.post(f"/runs/{run_id}/fork", json={"step": 42})).status_code == 404
    assert (await client.post("/runs/nope/fork", json={"step": 0})).status_code == 404
    assert (await client.post(f"/runs/{run_id}/fork", json={"step": -1})).status_code == 422
