"""The seed forms: the documented request bodies of seeds 003 and 004, their extras, and
their errors (reported at paths into the document as written)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from tests.review_specs import next_map_review

from graphrun.engine import (
    ConditionRegistry,
    GraphSpecError,
    RunStatus,
    StateError,
    ToolRegistry,
)
from graphrun.engine.spec import detect_form, dump, load, parse

# Seed 003's "Create a graph" request body, verbatim.
SEED_003 = json.loads("""
{
  "graph_id": "code_review_graph",
  "start_node": "extract_functions",
  "nodes": [
    "extract_functions",
    "check_complexity",
    "detect_issues",
    "suggest_improvements",
    "evaluate_quality"
  ],
  "edges": {
    "extract_functions": { "default_next": "check_complexity", "branches": [] },
    "check_complexity":  { "default_next": "detect_issues", "branches": [] },
    "detect_issues":      { "default_next": "suggest_improvements", "branches": [] },
    "suggest_improvements": { "default_next": "evaluate_quality", "branches": [] },
    "evaluate_quality": {
      "default_next": null,
      "branches": [
        { "condition": "quality_below_threshold", "target": "detect_issues" }
      ]
    }
  }
}
""")

# Seed 003's "Run a workflow" state.
SEED_003_STATE = {
    "data": {
        "code": "def foo():\n    pass\n\ndef bar(x):\n    return x",
        "quality_threshold": 75,
    },
    "metadata": {},
}

# Seed 004's "Create a Graph" request body, verbatim.
SEED_004_API = json.loads("""
{
  "name": "code_review_workflow",
  "nodes": {
    "extract": {
      "tool": "extract_functions",
      "next": "check_complexity"
    },
    "check_complexity": {
      "tool": "check_complexity",
      "next": "detect_issues"
    },
    "detect_issues": {
      "tool": "detect_issues",
      "next": "suggest_improvements"
    },
    "suggest_improvements": {
      "tool": "suggest_improvements",
      "next": "evaluate_quality"
    },
    "evaluate_quality": {
      "tool": "evaluate_quality",
      "next": {
        "condition": "quality_score >= 7",
        "if_true": "end",
        "if_false": "check_complexity"
      }
    }
  },
  "start_node": "extract"
}
""")

# The next-map example body (a Python dict where it was published).
SEED_004_EXAMPLE: dict[str, Any] = next_map_review()

SEED_004_STATE = {"code": "def example():\n    pass", "quality_score": 0, "iteration": 0}

REVIEW = ["detect_issues", "suggest_improvements", "evaluate_quality"]


def problems_of(exc: pytest.ExceptionInfo[GraphSpecError]) -> dict[str, str]:
    """Location → its messages, joined (a location may have several problems)."""
    found: dict[str, str] = {}
    for p in exc.value.problems:
        found[p.location] = (
            f"{found[p.location]} | {p.message}" if p.location in found else p.message
        )
    return found


# -- seed 003 -------------------------------------------------------------------------


def test_seed003_is_detected() -> None:
    assert detect_form(SEED_003) == "edge_map"


def test_seed003_body_normalizes_to_the_canonical_form() -> None:
    spec = parse(SEED_003)
    assert spec.name == spec.graph_id == "code_review_graph"
    assert spec.entry == "extract_functions"
    assert list(spec.nodes) == SEED_003["nodes"]
    assert spec.nodes["extract_functions"].next == "check_complexity"
    branches = spec.nodes["evaluate_quality"].next
    assert [(b.when, b.to) for b in branches] == [
        ("quality_below_threshold", "detect_issues"),
        (None, "END"),
    ]


def test_seed003_body_runs_its_loop(tools: ToolRegistry, conditions: ConditionRegistry) -> None:
    graph = load(SEED_003, tools=tools, conditions=conditions)
    result = graph.compile().invoke(SEED_003_STATE)
    assert result.status == RunStatus.COMPLETED
    # Scores 3, 6, 9 (x10 against the threshold 75): the loop runs three times.
    assert result.state["trail"] == ["extract_functions", "check_complexity", *REVIEW * 3]
    assert result.state["functions"] == ["foo", "bar"]


def test_seed003_threshold_changes_the_number_of_loops(
    tools: ToolRegistry, conditions: ConditionRegistry
) -> None:
    graph = load(SEED_003, tools=tools, conditions=conditions).compile()
    state = copy.deepcopy(SEED_003_STATE)
    state["data"]["quality_threshold"] = 50
    assert graph.invoke(state).state["trail"].count("evaluate_quality") == 2


def test_seed003_node_without_edges_entry_ends_the_run(tools: ToolRegistry) -> None:
    spec = {"graph_id": "g", "nodes": ["extract_functions", "check_complexity"]}
    spec["edges"] = {"extract_functions": {"default_next": "check_complexity"}}
    result = load(spec, tools=tools).compile().invoke({})
    assert result.status == RunStatus.COMPLETED
    assert result.state["trail"] == ["extract_functions", "check_complexity"]


def test_seed003_takes_the_extras(tools: ToolRegistry) -> None:
    spec = {
        "graph_id": "fan",
        "start_node": "start",
        "max_steps": 7,
        "state_schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
        "reducers": {"marks": "append"},
        "nodes": [
            {"name": "start", "tool": "mark"},
            {
                "name": "left",
                "tool": "mark",
                "args": {"label": "L"},
                "retry": {"max_attempts": 2, "initial_delay": 0},
                "timeout": 5,
            },
            {"name": "right", "tool": "mark", "cache": True},
            {"name": "add", "args": {"by": 5}},
        ],
        "edges": {
            "start": {"default_next": ["left", "right"]},
            "left": {"default_next": "add"},
            "right": {"default_next": "add"},
            "add": {"default_next": None},
        },
    }
    graph = load(spec, tools=tools)
    assert graph.max_steps == 7
    assert graph.state_schema == spec["state_schema"]
    left = graph.nodes["left"]
    assert left.args == {"label": "L"}
    assert left.retry is not None and left.retry.max_attempts == 2
    assert left.timeout == 5
    assert graph.nodes["right"].cache is not None
    assert graph.edges["start"].static == ["left", "right"]
    result = graph.compile().invoke({"n": 0})
    assert result.status == RunStatus.COMPLETED
    assert result.state["marks"] == ["start", "L", "right"]
    assert result.state["n"] == 5
    with pytest.raises(StateError, match="n"):
        graph.compile().invoke({"n": "zero"})


def test_seed003_max_steps_extra_stops_the_loop(
    tools: ToolRegistry, conditions: ConditionRegistry
) -> None:
    spec = {**SEED_003, "max_steps": 4}
    result = load(spec, tools=tools, conditions=conditions).compile().invoke(SEED_003_STATE)
    assert result.status == RunStatus.STOPPED_MAX_ITERATIONS
    assert len(result.state["trail"]) == 4


def test_seed003_round_trips_through_the_canonical_form(
    tools: ToolRegistry, conditions: ConditionRegistry
) -> None:
    graph = load(SEED_003, tools=tools, conditions=conditions)
    canonical = dump(graph)
    assert detect_form(canonical) == "canonical"
    again = load(canonical, tools=tools, conditions=conditions)
    assert dump(again) == canonical
    first = graph.compile().invoke(SEED_003_STATE)
    second = again.compile().invoke(SEED_003_STATE)
    assert first.state == second.state


def _seed003_with(**changes: Any) -> dict[str, Any]:
    spec = copy.deepcopy(SEED_003)
    spec.update(changes)
    return spec


@pytest.mark.parametrize(
    ("mutate", "location", "message"),
    [
        (
            lambda s: s["edges"]["evaluate_quality"]["branches"][0].update(target="detect_isues"),
            "edges.evaluate_quality.branches[0].target",
            "unknown node 'detect_isues' (did you mean 'detect_issues'?)",
        ),
        (
            lambda s: s["edges"]["check_complexity"].update(default_next="nowhere"),
            "edges.check_complexity.default_next",
            "unknown node 'nowhere'",
        ),
        (
            lambda s: s["edges"]["evaluate_quality"]["branches"][0].update(
                condition="quality_below"
            ),
            "edges.evaluate_quality.branches[0].condition",
            "unknown named condition 'quality_below'",
        ),
        (
            lambda s: s["edges"]["evaluate_quality"]["branches"][0].update(condition="x >"),
            "edges.evaluate_quality.branches[0].condition",
            "is not a valid expression",
        ),
        (
            lambda s: s["nodes"].append("lint"),
            "nodes[5]",
            "unknown tool 'lint'",
        ),
        (
            lambda s: s.update(start_node="extract"),
            "start_node",
            "entry node 'extract' does not exist",
        ),
    ],
)
def test_seed003_reference_errors_point_into_the_seed_document(
    tools: ToolRegistry,
    conditions: ConditionRegistry,
    mutate: Any,
    location: str,
    message: str,
) -> None:
    spec = copy.deepcopy(SEED_003)
    mutate(spec)
    with pytest.raises(GraphSpecError) as exc:
        load(spec, tools=tools, conditions=conditions)
    found = problems_of(exc)
    assert location in found, found
    assert message in found[location]


@pytest.mark.parametrize(
    ("spec", "location", "message"),
    [
        (
            _seed003_with(nodes=[*SEED_003["nodes"], "detect_issues"]),
            "nodes[5]",
            "duplicate node name 'detect_issues' (first at nodes[2])",
        ),
        (
            _seed003_with(edges={**SEED_003["edges"], "lint": {"default_next": None}}),
            "edges.lint",
            "edges given for unknown node 'lint'",
        ),
        (
            _seed003_with(
                edges={
                    **SEED_003["edges"],
                    "evaluate_quality": {
                        "default_next": ["check_complexity", "detect_issues"],
                        "branches": [{"condition": "quality_below_threshold", "target": None}],
                    },
                }
            ),
            "edges.evaluate_quality.default_next",
            "with branches, default_next must be one node or null",
        ),
        (
            _seed003_with(edges={"extract_functions": {"default_nxt": "check_complexity"}}),
            "edges.extract_functions.default_nxt",
            "unknown field 'default_nxt'; did you mean 'default_next'?",
        ),
        (
            _seed003_with(edges={"extract_functions": {"branches": [{"condition": "x"}]}}),
            "edges.extract_functions.branches[0].target",
            "this field is required",
        ),
        (
            _seed003_with(edges={"extract_functions": {"default_next": 3}}),
            "edges.extract_functions.default_next",
            "default_next must be a node name, null, or a list of node names",
        ),
        (
            _seed003_with(nodes=["extract_functions", {"name": "x", "retry": 0}]),
            "nodes[1].retry",
            "greater than or equal to 1",
        ),
        (
            _seed003_with(nodes=["extract_functions", {"tool": "x"}]),
            "nodes[1].name",
            "this field is required",
        ),
        (
            _seed003_with(nodes=["extract_functions", 7]),
            "nodes[1]",
            "a node must be a name or an object",
        ),
        (
            {k: v for k, v in SEED_003.items() if k != "graph_id"},
            "graph_id",
            "a graph needs a graph_id (or a name)",
        ),
    ],
)
def test_seed003_structure_errors(spec: dict[str, Any], location: str, message: str) -> None:
    with pytest.raises(GraphSpecError) as exc:
        parse(spec)
    found = problems_of(exc)
    assert location in found, found
    assert message in found[location]


def test_seed003_all_structure_errors_come_together() -> None:
    spec = _seed003_with(
        nodes=["extract_functions", {"name": "x", "retry": 0, "timout": 1}],
        edges={"x": {"default_next": 3}},
        max_steps=0,
    )
    with pytest.raises(GraphSpecError) as exc:
        parse(spec)
    assert set(problems_of(exc)) == {
        "nodes[1].retry",
        "nodes[1].timout",
        "edges.x.default_next",
        "max_steps",
    }


def test_seed003_conditions_may_be_expressions(tools: ToolRegistry) -> None:
    spec = _seed003_with(
        edges={
            **SEED_003["edges"],
            "evaluate_quality": {
                "default_next": None,
                "branches": [{"condition": "quality_score < 6", "target": "detect_issues"}],
            },
        }
    )
    result = load(spec, tools=tools).compile().invoke(SEED_003_STATE)
    assert result.state["trail"].count("evaluate_quality") == 2


# -- seed 004 -------------------------------------------------------------------------


@pytest.mark.parametrize("body", [SEED_004_API, SEED_004_EXAMPLE], ids=["api", "example"])
def test_next_map_bodies_run_their_loop(tools: ToolRegistry, body: dict[str, Any]) -> None:
    assert detect_form(body) == "next_map"
    graph = load(body, tools=tools)
    assert graph.entry == "extract"
    result = graph.compile().invoke(SEED_004_STATE)
    assert result.status == RunStatus.COMPLETED
    loop = ["check_complexity", *REVIEW]
    assert result.state["trail"] == ["extract_functions", *loop * 3]
    assert result.state["quality_score"] == 9


def test_next_map_or_clause_ends_the_loop_early(tools: ToolRegistry) -> None:
    graph = load(SEED_004_EXAMPLE, tools=tools).compile()
    result = graph.invoke({**SEED_004_STATE, "iteration": 4})
    assert result.state["trail"].count("evaluate_quality") == 1
    strict = load(SEED_004_API, tools=tools).compile()
    assert strict.invoke({**SEED_004_STATE, "iteration": 1}).state["iteration"] == 3


def test_next_map_normalizes_if_to_branches(tools: ToolRegistry) -> None:
    data = dump(load(SEED_004_API, tools=tools))
    assert data["entry"] == "extract"
    assert data["nodes"]["extract"] == {"tool": "extract_functions", "next": "check_complexity"}
    assert data["nodes"]["evaluate_quality"]["next"] == [
        {"when": "quality_score >= 7", "to": "END"},
        {"to": "check_complexity"},
    ]


def test_next_map_takes_the_extras(tools: ToolRegistry) -> None:
    body = copy.deepcopy(SEED_004_EXAMPLE)
    body["max_steps"] = 50
    body["state_schema"] = {"type": "object", "required": ["code"]}
    body["nodes"]["extract"]["next"] = ["check_complexity", "side"]
    body["nodes"]["side"] = {"tool": "mark", "args": {"label": "side"}, "final": True}
    body["nodes"]["check_complexity"].update(
        args={"threshold": 4}, retry=3, timeout=2.5, cache={"keys": ["functions"], "ttl": 60}
    )
    graph = load(body, tools=tools)
    node = graph.nodes["check_complexity"]
    assert node.args == {"threshold": 4}
    assert node.retry is not None and node.retry.max_attempts == 3
    assert node.timeout == 2.5
    assert node.cache is not None and node.cache.keys == ("functions",)
    assert node.cache.ttl == 60
    assert graph.max_steps == 50
    result = graph.compile().invoke(SEED_004_STATE)
    assert result.status == RunStatus.COMPLETED
    assert result.state["marks"] == ["side"]
    assert result.state["complexity_threshold"] == 4
    with pytest.raises(StateError, match="code"):
        graph.compile().invoke({})


@pytest.mark.parametrize(
    ("mutate", "location", "message"),
    [
        (
            lambda s: s["nodes"]["evaluate_quality"]["next"].pop("if_false"),
            "nodes.evaluate_quality.next.if_false",
            "this field is required",
        ),
        (
            lambda s: s["nodes"]["evaluate_quality"]["next"].update(if_true="finish"),
            "nodes.evaluate_quality.next.if_true",
            "unknown node 'finish'",
        ),
        (
            lambda s: s["nodes"]["evaluate_quality"]["next"].update(condition="score >>> 7"),
            "nodes.evaluate_quality.next.condition",
            "is not a valid expression",
        ),
        (
            lambda s: s["nodes"]["evaluate_quality"]["next"].update(condition="open('x')"),
            "nodes.evaluate_quality.next.condition",
            "calls something other than the allowed functions",
        ),
        (
            lambda s: s["nodes"]["extract"].update(tool="extract_function"),
            "nodes.extract.tool",
            "unknown tool 'extract_function'",
        ),
        (
            lambda s: s.update(start_node="start"),
            "start_node",
            "entry node 'start' does not exist",
        ),
        (
            lambda s: s["nodes"]["extract"].update(next="check"),
            "nodes.extract.next",
            "unknown node 'check'",
        ),
    ],
)
def test_next_map_errors(tools: ToolRegistry, mutate: Any, location: str, message: str) -> None:
    body = copy.deepcopy(SEED_004_API)
    mutate(body)
    with pytest.raises(GraphSpecError) as exc:
        load(body, tools=tools)
    found = problems_of(exc)
    assert location in found, found
    assert message in found[location]


def test_seed003_keywords_are_expressions_not_names(tools: ToolRegistry) -> None:
    spec = _seed003_with(
        edges={
            **SEED_003["edges"],
            "evaluate_quality": {
                "default_next": None,
                "branches": [{"condition": "False", "target": "detect_issues"}],
            },
        }
    )
    result = load(spec, tools=tools).compile().invoke(SEED_003_STATE)
    assert result.state["trail"].count("evaluate_quality") == 1
