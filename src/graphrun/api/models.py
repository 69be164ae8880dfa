"""Request and response bodies of the HTTP API, each with an example for /docs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from graphrun.engine.status import RunStatus

# The largest integer the database stores: counters, offsets and steps from a request are
# bounded by it, so that none overflows in the driver.
MAX_INT = 2**63 - 1

EXAMPLE_SPEC: dict[str, Any] = {
    "name": "counter",
    "entry": "inc",
    "nodes": {
        "inc": {"tool": "increment", "args": {"key": "count"}},
        "done": {"tool": "log", "args": {"message": "counted to {count}"}},
    },
    "edges": [
        {
            "from": "inc",
            "branches": [{"when": "count < 3", "to": "inc"}, {"to": "done"}],
        },
        {"from": "done", "to": "END"},
    ],
}


class Health(BaseModel):
    """The service's status."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "status": "ok",
                "version": "0.1.0",
                "database": "sqlite",
                "runs_active": 2,
                "runs_queued": 0,
            }
        }
    )

    status: str = Field(examples=["ok"])
    version: str = Field(examples=["0.1.0"])
    database: str = Field(examples=["sqlite"])
    runs_active: int = Field(examples=[0])
    runs_queued: int = Field(examples=[0])


class ToolInfo(BaseModel):
    name: str
    description: str
    signature: str
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "name": "increment",
                "description": "Add `by` (default 1) to the number under `key`.",
                "signature": "increment(state, key: str = 'counter', by: float = 1)",
            }
        }
    )


class ConditionInfo(BaseModel):
    name: str
    description: str
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "name": "quality_below_threshold",
                "description": "The score is below the threshold and another pass may help.",
            }
        }
    )


class ToolList(BaseModel):
    tools: list[ToolInfo]
    conditions: list[ConditionInfo]
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "tools": [
                    {
                        "name": "noop",
                        "description": "Do nothing.",
                        "signature": "noop(state)",
                    }
                ],
                "conditions": [
                    {
                        "name": "quality_below_threshold",
                        "description": "The score is below the threshold.",
                    }
                ],
            }
        }
    )


class GraphCreated(BaseModel):
    graph_id: str
    name: str
    version: int
    message: str = "Graph created successfully"
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "graph_id": "counter",
                "name": "counter",
                "version": 1,
                "message": "Graph created successfully",
            }
        }
    )


class GraphVersionInfo(BaseModel):
    version: int
    created_at: datetime
    model_config = ConfigDict(
        json_schema_extra={"example": {"version": 2, "created_at": "2026-11-21T12:00:00Z"}}
    )


class GraphView(BaseModel):
    graph_id: str
    name: str
    version: int
    spec: dict[str, Any]
    versions: list[GraphVersionInfo]
    mermaid: str
    created_at: datetime
    updated_at: datetime
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "graph_id": "counter",
                "name": "counter",
                "version": 1,
                "spec": EXAMPLE_SPEC,
                "versions": [{"version": 1, "created_at": "2026-11-21T12:00:00Z"}],
                "mermaid": "flowchart TD\n    __start__([start]) --> n_inc",
                "created_at": "2026-11-21T12:00:00Z",
                "updated_at": "2026-11-21T12:00:00Z",
            }
        }
    )


_GRAPH_SUMMARY: JsonDict = {
    "graph_id": "counter",
    "name": "counter",
    "version": 1,
    "updated_at": "2026-11-21T12:00:00Z",
}


class GraphSummary(BaseModel):
    graph_id: str
    name: str
    version: int
    updated_at: datetime
    model_config = ConfigDict(json_schema_extra={"example": _GRAPH_SUMMARY})


class GraphList(BaseModel):
    graphs: list[GraphSummary]
    model_config = ConfigDict(json_schema_extra={"example": {"graphs": [_GRAPH_SUMMARY]}})


class RunRequest(BaseModel):
    """Start a run. ``initial_state`` is the state. ``state: {data, metadata}`` is
    accepted too: ``data`` becomes the state, and a non-empty ``metadata`` is kept in
    the state under the key ``metadata``."""

    graph_id: str = Field(min_length=1)
    initial_state: dict[str, Any] | None = None
    state: dict[str, Any] | None = Field(
        None, description="The other form: {data: {...}, metadata: {...}}."
    )
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"graph_id": "counter", "initial_state": {"count": 0}},
                {
                    "graph_id": "code_review",
                    "state": {"data": {"code": "def foo():\n    pass\n"}, "metadata": {}},
                },
            ]
        },
    )


class RunAccepted(BaseModel):
    run_id: str
    status: RunStatus
    graph_id: str
    message: str = "Workflow execution started"
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "run_id": "6685064e-12b9-4dd9-a486-a8a4d87a10d1",
                "status": "queued",
                "graph_id": "counter",
                "message": "Workflow execution started",
            }
        }
    )


class RunFinished(BaseModel):
    """The answer of ``POST /graph/run?wait=true``."""

    run_id: str
    graph_id: str
    status: RunStatus
    final_state: dict[str, Any]
    error: dict[str, Any] | None = None
    logs: list[str]
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "run_id": "6685064e-12b9-4dd9-a486-a8a4d87a10d1",
                "graph_id": "counter",
                "status": "completed",
                "final_state": {"count": 3},
                "error": None,
                "logs": ["run_queued", "run_started", "step 1: inc started"],
            }
        }
    )


class RunView(BaseModel):
    run_id: str
    graph_id: str
    graph_version: int
    status: RunStatus
    state: dict[str, Any]
    current_nodes: list[str]
    step: int
    error: dict[str, Any] | None = None
    interrupt: dict[str, Any] | None = Field(
        None, description="While interrupted: what the run waits for (kind, nodes, payload)."
    )
    parent_run_id: str | None = None
    parent_step: int | None = None
    logs: list[str]
    created_at: datetime
    updated_at: datetime
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "run_id": "6685064e-12b9-4dd9-a486-a8a4d87a10d1",
                "graph_id": "counter",
                "graph_version": 1,
                "status": "completed",
                "state": {"count": 3},
                "current_nodes": [],
                "step": 4,
                "error": None,
                "logs": ["step 1: inc started", "step 1: inc completed (0.01 ms)"],
                "created_at": "2026-11-21T12:00:00Z",
                "updated_at": "2026-11-21T12:00:01Z",
            }
        }
    )


_RUN_SUMMARY: JsonDict = {
    "run_id": "6685064e-12b9-4dd9-a486-a8a4d87a10d1",
    "graph_id": "counter",
    "graph_version": 1,
    "status": "completed",
    "step": 4,
    "created_at": "2026-11-21T12:00:00Z",
    "updated_at": "2026-11-21T12:00:01Z",
}


class RunSummary(BaseModel):
    run_id: str
    graph_id: str
    graph_version: int
    status: RunStatus
    step: int
    created_at: datetime
    updated_at: datetime
    model_config = ConfigDict(json_schema_extra={"example": _RUN_SUMMARY})


class RunList(BaseModel):
    runs: list[RunSummary]
    total: int
    limit: int
    offset: int
    model_config = ConfigDict(
        json_schema_extra={
            "example": {"runs": [_RUN_SUMMARY], "total": 1, "limit": 50, "offset": 0}
        }
    )


_EVENT: JsonDict = {
    "seq": 3,
    "type": "node_started",
    "run_id": "6685064e-12b9-4dd9-a486-a8a4d87a10d1",
    "node": "inc",
    "step": 1,
    "ts": 1763726400.0,
    "data": {},
}


class EventView(BaseModel):
    seq: int
    type: str
    run_id: str
    node: str | None = None
    step: int | None = None
    ts: float
    data: dict[str, Any]
    model_config = ConfigDict(json_schema_extra={"example": _EVENT})


class EventList(BaseModel):
    run_id: str
    events: list[EventView]
    model_config = ConfigDict(
        json_schema_extra={
            "example": {"run_id": "6685064e-12b9-4dd9-a486-a8a4d87a10d1", "events": [_EVENT]}
        }
    )


class ErrorBody(BaseModel):
    """Every 4xx answer: what went wrong and, for invalid input, each problem."""

    detail: str
    problems: list[dict[str, str]] | None = None
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "detail": "invalid graph spec (1 problem(s))",
                "problems": [{"location": "nodes.inc.tool", "message": "unknown tool 'incr'"}],
            }
        }
    )
