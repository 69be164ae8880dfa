"""Shared request dependencies (FastAPI ``Annotated`` style)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, WebSocket

from graphrun.bus.base import EventBus
from graphrun.runtime.manager import RunManager
from graphrun.settings import Settings
from graphrun.store.base import Store


@dataclass(slots=True)
class Services:
    """Everything a request handler may need, built once at start-up."""

    settings: Settings
    store: Store
    bus: EventBus
    manager: RunManager


# Async on purpose: FastAPI runs a sync dependency in a worker thread, a hand-off that
# would cost every request ~0.1 ms and contend for the GIL.
async def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def ws_services(websocket: WebSocket) -> Services:
    services: Services = websocket.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(_services)]
