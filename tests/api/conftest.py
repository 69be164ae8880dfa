"""Fixtures: an app per test on a fresh SQLite file, driven through httpx (HTTP) or a
real uvicorn server on a free port (WebSocket)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from graphrun.settings import Settings
from tests.api.support import LiveServer, make_settings, running_app


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(settings) as (_, c):
        yield c


@pytest.fixture
def live_server(settings: Settings) -> Iterator[LiveServer]:
    with LiveServer(settings) as server:
        yield server
