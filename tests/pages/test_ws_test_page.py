"""The live-run page (GET /ws-test/{run_id}) in a real browser against a real server:
what a person sees while a run streams, when it ends, for a run that does not exist, and
after the server drops the page for falling behind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import pytest

from tests.api.support import LiveServer, create_graph

if TYPE_CHECKING:
    from playwright.async_api import Page, WebSocketRoute

pytestmark = pytest.mark.asyncio(loop_scope="module")

STEPS = 20
SECONDS_PER_STEP = 0.1  # about two seconds of run: long enough to watch it live
SLOW_SPEC: dict[str, Any] = {
    "name": "slow ticker",
    "graph_id": "slow-ticker",
    "nodes": {"tick": {"tool": "test_slow_step", "args": {"seconds": SECONDS_PER_STEP}}},
    "edges": [
        {"from": "tick", "branches": [{"when": f"ticks < {STEPS}", "to": "tick"}, {"to": "END"}]}
    ],
}

# One consistent reading of what the page shows.
SNAPSHOT_JS = """() => ({
  run: document.getElementById("run").textContent,
  conn: document.getElementById("conn").textContent,
  status: document.getElementById("status").textContent,
  count: Number(document.getElementById("count").textContent),
  rows: [...document.querySelectorAll("#events tr")].map((tr) =>
    [...tr.cells].map((td) => td.textContent)),
})"""

CLOSED_JS = "document.getElementById('conn').textContent.startsWith('closed')"
CLOSED_NORMALLY_JS = "document.getElementById('conn').textContent === 'closed (1000)'"


async def _snapshot(page: Page) -> dict[str, Any]:
    shown: dict[str, Any] = await page.evaluate(SNAPSHOT_JS)
    return shown


def _seqs(rows: list[list[str]]) -> list[int]:
    return [int(row[0]) for row in rows]


async def test_a_run_streams_live_into_the_page_until_it_completes(
    live_server: LiveServer, page: Page, tmp_path: Path
) -> None:
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        graph_id = await create_graph(client, SLOW_SPEC)
        r = await client.post("/graph/run", json={"graph_id": graph_id, "initial_state": {}})
        assert r.status_code == 202, r.text
        run_id = r.json()["run_id"]

        response = await page.goto(f"{live_server.url}/ws-test/{run_id}")
        assert response is not None
        assert response.ok
        await page.wait_for_function("document.querySelectorAll('#events tr').length >= 3")
        during = await _snapshot(page)
        r = await client.get(f"/graph/state/{run_id}")
        # The run was still going after the page showed its first rows, so what follows
        # can only have reached the page live, over the same socket.
        assert r.json()["status"] == "running", "the run ended before the page could watch it"
        assert during["run"] == run_id
        assert during["conn"] == "open"
        assert during["status"] == "started"
        assert _seqs(during["rows"]) == list(range(1, len(during["rows"]) + 1))
        assert during["count"] == len(during["rows"])

        await page.wait_for_function(CLOSED_JS)
        after = await _snapshot(page)
        r = await client.get(f"/runs/{run_id}/events")
        assert r.status_code == 200, r.text
        log = r.json()["events"]

    assert after["status"] == "completed"
    assert after["conn"] == "closed (1000)"
    rows = after["rows"]
    assert len(rows) > len(during["rows"])
    assert rows[: len(during["rows"])] == during["rows"]  # rows are added, never redrawn
    assert _seqs(rows) == list(range(1, len(rows) + 1))
    assert after["count"] == len(rows)
    # Row by row, the page shows the stored log: seq, type, step, node and data.
    assert [row[:4] for row in rows] == [
        [str(e["seq"]), e["type"], str(e["step"] if e["step"] is not None else ""), e["node"] or ""]
        for e in log
    ]
    assert [json.loads(row[4]) for row in rows] == [e["data"] for e in log]
    assert sum(row[1] == "node_completed" for row in rows) == STEPS
    assert rows[-1][1] == "run_completed"
    last = page.locator("#events tr").last
    assert await last.get_attribute("class") == "run_completed"

    shot = tmp_path / "ws_test_completed.png"
    await page.screenshot(path=str(shot), full_page=True)
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 5_000


async def test_an_unknown_run_shows_the_4404_close_and_its_reason(
    live_server: LiveServer, page: Page, tmp_path: Path
) -> None:
    # Spaces and markup in the id must come back as text, not as HTML.
    run_id = "no such <b>run"
    response = await page.goto(f"{live_server.url}/ws-test/{quote(run_id, safe='')}")
    assert response is not None
    assert response.ok
    await page.wait_for_function(CLOSED_JS)
    shown = await _snapshot(page)
    assert shown["run"] == run_id
    assert await page.locator("#run b").count() == 0
    assert shown["conn"] == f"closed (4404: run {run_id} not found)"
    assert shown["status"] == "not found"
    assert shown["rows"] == []
    assert shown["count"] == 0

    shot = tmp_path / "ws_test_unknown.png"
    await page.screenshot(path=str(shot))
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


async def test_a_page_dropped_with_4408_reconnects_from_its_last_seq(
    live_server: LiveServer, page: Page
) -> None:
    # A browser that falls behind cannot be arranged reliably, so the first socket is
    # routed: it passes the server's first events to the page, then closes as the server
    # closes a slow subscriber. The page must go on from there over a new, real socket.
    passed = 5
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    routed: list[str] = []

    async def drop_the_first_socket(route: WebSocketRoute) -> None:
        routed.append(route.url)
        if len(routed) > 1:
            route.connect_to_server()  # later sockets go straight through
            return
        server = route.connect_to_server()
        forwarded = 0

        async def forward(message: str | bytes) -> None:
            nonlocal forwarded
            if forwarded >= passed:
                return
            route.send(message)
            forwarded += 1
            if forwarded == passed:
                await route.close(code=4408, reason=f"subscriber fell behind; after={passed}")

        server.on_message(forward)

    await page.route_web_socket("**/ws/run/**", drop_the_first_socket)
    async with httpx.AsyncClient(base_url=live_server.url) as client:
        graph_id = await create_graph(client, SLOW_SPEC)
        r = await client.post("/graph/run", json={"graph_id": graph_id, "initial_state": {}})
        assert r.status_code == 202, r.text
        run_id = r.json()["run_id"]
        await page.goto(f"{live_server.url}/ws-test/{run_id}")
        await page.wait_for_function(CLOSED_NORMALLY_JS)
        r = await client.get(f"/runs/{run_id}/events")
        log = r.json()["events"]

    assert [url.rsplit("?", 1)[1] for url in routed] == ["after=0", f"after={passed}"]
    assert sockets == routed
    shown = await _snapshot(page)
    assert shown["status"] == "completed"
    assert shown["conn"] == "closed (1000)"
    assert _seqs(shown["rows"]) == [e["seq"] for e in log]
    assert shown["count"] == len(log)
