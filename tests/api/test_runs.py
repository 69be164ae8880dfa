"""Runs over HTTP: the seeds' request shapes, state views, listing, cancel, events, errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.api.support import (
    COUNTER_SPEC,
    create_graph,
    make_settings,
    running_app,
    wait_final,
    wait_status,
)

SLOW_SPEC = {
    "name": "slow",
    "nodes": {"tick": {"tool": "test_slow_step", "args": {"seconds": 0.05}}},
    "edges": [{"from": "tick", "branches": [{"when": "ticks < 200", "to": "tick"}, {"to": "END"}]}],
    "max_steps": 1000,
}


async def test_run_is_accepted_at_once_and_completes(client: httpx.AsyncClient) -> None:
    await create_graph(client, {**COUNTER_SPEC, "graph_id": "counter"})
    r = await client.post("/graph/run", json={"graph_id": "counter", "initial_state": {"count": 0}})
    assert r.status_code == 202
    body = r.json()
    assert body["status"] == "queued"
    run_id = body["run_id"]
    done = await wait_final(client, run_id)
    assert done["status"] == "completed"
    assert done["state"] == {"count": 3}
    assert done["current_nodes"] == []
    assert done["graph_id"] == "counter"
    assert done["step"] == 4
    assert "step 4: done: counted to 3" in done["logs"]
    alias = (await client.get(f"/graph/run/{run_id}/state")).json()
    assert alias["state"] == done["state"]


async def test_wait_true_answers_with_the_final_state_and_logs(client: httpx.AsyncClient) -> None:
    await create_graph(client, {**COUNTER_SPEC, "graph_id": "counter"})
    r = await client.post("/graph/run?wait=true", json={"graph_id": "counter", "initial_state": {}})
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "completed"
    assert body["final_state"] == {"count": 3}
    assert body["logs"][0] == "run_queued"
    assert body["logs"][-1].endswith("run_completed")


async def test_the_seed_request_shapes(client: httpx.AsyncClient) -> None:
    await create_graph(client, {**COUNTER_SPEC, "graph_id": "counter"})
    # seed 003: {graph_id, state: {data, metadata}}
    r = await client.post(
        "/graph/run?wait=true",
        json={"graph_id": "counter", "state": {"data": {"count": 1}, "metadata": {"who": "me"}}},
    )
    assert r.json()["final_state"] == {"count": 3, "metadata": {"who": "me"}}
    # seed 000: POST /graph/{graph_id}/run with the state as the body
    r = await client.post("/graph/counter/run", json={"count": 2})
    assert r.status_code == 202
    done = await wait_final(client, r.json()["run_id"])
    assert done["state"] == {"count": 3}


async def test_bad_run_requests(client: httpx.AsyncClient) -> None:
    await create_graph(client, {**COUNTER_SPEC, "graph_id": "counter"})
    r = await client.post("/graph/run", json={"graph_id": "nope", "initial_state": {}})
    assert r.status_code == 404
    assert "nope" in r.json()["detail"]
    r = await client.post("/graph/run", json={"graph_id": "counter", "initial_state": [1]})
    assert r.status_code == 422
    assert r.json()["problems"][0]["location"].startswith("body.initial_state")
    r = await client.post("/graph/counter/run", json=[1, 2])
    assert r.status_code == 422
    r = await client.post("/graph/run", json={"initial_state": {}})
    assert r.status_code == 422
    assert any("graph_id" in p["location"] for p in r.json()["problems"])
    r = await client.post(
        "/graph/run", json={"graph_id": "counter", "initial_state": {"s": "x" * 2_000_000}}
    )
    assert r.status_code == 413
    assert "GRAPHRUN_MAX_BODY_BYTES" in r.json()["detail"]
    r = await client.post(
        "/graph/run", json={"graph_id": "counter", "initial_state": {"s": "x" * 600_000}}
    )
    assert r.status_code == 422
    assert "GRAPHRUN_MAX_STATE_BYTES" in r.json()["detail"]
    for path in ("/graph/state/none", "/graph/run/none/state", "/runs/none/events"):
        r = await client.get(path)
        assert r.status_code == 404
        assert "none" in r.json()["detail"]
    assert (await client.post("/runs/none/cancel")).status_code == 404


async def test_a_failing_node_fails_its_run_and_the_server_keeps_serving(
    client: httpx.AsyncClient,
) -> None:
    spec = {
        "name": "fails",
        "nodes": {"boom": {"tool": "fail", "args": {"message": "kaput"}, "final": True}},
    }
    await create_graph(client, {**spec, "graph_id": "fails"})
    r = await client.post("/graph/run?wait=true", json={"graph_id": "fails", "initial_state": {}})
    body = r.json()
    assert body["status"] == "failed"
    assert body["error"]["message"] == "kaput"
    assert body["error"]["type"] == "ToolFailureError"
    assert "Traceback" in body["error"]["traceback"]
    state = (await client.get(f"/graph/state/{body['run_id']}")).json()
    assert state["error"]["message"] == "kaput"
    assert (await client.get("/health")).status_code == 200


async def test_list_runs_filters_and_pages_newest_first(client: httpx.AsyncClient) -> None:
    await create_graph(client, {**COUNTER_SPEC, "graph_id": "a"})
    await create_graph(client, {**COUNTER_SPEC, "graph_id": "b"})
    ids = []
    for graph_id in ("a", "a", "b"):
        r = await client.post(
            "/graph/run?wait=true", json={"graph_id": graph_id, "initial_state": {}}
        )
        ids.append(r.json()["run_id"])
    page = (await client.get("/runs?graph_id=a")).json()
    assert page["total"] == 2
    assert [r["run_id"] for r in page["runs"]] == [ids[1], ids[0]]
    page = (await client.get("/runs?limit=1&offset=1")).json()
    assert page["total"] == 3
    assert [r["run_id"] for r in page["runs"]] == [ids[1]]
    assert (await client.get("/runs?status=failed")).json()["total"] == 0
    assert (await client.get("/runs?status=bogus")).status_code == 422
    assert (await client.get("/runs?limit=0")).status_code == 422


async def test_events_after_n_and_a_gap_free_log(client: httpx.AsyncClient) -> None:
    await create_graph(client, {**COUNTER_SPEC, "graph_id": "counter"})
    run_id = (
        await client.post("/graph/run?wait=true", json={"graph_id": "counter", "initial_state": {}})
    ).json()["run_id"]
    events = (await client.get(f"/runs/{run_id}/events")).json()["events"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "run_queued"
    assert events[1]["type"] == "run_started"
    assert events[-1]["type"] == "run_completed"
    later = (await client.get(f"/runs/{run_id}/events?after=5")).json()["events"]
    assert [e["seq"] for e in later] == list(range(6, len(events) + 1))
    assert (await client.get(f"/runs/{run_id}/events?after=-1")).status_code == 422


async def test_cancel_a_running_and_a_queued_run(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path, max_concurrent_runs=1)) as (_, client):
        await create_graph(client, {**SLOW_SPEC, "graph_id": "slow"})
        first = (await client.post("/graph/slow/run", json={})).json()["run_id"]
        second = (await client.post("/graph/slow/run", json={})).json()["run_id"]
        await wait_status(client, first, lambda s: s == "running")
        assert (await client.get(f"/graph/state/{second}")).json()["status"] == "queued"

        r = await client.post(f"/runs/{second}/cancel")
        assert r.status_code == 200
        assert r.json()["status"] == "cancelled"
        r = await client.post(f"/runs/{first}/cancel")
        assert r.status_code == 200
        assert r.json()["status"] == "cancelled"
        ticks = r.json()["state"].get("ticks", 0)
        assert ticks < 200
        await asyncio.sleep(0.3)  # a cancelled run does not go on
        again = (await client.get(f"/graph/state/{first}")).json()
        assert again["state"].get("ticks", 0) == ticks
        assert (await client.post(f"/runs/{first}/cancel")).status_code == 409
        events = (await client.get(f"/runs/{second}/events")).json()["events"]
        assert [e["type"] for e in events] == ["run_queued", "run_cancelled"]


async def test_excess_runs_wait_queued_and_none_is_dropped(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path, max_concurrent_runs=2)) as (_, client):
        spec = {
            "name": "short",
            "nodes": {"tick": {"tool": "test_slow_step", "args": {"seconds": 0.02}, "next": "END"}},
        }
        await create_graph(client, {**spec, "graph_id": "short"})
        ids = [(await client.post("/graph/short/run", json={})).json()["run_id"] for _ in range(12)]
        health = (await client.get("/health")).json()
        assert health["runs_active"] <= 2
        for run_id in ids:
            done = await wait_final(client, run_id)
            assert done["status"] == "completed"
            assert done["state"] == {"ticks": 1}


async def test_idempotency_key(client: httpx.AsyncClient) -> None:
    await create_graph(client, {**COUNTER_SPEC, "graph_id": "counter"})
    body = {"graph_id": "counter", "initial_state": {"count": 1}}
    first = await client.post("/graph/run", json=body, headers={"Idempotency-Key": "k1"})
    second = await client.post("/graph/run", json=body, headers={"Idempotency-Key": "k1"})
    assert first.status_code == second.status_code == 202
    assert first.json()["run_id"] == second.json()["run_id"]
    other = await client.post(
        "/graph/run",
        json={"graph_id": "counter", "initial_state": {"count": 2}},
        headers={"Idempotency-Key": "k1"},
    )
    assert other.status_code == 409
    assert "k1" in other.json()["detail"]
    page = (await client.get("/runs")).json()
    assert page["total"] == 1


async def test_everything_is_served_again_after_a_restart(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with running_app(settings) as (_, client):
        await create_graph(client, {**COUNTER_SPEC, "graph_id": "counter"})
        r = await client.post(
            "/graph/run?wait=true", json={"graph_id": "counter", "initial_state": {}}
        )
        run_id = r.json()["run_id"]
        before_state = (await client.get(f"/graph/state/{run_id}")).json()
        before_events = (await client.get(f"/runs/{run_id}/events")).json()
    async with running_app(settings) as (_, client):
        assert (await client.get(f"/graph/state/{run_id}")).json() == before_state
        assert (await client.get(f"/runs/{run_id}/events")).json() == before_events
        assert (await client.get("/graph/counter")).json()["version"] == 1
        assert (await client.get("/runs")).json()["total"] == 1
