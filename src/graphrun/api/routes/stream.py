"""Live event streams over WebSocket, and a small page that shows one.

A subscriber gets every event with seq > ``after`` from the stored log, then live events,
in order, with no gap and no duplicate; the socket closes normally after the terminal
event. The subscription is taken before the history is read, so nothing published in
between is missed, and seqs already sent are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse

from graphrun.api.deps import Services, ws_services
from graphrun.api.models import MAX_INT
from graphrun.bus.base import Subscription
from graphrun.engine.events import Event

router = APIRouter(tags=["stream"])

CLOSE_NOT_FOUND = 4404
CLOSE_TOO_SLOW = 4408
_PAGE = (Path(__file__).parent.parent / "static" / "ws_test.html").read_text(encoding="utf-8")


async def _send(ws: WebSocket, event: Event) -> None:
    await ws.send_json(event.to_dict())


async def stream_run(ws: WebSocket, run_id: str, after: int, services: Services) -> None:
    await ws.accept()
    run = await services.store.get_run(run_id)
    if run is None:
        await ws.close(code=CLOSE_NOT_FOUND, reason=f"run {run_id} not found")
        return
    sub = services.bus.subscribe(run_id, maxsize=services.settings.subscriber_buffer)
    watcher = asyncio.create_task(_watch_disconnect(ws, sub))
    last = after
    try:
        for event in await services.store.list_events(run_id, after_seq=last):
            await _send(ws, event)
            last = event.seq
            if event.is_terminal:
                await ws.close(code=1000)
                return
        if run.status.is_final:
            # Ended before we subscribed: its terminal event was in the history (or
            # seq <= after); nothing more will come.
            await ws.close(code=1000)
            return
        while True:
            live = await sub.get()
            if live is None:
                if sub.overflowed:
                    await ws.close(
                        code=CLOSE_TOO_SLOW,
                        reason=f"subscriber fell behind; reconnect with ?after={last}",
                    )
                return
            if live.seq <= last:
                continue
            if live.seq > last + 1:
                # Published before our history read returned: fill the gap from the log.
                for missed in await services.store.list_events(run_id, after_seq=last):
                    if missed.seq >= live.seq:
                        break
                    await _send(ws, missed)
                    last = missed.seq
            await _send(ws, live)
            last = live.seq
            if live.is_terminal:
                await ws.close(code=1000)
                return
    except (WebSocketDisconnect, RuntimeError):
        return  # the client went away
    finally:
        sub.close()
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher


async def _watch_disconnect(ws: WebSocket, sub: Subscription) -> None:
    """Reads (and ignores) client messages; ends the subscription when the client leaves."""
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
    except Exception:
        pass
    finally:
        sub.close()


After = Annotated[
    int, Query(ge=0, le=MAX_INT, description="Replay events with seq greater than this")
]
WsServices = Annotated[Services, Depends(ws_services)]


@router.websocket("/ws/run/{run_id}")
async def ws_run(ws: WebSocket, run_id: str, services: WsServices, after: After = 0) -> None:
    await stream_run(ws, run_id, after, services)


@router.websocket("/ws/logs/{run_id}")
async def ws_logs(ws: WebSocket, run_id: str, services: WsServices, after: After = 0) -> None:
    await stream_run(ws, run_id, after, services)


@router.websocket("/ws/graph/run/{run_id}")
async def ws_graph_run(ws: WebSocket, run_id: str, services: WsServices, after: After = 0) -> None:
    await stream_run(ws, run_id, after, services)


@router.websocket("/ws/{run_id}")
async def ws_short(ws: WebSocket, run_id: str, services: WsServices, after: After = 0) -> None:
    await stream_run(ws, run_id, after, services)


@router.get(
    "/ws-test/{run_id}",
    response_class=HTMLResponse,
    summary="A page that shows a run's live event stream",
)
async def ws_test_page(run_id: str) -> HTMLResponse:
    return HTMLResponse(_PAGE)
