"""Graphs: create (any of the accepted spec forms), read, list, new version, delete."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, status

from graphrun.api.deps import Services, ServicesDep
from graphrun.api.errors import ConflictError, InvalidInputError, NotFoundError
from graphrun.api.models import (
    EXAMPLE_SPEC,
    MAX_INT,
    GraphCreated,
    GraphList,
    GraphSummary,
    GraphVersionInfo,
    GraphView,
)
from graphrun.engine import spec
from graphrun.engine.errors import GraphSpecError, Problem

router = APIRouter(tags=["graphs"])

GRAPH_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
# Words that are routes under /graph/: a graph with one of these ids could not be reached.
RESERVED_IDS = frozenset({"create", "run", "runs", "state", "graphs"})

SPEC_EXAMPLES = {
    "canonical": {"summary": "graphrun's own form", "value": EXAMPLE_SPEC},
    "edge_map": {
        "summary": "the edge-map form: a nodes list, an edges map, named conditions",
        "value": {
            "graph_id": "code_review_graph",
            "start_node": "extract_functions",
            "nodes": [
                "extract_functions",
                "check_complexity",
                "detect_issues",
                "suggest_improvements",
                "evaluate_quality",
            ],
            "edges": {
                "extract_functions": {"default_next": "check_complexity", "branches": []},
                "check_complexity": {"default_next": "detect_issues", "branches": []},
                "detect_issues": {"default_next": "suggest_improvements", "branches": []},
                "suggest_improvements": {"default_next": "evaluate_quality", "branches": []},
                "evaluate_quality": {
                    "default_next": None,
                    "branches": [
                        {"condition": "quality_below_threshold", "target": "detect_issues"}
                    ],
                },
            },
        },
    },
    "next_map": {
        "summary": "the next-map form: a nodes map of {tool, next}",
        "value": {
            "name": "code_review_workflow",
            "start_node": "extract",
            "nodes": {
                "extract": {"tool": "extract_functions", "next": "check_complexity"},
                "check_complexity": {"tool": "check_complexity", "next": "detect_issues"},
                "detect_issues": {"tool": "detect_issues", "next": "suggest_improvements"},
                "suggest_improvements": {
                    "tool": "suggest_improvements",
                    "next": "evaluate_quality",
                },
                "evaluate_quality": {
                    "tool": "evaluate_quality",
                    "next": {
                        "condition": "quality_score >= 0.9 or iteration >= 5",
                        "if_true": "end",
                        "if_false": "check_complexity",
                    },
                },
            },
        },
    },
}

SpecBody = Annotated[dict[str, Any], Body(openapi_examples=SPEC_EXAMPLES)]


def check_graph_id(graph_id: str) -> None:
    if graph_id in RESERVED_IDS:
        raise InvalidInputError(
            f"graph_id {graph_id!r} is a reserved route word ({', '.join(sorted(RESERVED_IDS))})"
        )
    if not GRAPH_ID.match(graph_id):
        raise InvalidInputError(
            f"graph_id {graph_id!r} must be 1-100 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )


def validate_spec(body: dict[str, Any], services: Services) -> dict[str, Any]:
    """Check a spec in any accepted form (problems located in the body as sent) and
    return its canonical form, which is what the store keeps."""
    settings = services.settings
    parsed = spec.parse(body)
    canonical = parsed.to_dict()
    problems: list[Problem] = []
    nodes = canonical.get("nodes") or {}
    if len(nodes) > settings.max_graph_nodes:
        problems.append(
            Problem(
                "nodes",
                f"{len(nodes)} nodes; the limit is {settings.max_graph_nodes} "
                "(setting GRAPHRUN_MAX_GRAPH_NODES)",
            )
        )
    max_steps = canonical.get("max_steps")
    if isinstance(max_steps, int) and max_steps > settings.max_steps_limit:
        problems.append(
            Problem(
                "max_steps",
                f"{max_steps} is above the limit of {settings.max_steps_limit} "
                "(setting GRAPHRUN_MAX_STEPS_LIMIT)",
            )
        )
    if problems:
        raise GraphSpecError(problems)
    graphs = services.manager.graphs
    spec.load(body, tools=graphs.tools, conditions=graphs.conditions).compile()
    return canonical


@router.post(
    "/graph/create",
    status_code=status.HTTP_201_CREATED,
    response_model=GraphCreated,
    summary="Create a graph from a spec (the canonical, edge-map or next-map form)",
    responses={409: {"description": "graph_id taken"}, 422: {"description": "invalid spec"}},
)
async def create_graph(body: SpecBody, services: ServicesDep) -> GraphCreated:
    canonical = validate_spec(body, services)
    graph_id = canonical.get("graph_id") or str(uuid.uuid4())
    check_graph_id(graph_id)
    canonical["graph_id"] = graph_id
    if await services.store.get_graph(graph_id) is not None:
        raise ConflictError(f"graph_id {graph_id!r} is taken; PUT /graph/{graph_id} adds a version")
    record = await services.store.create_graph(graph_id, canonical["name"], canonical)
    return GraphCreated(graph_id=record.graph_id, name=record.name, version=record.version)


@router.get("/graphs", response_model=GraphList, summary="List graphs")
async def list_graphs(services: ServicesDep) -> GraphList:
    graphs = await services.store.list_graphs()
    return GraphList(
        graphs=[
            GraphSummary(
                graph_id=g.graph_id, name=g.name, version=g.version, updated_at=g.updated_at
            )
            for g in graphs.items
        ]
    )


@router.get(
    "/graph/{graph_id}",
    response_model=GraphView,
    summary="One graph: its current spec, its versions and a Mermaid drawing",
    responses={404: {"description": "unknown graph"}},
)
async def get_graph(
    graph_id: str,
    services: ServicesDep,
    version: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
) -> GraphView:
    record = await services.store.get_graph(graph_id, version)
    if record is None:
        raise NotFoundError(f"graph {graph_id!r} not found")
    versions = await services.store.list_graph_versions(graph_id)
    compiled = services.manager.graphs.get(record.graph_id, record.version, record.spec)
    return GraphView(
        graph_id=record.graph_id,
        name=record.name,
        version=record.version,
        spec=record.spec,
        versions=[GraphVersionInfo(version=v.version, created_at=v.created_at) for v in versions],
        mermaid=compiled.mermaid(),
        created_at=versions[0].created_at if versions else record.created_at,
        updated_at=record.updated_at,
    )


@router.put(
    "/graph/{graph_id}",
    response_model=GraphCreated,
    summary="Store a new version of a graph (running runs keep their version)",
    responses={404: {"description": "unknown graph"}, 422: {"description": "invalid spec"}},
)
async def update_graph(graph_id: str, body: SpecBody, services: ServicesDep) -> GraphCreated:
    if await services.store.get_graph(graph_id) is None:
        raise NotFoundError(f"graph {graph_id!r} not found")
    canonical = validate_spec(body, services)
    if canonical.get("graph_id") not in (None, graph_id):
        raise InvalidInputError(
            f"the body names graph_id {canonical['graph_id']!r} but the path names {graph_id!r}"
        )
    canonical["graph_id"] = graph_id
    record = await services.store.update_graph(graph_id, canonical, name=canonical["name"])
    return GraphCreated(
        graph_id=record.graph_id,
        name=record.name,
        version=record.version,
        message="Graph updated",
    )


@router.delete(
    "/graph/{graph_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a graph (runs already started finish on their version)",
    responses={404: {"description": "unknown graph"}},
)
async def delete_graph(graph_id: str, services: ServicesDep) -> None:
    if not await services.store.delete_graph(graph_id):
        raise NotFoundError(f"graph {graph_id!r} not found")
    services.manager.graphs.forget(graph_id)
