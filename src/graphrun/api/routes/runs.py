"""Runs: start (every accepted request shape), read state, list, cancel, read events."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Response, status

from graphrun.api.deps import Services, ServicesDep
from graphrun.api.errors import ConflictError, InvalidInputError, NotFoundError
from graphrun.api.models import (
    MAX_INT,
    EventList,
    EventView,
    RunAccepted,
    RunFinished,
    RunList,
    RunRequest,
    RunSummary,
    RunView,
)
from graphrun.engine.events import Event
from graphrun.engine.status import RunStatus
from graphrun.runtime.manager import (
    GraphNotFoundError,
    RunNotFoundError,
    RunStateError,
)
from graphrun.store.base import RunRecord

router = APIRouter(tags=["runs"])

MAX_LOG_LINES = 1_000

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Same key and body: the same run again. Same key, other body: 409.",
    ),
]


def format_event(event: Event) -> str:
    """One human-readable log line per event (the ``logs`` of the run views)."""
    where = f"step {event.step}: " if event.step is not None else ""
    data = event.data
    match event.type.value:
        case "node_started":
            return f"{where}{event.node} started"
        case "node_completed":
            return f"{where}{event.node} completed ({data.get('duration_ms', 0)} ms)"
        case "node_retrying":
            return f"{where}{event.node} failed ({data.get('error')}); retry {data.get('attempt')}"
        case "node_failed":
            return f"{where}{event.node} failed: {data.get('type')}: {data.get('message')}"
        case "log":
            return f"{where}{event.node}: {data.get('message')}"
        case _:
            extra = data.get("message")
            return f"{where}{event.type.value}" + (f": {extra}" if extra else "")


async def _logs(services: Services, run: RunRecord) -> list[str]:
    """The last MAX_LOG_LINES events as lines (a bounded read, whatever the log's length)."""
    after = max(0, run.last_seq - MAX_LOG_LINES)
    events = await services.store.list_events(run.run_id, after_seq=after, limit=MAX_LOG_LINES)
    return [format_event(e) for e in events]


async def _start(
    services: Services,
    graph_id: str,
    state: dict[str, Any],
    idempotency_key: str | None,
    body_for_hash: Any,
) -> tuple[RunRecord, bool]:
    request_hash = None
    if idempotency_key is not None:
        raw = json.dumps(body_for_hash, sort_keys=True, separators=(",", ":"), default=str)
        request_hash = hashlib.sha256(raw.encode()).hexdigest()
    try:
        return await services.manager.create_run(
            graph_id, state, idempotency_key=idempotency_key, request_hash=request_hash
        )
    except GraphNotFoundError:
        raise NotFoundError(f"graph {graph_id!r} not found") from None
    except RunStateError as exc:
        raise ConflictError(str(exc)) from None


def _initial_state(body: RunRequest) -> dict[str, Any]:
    if body.initial_state is not None and body.state is not None:
        raise InvalidInputError("give initial_state or state, not both")
    if body.state is None:
        return dict(body.initial_state or {})
    if "data" not in body.state and "metadata" not in body.state:
        # A plain state under "state" is read as the state itself.
        return dict(body.state)
    data = body.state.get("data") or {}
    if not isinstance(data, dict):
        raise InvalidInputError("state.data must be a JSON object")
    state = dict(data)
    metadata = body.state.get("metadata")
    if metadata:
        state["metadata"] = metadata
    return state


@router.post(
    "/graph/run",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunAccepted | RunFinished,
    summary="Start a run ({graph_id, initial_state} or {graph_id, state: {data, metadata}})",
    responses={
        200: {"model": RunFinished, "description": "with ?wait=true: the finished run"},
        404: {"description": "unknown graph"},
        409: {"description": "Idempotency-Key reused with another body"},
        422: {"description": "invalid state"},
    },
)
async def run_graph(
    body: RunRequest,
    services: ServicesDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    wait: Annotated[bool, Query(description="Wait for the run to end")] = False,
) -> RunAccepted | RunFinished:
    state = _initial_state(body)
    run, _ = await _start(
        services, body.graph_id, state, idempotency_key, body.model_dump(mode="json")
    )
    if not wait:
        return RunAccepted(run_id=run.run_id, status=run.status, graph_id=run.graph_id)
    done = await services.manager.wait(run.run_id, services.settings.wait_timeout)
    response.status_code = status.HTTP_200_OK if done.status.is_final else status.HTTP_202_ACCEPTED
    return RunFinished(
        run_id=done.run_id,
        graph_id=done.graph_id,
        status=done.status,
        final_state=done.state or {},
        error=done.error,
        logs=await _logs(services, done),
    )


@router.post(
    "/graph/{graph_id}/run",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunAccepted,
    summary="Start a run; the body is the initial state",
    responses={404: {"description": "unknown graph"}, 422: {"description": "invalid state"}},
)
async def run_graph_by_path(
    graph_id: str,
    services: ServicesDep,
    body: Annotated[
        dict[str, Any],
        Body(openapi_examples={"code": {"value": {"code": "def foo():\n    print('debug')\n"}}}),
    ],
    idempotency_key: IdempotencyKey = None,
) -> RunAccepted:
    run, _ = await _start(services, graph_id, body, idempotency_key, [graph_id, body])
    return RunAccepted(run_id=run.run_id, status=run.status, graph_id=run.graph_id)


def _public_interrupt(info: Any) -> dict[str, Any] | None:
    """What a person answering needs; the replay journals stay inside."""
    if not isinstance(info, dict):
        return None
    return {k: v for k, v in info.items() if k != "journals"}


async def view_run(services: Services, run_id: str) -> RunView:
    run = await services.store.get_run(run_id)
    if run is None:
        raise NotFoundError(f"run {run_id!r} not found")
    return RunView(
        run_id=run.run_id,
        graph_id=run.graph_id,
        graph_version=run.graph_version,
        status=run.status,
        state=run.state or {},
        current_nodes=run.pending,
        step=run.step,
        error=run.error,
        interrupt=_public_interrupt(run.interrupt) if run.status is RunStatus.INTERRUPTED else None,
        parent_run_id=run.parent_run_id,
        parent_step=run.parent_step,
        logs=await _logs(services, run),
        created_at=run.created_at,
        updated_at=run.updated_at,
    )


@router.get(
    "/graph/state/{run_id}",
    response_model=RunView,
    summary="A run's status and current state",
    responses={404: {"description": "unknown run"}},
)
async def run_state(run_id: str, services: ServicesDep) -> RunView:
    return await view_run(services, run_id)


@router.get(
    "/graph/run/{run_id}/state",
    response_model=RunView,
    summary="A run's status and current state (the same as /graph/state/{run_id})",
    responses={404: {"description": "unknown run"}},
)
async def run_state_alias(run_id: str, services: ServicesDep) -> RunView:
    return await view_run(services, run_id)


@router.get("/runs", response_model=RunList, summary="List runs, newest first")
async def list_runs(
    services: ServicesDep,
    graph_id: str | None = None,
    status_: Annotated[RunStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> RunList:
    page = await services.store.list_runs(
        graph_id=graph_id, status=status_, limit=limit, offset=offset
    )
    return RunList(
        runs=[
            RunSummary(
                run_id=r.run_id,
                graph_id=r.graph_id,
                graph_version=r.graph_version,
                status=r.status,
                step=r.step,
                created_at=r.created_at,
                updated_at=r.updated_at,
            )
            for r in page.items
        ],
        total=page.total,
        limit=limit,
        offset=offset,
    )


@router.post(
    "/runs/{run_id}/cancel",
    response_model=RunView,
    summary="Cancel a queued or running run",
    responses={404: {"description": "unknown run"}, 409: {"description": "already ended"}},
)
async def cancel_run(run_id: str, services: ServicesDep) -> RunView:
    try:
        await services.manager.cancel(run_id)
    except RunNotFoundError:
        raise NotFoundError(f"run {run_id!r} not found") from None
    except RunStateError as exc:
        raise ConflictError(str(exc)) from None
    return await view_run(services, run_id)


@router.get(
    "/runs/{run_id}/events",
    response_model=EventList,
    summary="The run's event log after seq N",
    responses={404: {"description": "unknown run"}},
)
async def run_events(
    run_id: str,
    services: ServicesDep,
    after: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
) -> EventList:
    if await services.store.get_run(run_id) is None:
        raise NotFoundError(f"run {run_id!r} not found")
    events = await services.store.list_events(run_id, after_seq=after, limit=limit)
    return EventList(run_id=run_id, events=[EventView(**e.to_dict()) for e in events])
