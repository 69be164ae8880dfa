"""Start-up: tool modules from settings, and a clear stop when one is missing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.api.support import make_settings, running_app


async def test_tool_modules_are_imported_at_start_up(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, tool_modules=["tests.api.plugin_tools"])
    async with running_app(settings) as (_, client):
        names = {t["name"] for t in (await client.get("/tools")).json()["tools"]}
        assert "plugin_echo" in names
        spec = {
            "name": "echo",
            "graph_id": "echo",
            "nodes": {"e": {"tool": "plugin_echo", "next": "END"}},
        }
        assert (await client.post("/graph/create", json=spec)).status_code == 201
        r = await client.post(
            "/graph/run?wait=true", json={"graph_id": "echo", "initial_state": {"message": "hi"}}
        )
        assert r.json()["final_state"] == {"message": "hi", "echo": "hi"}


async def test_a_missing_tool_module_stops_start_up_naming_it(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, tool_modules=["no_such_module_here"])
    with pytest.raises(RuntimeError, match=r"no_such_module_here.*GRAPHRUN_TOOL_MODULES"):
        async with running_app(settings):
            pass


def test_tool_modules_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from graphrun.settings import Settings

    monkeypatch.setenv("GRAPHRUN_TOOL_MODULES", '["a.b", "c"]')
    assert Settings().tool_modules == ["a.b", "c"]


async def test_retention_prunes_finished_runs_older_than_the_setting(tmp_path: Path) -> None:
    from tests.api.support import COUNTER_SPEC, create_graph

    settings = make_settings(tmp_path, retention_days=1)
    async with running_app(settings) as (app, client):
        await create_graph(client, {**COUNTER_SPEC, "graph_id": "counter"})
        r = await client.post(
            "/graph/run?wait=true", json={"graph_id": "counter", "initial_state": {}}
        )
        run_id = r.json()["run_id"]
        manager = app.state.services.manager
        assert await manager.prune_expired() == 0  # finished just now: kept
        manager.limits.retention_days = 0.0
        await asyncio.sleep(0.01)
        assert await manager.prune_expired() == 1
        assert (await client.get(f"/graph/state/{run_id}")).status_code == 404


def test_an_empty_log_file_setting_means_no_file(monkeypatch: pytest.MonkeyPatch) -> None:
    from graphrun.settings import Settings

    monkeypatch.setenv("GRAPHRUN_LOG_FILE", "")
    assert Settings().log_file is None


def test_every_model_in_the_openapi_document_has_an_example() -> None:
    from graphrun.api import create_app
    from graphrun.settings import Settings

    schema = create_app(Settings(log_file=None)).openapi()
    components = schema["components"]["schemas"]
    enums = {name for name, s in components.items() if "enum" in s}
    missing = [
        name
        for name, s in components.items()
        if name not in enums and "example" not in s and "examples" not in s
    ]
    assert missing == []
    # 422 answers are documented with the shape they really have.
    assert set(components["HTTPValidationError"]["properties"]) == {"detail", "problems"}
