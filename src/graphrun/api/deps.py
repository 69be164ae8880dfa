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


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def ws_services(websocket: WebSocket) -> Services:
    services: Services = websocket.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(_services)]
