"""Helpers for the service tests: settings, a running app, a live uvicorn server."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from graphrun.api import create_app
from graphrun.engine.context import NodeContext
from graphrun.engine.tools import tool
from graphrun.settings import Settings


@tool("test_slow_step")
async def slow_step(
    state: dict[str, Any], seconds: float = 0.05, key: str = "ticks"
) -> dict[str, Any]:
    """Sleep, then count a tick (a node that takes a while, for tests)."""
    await asyncio.sleep(seconds)
    return {key: state.get(key, 0) + 1}


@tool("test_ask")
def ask(
    state: dict[str, Any], ctx: NodeContext, question: str = "ok?", key: str = "answer"
) -> dict[str, Any]:
    """Ask a person (pauses the run until it is resumed), for tests."""
    ctx.log(f"asking: {question}")
    return {key: ctx.interrupt({"question": question})}


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'graphrun.db'}",
        "log_file": None,
        "lease_seconds": 5.0,
        "max_concurrent_runs": 8,
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield app, client


COUNTER_SPEC: dict[str, Any] = {
    "name": "counter",
    "nodes": {
        "inc": {"tool": "increment", "args": {"key": "count"}},
        "done": {"tool": "log", "args": {"message": "counted to {count}"}},
    },
    "edges": [
        {"from": "inc", "branches": [{"when": "count < 3", "to": "inc"}, {"to": "done"}]},
        {"from": "done", "to": "END"},
    ],
}


async def create_graph(client: httpx.AsyncClient, spec: dict[str, Any]) -> str:
    r = await client.post("/graph/create", json=spec)
    assert r.status_code == 201, r.text
    graph_id: str = r.json()["graph_id"]
    return graph_id


async def wait_until(
    client: httpx.AsyncClient,
    run_id: str,
    done: Callable[[dict[str, Any]], bool],
    seconds: float = 20,
) -> dict[str, Any]:
    """Poll the run's state view until ``done(view)``."""
    deadline = time.monotonic() + seconds
    while True:
        r = await client.get(f"/graph/state/{run_id}")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        if done(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} still {body['status']} after {seconds}s")
        await asyncio.sleep(0.02)


async def wait_status(
    client: httpx.AsyncClient, run_id: str, done: Callable[[str], bool], seconds: float = 20
) -> dict[str, Any]:
    return await wait_until(client, run_id, lambda body: done(body["status"]), seconds)


FINAL = {"completed", "failed", "cancelled", "stopped_max_iterations"}


async def wait_final(client: httpx.AsyncClient, run_id: str, seconds: float = 20) -> dict[str, Any]:
    return await wait_status(client, run_id, lambda s: s in FINAL, seconds)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LiveServer:
    """uvicorn serving the app in a thread, on a free port of 127.0.0.1."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
