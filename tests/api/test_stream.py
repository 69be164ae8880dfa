"""WebSocket streams against a real uvicorn server: history then live, no gap, no
duplicate, late subscribers, reconnects with ?after=, unknown runs, slow subscribers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.api.support import LiveServer, wait_final

STEPS = 30
SPEC = {
    "name": "ticker",
    "graph_id": "ticker",
    "nodes": {"tick": {"tool": "test_slow_step", "args": {"seconds": 0.01}}},
    "edges": [
        {"from": "tick", "branches": [{"when": f"ticks < {STEPS}", "to": "tick"}, {"to": "END"}]}
    ],
}


async def _collect(url: str) -> tuple[list[dict[str, Any]], int | None, str]:
    events: list[dict[str, Any]] = []
    async with connect(url) as ws:
        try:
            while True:
                events.append(json.loads(await ws.recv()))
        except ConnectionClosed as closed:
            rcvd = closed.rcvd
            return events, rcvd.code if rcvd else None, rcvd.reason if rcvd else ""
    raise AssertionError("unreachable")


async def _start(server: LiveServer) -> str:
    async with httpx.AsyncClient(base_url=server.url) as client:
        r = await client.post("/graph/create", json=SPEC)
        assert r.status_code in (201, 409), r.text
        r = await client.post("/graph/ticker/run", json={})
        run_id: str = r.json()["run_id"]
        return run_id


def _check_complete_log(events: list[dict[str, Any]], first: int = 1) -> None:
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(first, first + len(seqs))), seqs
    assert events[-1]["type"] == "run_completed"
    assert sum(e["type"] == "node_completed" for e in events) == STEPS


async def test_every_alias_streams_the_whole_log_in_order(live_server: LiveServer) -> None:
    run_id = await _start(live_server)
    paths = ["/ws/run/", "/ws/logs/", "/ws/", "/ws/graph/run/"]
    results = await asyncio.gather(*(_collect(f"{live_server.ws_url}{p}{run_id}") for p in paths))
    for events, code, _ in results:
        assert code == 1000
        _check_complete_log(events)
        assert set(events[0]) == {"seq", "type", "run_id", "node", "step", "ts", "data"}
    # A late subscriber, after the end, gets the same log from history.
    late, code, _ = await _collect(f"{live_server.ws_url}/ws/run/{run_id}")
    assert code == 1000
    assert late == results[0][0]


async def test_reconnect_with_after_continues_without_gap_or_duplicate(
    live_server: LiveServer,
) -> None:
    run_id = await _start(live_server)
    seen: list[dict[str, Any]] = []
    async with connect(f"{live_server.ws_url}/ws/run/{run_id}") as ws:
        for _ in range(7):
            seen.append(json.loads(await ws.recv()))
    rest, code, _ = await _collect(f"{live_server.ws_url}/ws/run/{run_id}?after={seen[-1]['seq']}")
    assert code == 1000
    _check_complete_log(seen + rest)


async def test_an_unknown_run_closes_with_4404(live_server: LiveServer) -> None:
    events, code, reason = await _collect(f"{live_server.ws_url}/ws/run/does-not-exist")
    assert events == []
    assert code == 4404
    assert "does-not-exist" in reason


@pytest.fixture
def settings(tmp_path: Any) -> Any:
    from tests.api.support import make_settings

    # A small buffer, so that a subscriber that does not read falls behind quickly.
    return make_settings(tmp_path, subscriber_buffer=20)


LOUD = {
    "name": "loud",
    "graph_id": "loud",
    "nodes": {
        "say": {"tool": "log", "args": {"message": "{blob}"}, "next": "count"},
        "count": {"tool": "increment", "args": {"key": "n"}},
    },
    "edges": [{"from": "count", "branches": [{"when": "n < 150", "to": "say"}, {"to": "END"}]}],
    "max_steps": 1000,
}


async def test_a_slow_subscriber_is_dropped_and_does_not_slow_the_run(
    live_server: LiveServer,
) -> None:
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        assert (await client.post("/graph/create", json=LOUD)).status_code == 201
        # Each loop writes a 100 kB log event: a reader that stops reading soon fills
        # the socket buffers, the server's sends block, and its event buffer overflows.
        run_id = (await client.post("/graph/loud/run", json={"blob": "x" * 100_000})).json()[
            "run_id"
        ]
        async with connect(
            f"{live_server.ws_url}/ws/run/{run_id}", max_queue=1, max_size=None
        ) as stalled:
            received = [json.loads(await stalled.recv())]
            done = await wait_final(client, run_id)  # the run ends while we do not read
            assert done["status"] == "completed"
            assert done["state"]["n"] == 150
            frame = None
            try:
                while True:
                    received.append(json.loads(await asyncio.wait_for(stalled.recv(), 10)))
            except ConnectionClosed as closed:
                frame = closed.rcvd
    assert frame is not None
    code, reason = frame.code, frame.reason
    assert code == 4408
    assert f"after={received[-1]['seq']}" in reason
    # Reconnecting from the last seq received gives the rest, with no gap.
    rest, code, _ = await _collect(
        f"{live_server.ws_url}/ws/run/{run_id}?after={received[-1]['seq']}"
    )
    assert code == 1000
    events = received + rest
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "run_completed"
    assert sum(e["type"] == "log" for e in events) == 150


async def test_the_ws_test_page_is_served(live_server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        r = await client.get("/ws-test/some-run")
    assert r.status_code == 200
    assert "new WebSocket" in r.text
    assert "text/html" in r.headers["content-type"]
