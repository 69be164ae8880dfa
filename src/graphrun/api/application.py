"""The FastAPI application: wiring settings, store, bus and run manager together."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from graphrun import __version__
from graphrun.api.deps import Services
from graphrun.api.errors import install_error_handlers
from graphrun.api.limits import BodySizeLimit
from graphrun.api.models import ErrorBody
from graphrun.api.routes import control, graphs, health, runs, stream, tools
from graphrun.bus.memory import InProcessBus
from graphrun.logs import configure_logging, get_logger
from graphrun.runtime.graphs import GraphCache
from graphrun.runtime.manager import ManagerLimits, RunManager
from graphrun.settings import Settings
from graphrun.store import open_store

log = get_logger(__name__)

EXAMPLE_GRAPH_IDS = ("code_review", "code_review_agent")

DESCRIPTION = """
graphrun runs workflow graphs in the background, checkpoints every step and streams every
event. Create a graph (`POST /graph/create`), start a run (`POST /graph/run`), watch it
(`WS /ws/run/{run_id}`) and read its state (`GET /graph/state/{run_id}`).
Every 4xx answer has a `detail` message; invalid input also lists each `problem` with its
location.
"""


def import_tool_modules(names: list[str]) -> None:
    """Import the configured tool modules; a missing one stops start-up with its name."""
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise RuntimeError(
                f"cannot import tool module {name!r} (setting GRAPHRUN_TOOL_MODULES): {exc}"
            ) from exc


async def register_examples(services: Services) -> None:
    """Store the code review graph under its ids, adding a version if the shipped spec
    changed since it was stored."""
    from graphrun.agents.code_review import load_spec

    spec_data = load_spec()
    services.manager.graphs.compile(spec_data)
    for graph_id in EXAMPLE_GRAPH_IDS:
        wanted = {**spec_data, "graph_id": graph_id}
        current = await services.store.get_graph(graph_id)
        if current is None:
            await services.store.create_graph(graph_id, wanted["name"], wanted)
        elif current.spec != wanted:
            await services.store.update_graph(graph_id, wanted, name=wanted["name"])


def _document_errors(app: FastAPI) -> None:
    """Every 422 answer is an ErrorBody (see errors.py), not FastAPI's default shape: say
    so in the OpenAPI document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = schema.get("components", {}).get("schemas", {})
            if "HTTPValidationError" in components:
                components["HTTPValidationError"] = ErrorBody.model_json_schema()
                components.pop("ValidationError", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. Nothing is opened until the app starts (lifespan)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(
            level=settings.log_level,
            log_file=settings.log_file,
            max_bytes=settings.log_max_bytes,
            backups=settings.log_backups,
        )
        import_tool_modules(settings.tool_modules)
        store = await open_store(settings.database_url)
        bus = InProcessBus()
        manager = RunManager(
            store,
            bus,
            GraphCache(),
            ManagerLimits(
                max_concurrent_runs=settings.max_concurrent_runs,
                max_state_bytes=settings.max_state_bytes,
                durability=settings.durability,
                snapshot_every=settings.snapshot_every,
                lease_seconds=settings.lease_seconds,
                recovery_max_attempts=settings.recovery_max_attempts,
                retention_days=settings.retention_days,
            ),
        )
        services = Services(settings=settings, store=store, bus=bus, manager=manager)
        app.state.services = services
        if settings.register_examples:
            await register_examples(services)
        await manager.start()
        log.info("graphrun started", version=__version__, database=settings.database_kind)
        try:
            yield
        finally:
            await manager.stop()
            await store.close()
            log.info("graphrun stopped")

    app = FastAPI(
        title="graphrun",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    _document_errors(app)
    for module in (health, tools, graphs, runs, control, stream):
        app.include_router(module.router)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
