"""Steering runs: answer an interrupt, read the checkpoint history, fork from a step."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, status
from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from graphrun.api.deps import ServicesDep
from graphrun.api.errors import ConflictError, NotFoundError
from graphrun.api.models import MAX_INT, RunAccepted, RunView
from graphrun.api.routes.runs import view_run
from graphrun.runtime.manager import RunNotFoundError, RunStateError
from graphrun.store.errors import NotFoundError as StoreNotFoundError

router = APIRouter(tags=["control"])


class ResumeRequest(BaseModel):
    input: Any = Field(
        None,
        description="The answer: what ctx.interrupt() returns in the paused node, or, after "
        "interrupt_before/interrupt_after, an object merged into the state.",
    )
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"input": "approved"}]}
    )


class ForkRequest(BaseModel):
    step: int = Field(ge=0, le=MAX_INT, description="Start from the state after this step.")
    state_patch: dict[str, Any] | None = Field(
        None, description="Keys to change in that state before the new run goes on."
    )
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"step": 2, "state_patch": {"quality_threshold": 0.5}}]},
    )


_CHECKPOINT: JsonDict = {
    "step": 1,
    "status": "running",
    "nodes": ["inc"],
    "delta": {"count": 1},
    "pending": ["inc"],
    "snapshot": False,
    "size_bytes": 11,
    "state_bytes": 11,
}


class CheckpointView(BaseModel):
    step: int
    status: str
    nodes: list[str]
    delta: dict[str, Any]
    pending: list[str]
    snapshot: bool
    size_bytes: int = Field(description="Bytes this checkpoint stored (delta, and snapshot).")
    state_bytes: int = Field(description="Bytes of the whole state after this step.")
    model_config = ConfigDict(json_schema_extra={"example": _CHECKPOINT})


class CheckpointList(BaseModel):
    run_id: str
    parent_run_id: str | None
    parent_step: int | None
    checkpoints: list[CheckpointView]
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "run_id": "6685064e-12b9-4dd9-a486-a8a4d87a10d1",
                "parent_run_id": None,
                "parent_step": None,
                "checkpoints": [_CHECKPOINT],
            }
        }
    )


class StateAtStep(BaseModel):
    run_id: str
    step: int
    state: dict[str, Any]
    pending: list[str]
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "run_id": "6685064e-12b9-4dd9-a486-a8a4d87a10d1",
                "step": 2,
                "state": {"count": 2},
                "pending": ["inc"],
            }
        }
    )


@router.post(
    "/runs/{run_id}/resume",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunAccepted,
    summary="Answer an interrupted run and let it go on",
    responses={404: {"description": "unknown run"}, 409: {"description": "not interrupted"}},
)
async def resume_run(
    run_id: str, services: ServicesDep, body: Annotated[ResumeRequest, Body()]
) -> RunAccepted:
    try:
        run = await services.manager.resume(run_id, body.input)
    except RunNotFoundError:
        raise NotFoundError(f"run {run_id!r} not found") from None
    except RunStateError as exc:
        raise ConflictError(str(exc)) from None
    return RunAccepted(
        run_id=run.run_id, status=run.status, graph_id=run.graph_id, message="Run resumed"
    )


@router.get(
    "/runs/{run_id}/checkpoints",
    response_model=CheckpointList,
    summary="A run's checkpoint history",
    responses={404: {"description": "unknown run"}},
)
async def list_checkpoints(run_id: str, services: ServicesDep) -> CheckpointList:
    run = await services.store.get_run(run_id)
    if run is None:
        raise NotFoundError(f"run {run_id!r} not found")
    infos = await services.store.list_checkpoints(run_id)
    return CheckpointList(
        run_id=run_id,
        parent_run_id=run.parent_run_id,
        parent_step=run.parent_step,
        checkpoints=[
            CheckpointView(
                step=c.step,
                status=c.status.value,
                nodes=c.nodes,
                delta=c.delta,
                pending=c.pending,
                snapshot=c.has_snapshot,
                size_bytes=c.size_bytes,
                state_bytes=c.state_bytes,
            )
            for c in infos
        ],
    )


@router.get(
    "/runs/{run_id}/checkpoints/{step}",
    response_model=StateAtStep,
    summary="The full state of a run after a step",
    responses={404: {"description": "unknown run or step"}},
)
async def checkpoint_state(
    run_id: str, step: Annotated[int, Path(ge=0, le=MAX_INT)], services: ServicesDep
) -> StateAtStep:
    if await services.store.get_run(run_id) is None:
        raise NotFoundError(f"run {run_id!r} not found")
    point = await services.store.checkpoint_at(run_id, step)
    if point is None or point.step != step:
        raise NotFoundError(f"run {run_id!r} has no checkpoint at step {step}")
    return StateAtStep(run_id=run_id, step=step, state=point.state, pending=point.pending)


@router.post(
    "/runs/{run_id}/fork",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunView,
    summary="Start a new run from a run's state after a step",
    responses={404: {"description": "unknown run or step"}},
)
async def fork_run(run_id: str, body: ForkRequest, services: ServicesDep) -> RunView:
    try:
        child = await services.manager.fork(run_id, body.step, body.state_patch)
    except (RunNotFoundError, StoreNotFoundError):
        raise NotFoundError(f"run {run_id!r} not found") from None
    except RunStateError as exc:
        raise NotFoundError(str(exc)) from None
    return await view_run(services, child.run_id)
