"""Graphs over HTTP: every accepted spec form, versions, deletion, and bad input."""

from __future__ import annotations

import copy

import httpx

from tests.api.support import COUNTER_SPEC, create_graph, wait_final
from tests.review_specs import next_map_review

SEED_004_SPEC = next_map_review()


async def test_health_and_tools(client: httpx.AsyncClient) -> None:
    for path in ("/", "/health"):
        r = await client.get(path)
        assert r.status_code == 200
        assert r.json()["status"] == "ok"
        assert r.json()["database"] == "sqlite"
    tools = (await client.get("/tools")).json()
    names = {t["name"] for t in tools["tools"]}
    assert {"noop", "set", "increment", "sleep", "log", "fail", "extract_functions"} <= names
    inc = next(t for t in tools["tools"] if t["name"] == "increment")
    assert inc["description"]
    assert inc["signature"].startswith("increment(state")
    assert "quality_below_threshold" in {c["name"] for c in tools["conditions"]}


async def test_create_read_list_update_delete(client: httpx.AsyncClient) -> None:
    r = await client.post("/graph/create", json={**COUNTER_SPEC, "graph_id": "counter"})
    assert r.status_code == 201
    assert r.json() == {
        "graph_id": "counter",
        "name": "counter",
        "version": 1,
        "message": "Graph created successfully",
    }
    again = await client.post("/graph/create", json={**COUNTER_SPEC, "graph_id": "counter"})
    assert again.status_code == 409
    assert "counter" in again.json()["detail"]

    one = (await client.get("/graph/counter")).json()
    assert one["spec"]["nodes"]["inc"]["tool"] == "increment"
    assert one["mermaid"].startswith("flowchart")
    assert "count < 3" in one["mermaid"]
    assert [v["version"] for v in one["versions"]] == [1]

    changed = copy.deepcopy(COUNTER_SPEC)
    changed["edges"][0]["branches"][0]["when"] = "count < 5"
    r = await client.put("/graph/counter", json=changed)
    assert r.status_code == 200
    assert r.json()["version"] == 2
    one = (await client.get("/graph/counter")).json()
    assert [v["version"] for v in one["versions"]] == [1, 2]
    assert (await client.get("/graph/counter?version=1")).json()["spec"]["edges"][0]["branches"][0][
        "when"
    ] == "count < 3"

    listed = (await client.get("/graphs")).json()["graphs"]
    assert "counter" in {g["graph_id"] for g in listed}

    assert (await client.delete("/graph/counter")).status_code == 204
    assert (await client.get("/graph/counter")).status_code == 404
    assert (await client.delete("/graph/counter")).status_code == 404
    r = await client.post("/graph/run", json={"graph_id": "counter", "initial_state": {}})
    assert r.status_code == 404


async def test_a_run_keeps_the_version_it_started_on(client: httpx.AsyncClient) -> None:
    await create_graph(client, {**COUNTER_SPEC, "graph_id": "pinned"})
    r = await client.post("/graph/run?wait=true", json={"graph_id": "pinned", "initial_state": {}})
    assert r.json()["final_state"]["count"] == 3
    changed = copy.deepcopy(COUNTER_SPEC)
    changed["edges"][0]["branches"][0]["when"] = "count < 6"
    await client.put("/graph/pinned", json=changed)
    r = await client.post("/graph/run?wait=true", json={"graph_id": "pinned", "initial_state": {}})
    assert r.json()["final_state"]["count"] == 6
    state = (await client.get(f"/graph/state/{r.json()['run_id']}")).json()
    assert state["graph_version"] == 2


async def test_seed_forms_are_accepted(client: httpx.AsyncClient) -> None:
    r = await client.post("/graph/create", json=SEED_004_SPEC)
    assert r.status_code == 201, r.text
    graph_id = r.json()["graph_id"]
    assert len(graph_id) == 36  # no id given: a UUID, as the seeds answer
    spec = (await client.get(f"/graph/{graph_id}")).json()["spec"]
    assert spec["entry"] == "extract"
    run = await client.post(
        "/graph/run",
        json={
            "graph_id": graph_id,
            "initial_state": {"code": "def f(x):\n    return x\n", "quality_score": 0},
        },
    )
    assert run.status_code == 202
    done = await wait_final(client, run.json()["run_id"], seconds=60)
    assert done["status"] == "completed"
    assert done["state"]["iteration"] >= 1


async def test_invalid_specs_answer_422_with_every_problem_located(
    client: httpx.AsyncClient,
) -> None:
    bad = {
        "name": "bad",
        "nodes": {
            "a": {"tool": "no_such_tool", "next": "b"},
            "b": {"tool": "noop", "next": "nowhere"},
        },
    }
    r = await client.post("/graph/create", json=bad)
    assert r.status_code == 422
    body = r.json()
    locations = {p["location"] for p in body["problems"]}
    assert any("a" in loc and "tool" in loc for loc in locations), body
    assert any("b" in loc for loc in locations), body
    messages = " ".join(p["message"] for p in body["problems"])
    assert "no_such_tool" in messages
    assert "nowhere" in messages

    unsafe = copy.deepcopy(COUNTER_SPEC)
    unsafe["edges"][0]["branches"][0]["when"] = "__import__('os').system('id')"
    r = await client.post("/graph/create", json=unsafe)
    assert r.status_code == 422
    assert "when" in r.json()["problems"][0]["location"]

    for not_a_spec in ([1, 2], "text", 3):
        r = await client.post("/graph/create", json=not_a_spec)
        assert r.status_code == 422
    r = await client.post(
        "/graph/create", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422


async def test_graph_ids_must_be_reachable(client: httpx.AsyncClient) -> None:
    for graph_id in ("create", "run", "state"):
        r = await client.post("/graph/create", json={**COUNTER_SPEC, "graph_id": graph_id})
        assert r.status_code == 422
        assert "reserved" in r.json()["detail"]
    r = await client.post("/graph/create", json={**COUNTER_SPEC, "graph_id": "a/b"})
    assert r.status_code == 422
    assert "graph_id" in r.json()["detail"]


async def test_graph_size_and_max_steps_limits_name_the_setting(
    client: httpx.AsyncClient,
) -> None:
    too_many = {
        "name": "big",
        "nodes": {f"n{i}": {"tool": "noop", "next": f"n{i + 1}"} for i in range(300)},
    }
    too_many["nodes"]["n299"]["next"] = "END"
    r = await client.post("/graph/create", json=too_many)
    assert r.status_code == 422
    assert "GRAPHRUN_MAX_GRAPH_NODES" in r.text
    r = await client.post("/graph/create", json={**COUNTER_SPEC, "max_steps": 10**9})
    assert r.status_code == 422
    assert "GRAPHRUN_MAX_STEPS_LIMIT" in r.text
