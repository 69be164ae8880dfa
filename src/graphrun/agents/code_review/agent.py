"""The code review graph, shipped as a spec file next to its tools."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from graphrun.engine.graph import Graph
    from graphrun.engine.results import RunResult

GRAPH_PATH = Path(__file__).with_name("graph.yaml")
GRAPH_ID = "code_review"
GRAPH_ALIASES = ("code_review_agent",)
"""Other ids the graph answers to (``code_review_agent`` is what some clients send)."""


def load_spec() -> dict[str, Any]:
    """The graph spec in :data:`GRAPH_PATH`, as data (for stores and the API)."""
    data = yaml.safe_load(GRAPH_PATH.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{GRAPH_PATH} does not hold a graph spec object")
    return data


def load_graph() -> Graph:
    """The code review graph, built from :data:`GRAPH_PATH` by the spec loader."""
    from graphrun.engine import spec

    return spec.load(GRAPH_PATH)


def review(
    code: str,
    *,
    filename: str | None = None,
    quality_threshold: float | None = None,
    max_iterations: int | None = None,
) -> RunResult:
    """Run the whole review loop in this process and return the run's result."""
    state: dict[str, Any] = {"code": code}
    if filename is not None:
        state["filename"] = filename
    if quality_threshold is not None:
        state["quality_threshold"] = quality_threshold
    if max_iterations is not None:
        state["max_iterations"] = max_iterations
    return load_graph().compile().invoke(state)
