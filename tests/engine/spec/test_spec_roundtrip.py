"""dump() ∘ load(): graphs survive the trip to a spec and back, and behave the same."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from graphrun.engine import (
    END,
    Branch,
    CachePolicy,
    CompiledGraph,
    ConditionRegistry,
    EventType,
    Graph,
    MemoryEventSink,
    NodePolicies,
    RetryPolicy,
    RunStatus,
    StateError,
    ToolRegistry,
)
from graphrun.engine.spec import GraphSpec, dump, dumps, load, loads, parse


def shape(graph: CompiledGraph) -> dict[str, Any]:
    """Everything about a compiled graph that decides how it runs."""
    nodes = {}
    for name, node in graph.nodes.items():
        nodes[name] = (
            node.index,
            node.tool,
            node.args,
            node.mode,
            node.retry,
            node.timeout,
            node.cache.policy if node.cache else None,
            node.final,
            node.interrupt_before,
            node.interrupt_after,
            node.description,
            node.static,
            [(b.target, b.when.source if b.when else None) for b in node.branches],
            node.waits,
        )
    return {
        "name": graph.name,
        "entry": graph.entry,
        "max_steps": graph.max_steps,
        "reducers": graph.reducers,
        "joins": graph.joins,
        "schema": graph.schema.json_schema() if graph.schema else None,
        "nodes": nodes,
    }


def run(graph: Graph, state: dict[str, Any]) -> tuple[Any, ...]:
    """Final status and state, and which nodes ran in each step."""
    sink = MemoryEventSink()
    result = graph.compile().invoke(state, sink=sink)
    steps: dict[int, set[str]] = {}
    for event in sink.events:
        if event.type == EventType.NODE_STARTED and event.node is not None:
            steps.setdefault(event.step or 0, set()).add(event.node)
    return result.status, result.state, [sorted(steps[s]) for s in sorted(steps)]


def assert_round_trip(
    graph: Graph, tools: ToolRegistry, conditions: ConditionRegistry | None = None
) -> tuple[dict[str, Any], Graph]:
    data = dump(graph)
    assert json.loads(json.dumps(data)) == data
    again = load(data, tools=tools, conditions=conditions)
    assert dump(again) == data
    assert shape(again.compile()) == shape(graph.compile())
    return data, again


def test_loop_round_trips_and_runs_the_same(tools: ToolRegistry) -> None:
    g = Graph("loop", tools=tools, description="count to three")
    g.add_node("inc", tool="add", args={"key": "n"})
    g.add_node("check", tool="mark")
    g.add_edge("inc", "check")
    g.add_conditional_edges("check", [Branch("inc", "n < 3"), Branch(END)])
    g.set_reducer("marks", "append")
    data, again = assert_round_trip(g, tools)
    assert data == {
        "name": "loop",
        "description": "count to three",
        "entry": "inc",
        "max_steps": 100,
        "reducers": {"marks": "append"},
        "nodes": {
            "inc": {"tool": "add", "args": {"key": "n"}, "next": "check"},
            "check": {
                "tool": "mark",
                "next": [{"when": "n < 3", "to": "inc"}, {"to": "END"}],
            },
        },
    }
    first, second = run(g, {"n": 0}), run(again, {"n": 0})
    assert first == second
    assert first[1] == {"n": 3, "marks": ["check"] * 3}


def test_fan_out_and_join_round_trip_and_run_the_same(tools: ToolRegistry) -> None:
    g = Graph("fan", tools=tools, reducers={"marks": "append"})
    g.add_node("split", tool="mark")
    g.add_node("left", tool="mark", args={"label": "L"})
    g.add_node("left2", tool="add", args={"by": 2})
    g.add_node("right", tool="add", args={"by": 10})
    g.add_node("merge", tool="mark", args={"label": "M"})
    for target in ("left", "right"):
        g.add_edge("split", target)
    g.add_edge("left", "left2")
    g.add_edge(["left2", "right"], "merge")
    g.add_edge("merge", END)
    data, again = assert_round_trip(g, tools)
    assert data["nodes"]["split"]["next"] == ["left", "right"]
    assert "next" not in data["nodes"]["right"]
    assert data["edges"] == [{"from": ["left2", "right"], "to": "merge"}]
    first, second = run(g, {}), run(again, {})
    assert first == second
    status, state, steps = first
    assert status == RunStatus.COMPLETED
    assert state == {"marks": ["split", "L", "M"], "n": 12}
    assert steps == [["split"], ["left", "right"], ["left2"], ["merge"]]


def test_policies_round_trip(tools: ToolRegistry) -> None:
    g = Graph(
        "policies",
        tools=tools,
        max_steps=12,
        defaults=NodePolicies(
            retry=RetryPolicy(max_attempts=4, initial_delay=0, jitter=False),
            timeout=30,
            cache=CachePolicy(keys=("code",), ttl=5),
        ),
    )
    g.add_node("flaky", tool="flaky", args={"fails": 2}, retry=3, timeout=2, cache=True)
    g.add_node("plain", tool="pause", inline=False, description="waits")
    g.add_node("gate", tool="anything", interrupt_before=True, interrupt_after=True)
    g.add_node("last", tool="anything", final=True, inline=True)
    g.add_edge("flaky", "plain")
    g.add_edge("plain", "gate")
    g.add_edge("gate", "last")
    data, _ = assert_round_trip(g, tools)
    assert data["max_steps"] == 12
    assert data["defaults"] == {
        "retry": {
            "max_attempts": 4,
            "initial_delay": 0.0,
            "backoff": 2.0,
            "max_delay": 10.0,
            "jitter": False,
            "retry_on": [],
        },
        "timeout": 30.0,
        "cache": {"keys": ["code"], "ttl": 5.0, "max_entries": 1024},
    }
    flaky = data["nodes"]["flaky"]
    assert flaky["retry"]["max_attempts"] == 3
    assert flaky["timeout"] == 2.0
    assert flaky["cache"] == {"keys": [], "ttl": None, "max_entries": 1024}
    assert data["nodes"]["plain"] == {
        "tool": "pause",
        "inline": False,
        "description": "waits",
        "next": "gate",
    }
    assert data["nodes"]["gate"]["interrupt_before"] is True
    assert data["nodes"]["gate"]["interrupt_after"] is True
    assert data["nodes"]["last"] == {"tool": "anything", "inline": True, "final": True}


def test_retry_policy_from_a_spec_retries(tools: ToolRegistry) -> None:
    spec = {
        "name": "retry",
        "nodes": {
            "flaky": {
                "args": {"fails": 2},
                "retry": {"max_attempts": 3, "initial_delay": 0, "retry_on": ["ConnectionError"]},
                "next": "END",
            }
        },
    }
    graph = load(spec, tools=tools)
    assert run(graph, {})[:2] == (RunStatus.COMPLETED, {"attempts": 3})
    again = load(dump(graph), tools=tools)
    assert run(again, {})[:2] == (RunStatus.COMPLETED, {"attempts": 3})
    spec["nodes"]["flaky"]["retry"]["retry_on"] = ["ValueError"]
    assert run(load(spec, tools=tools), {})[0] == RunStatus.FAILED


def test_static_edges_and_branches_from_one_node(tools: ToolRegistry) -> None:
    g = Graph("both", tools=tools, reducers={"marks": "append"})
    g.add_node("a", tool="mark")
    g.add_node("b", tool="mark")
    g.add_node("c", tool="mark")
    g.add_edge("a", "b")
    g.add_conditional_edges("a", [Branch("c", "go"), Branch(END)])
    g.add_edge("b", END)
    g.add_edge("c", END)
    data, again = assert_round_trip(g, tools)
    assert data["nodes"]["a"]["next"] == "b"
    assert data["edges"] == [{"from": "a", "branches": [{"when": "go", "to": "c"}, {"to": "END"}]}]
    for go in (True, False):
        assert run(g, {"go": go}) == run(again, {"go": go})
    assert run(again, {"go": True})[1]["marks"] == ["a", "b", "c"]


def test_state_schema_round_trips(tools: ToolRegistry) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    g = Graph("schema", tools=tools, state_schema=schema)
    g.add_node("add", args={"by": 1})
    g.add_edge("add", END)
    data, again = assert_round_trip(g, tools)
    assert data["state_schema"] == schema
    with pytest.raises(StateError, match="n"):
        again.compile().invoke({})
    assert run(again, {"n": 1})[1] == {"n": 2}


def test_pydantic_state_model_is_dumped_as_json_schema(tools: ToolRegistry) -> None:
    class State(BaseModel):
        n: int

    g = Graph("model", tools=tools, state_schema=State)
    g.add_node("add", args={"by": 1})
    g.add_edge("add", END)
    data = dump(g)
    assert data["state_schema"] == State.model_json_schema()
    again = load(data, tools=tools)
    assert dump(again) == data
    with pytest.raises(StateError, match="n"):
        again.compile().invoke({"n": "one"})


def test_named_conditions_round_trip(tools: ToolRegistry, conditions: ConditionRegistry) -> None:
    g = Graph("named", tools=tools, conditions=conditions)
    g.add_node("evaluate_quality")
    g.add_conditional_edges(
        "evaluate_quality", [Branch("evaluate_quality", "quality_below_threshold"), Branch(END)]
    )
    _, again = assert_round_trip(g, tools, conditions)
    state = {"iteration": 2, "data": {"quality_threshold": 75}}
    assert run(g, state) == run(again, state)


def test_spec_forms_normalize_to_one_dump(tools: ToolRegistry) -> None:
    written = {
        "name": "g",
        "start_node": "a",
        "nodes": {
            "a": {"tool": "anything", "retry": 2, "timeout": 1, "cache": True, "next": ["b"]},
            "b": {
                "tool": "anything",
                "next": {"condition": "x", "if_true": "end", "if_false": "a"},
            },
        },
    }
    data = dump(load(written, tools=tools))
    assert data["entry"] == "a"
    assert data["nodes"]["a"]["next"] == "b"
    assert data["nodes"]["b"]["next"] == [{"when": "x", "to": "END"}, {"to": "a"}]
    assert dump(load(data, tools=tools)) == data


def test_graph_spec_from_graph_and_to_graph(tools: ToolRegistry) -> None:
    g = Graph("g", tools=tools)
    g.add_node("a", tool="anything", retry=2)
    g.add_edge("a", END)
    spec = GraphSpec.from_graph(g)
    assert spec.nodes["a"].next == "END"
    assert shape(spec.to_graph(tools=tools).compile()) == shape(g.compile())


def test_text_round_trip(tools: ToolRegistry) -> None:
    g = Graph("text", tools=tools)
    g.add_node("a", tool="add", args={"key": "ключ", "by": 2})
    g.add_edge("a", END)
    for fmt in ("yaml", "json"):
        text = dumps(g, format=fmt)
        assert "ключ" in text or fmt == "json"
        assert dump(loads(text, format=fmt, tools=tools)) == dump(g)


# -- random specs -----------------------------------------------------------------------

NAMES = ["a", "b", "node-3", "my node", "x.y"]
WHENS = [
    "n > 1",
    "flag",
    "quality_score >= 0.9 or iteration >= 5",
    "len(items) == 0",
    "state.meta.ok",
    "quality_below_threshold",
]
ENDS = ["END", "end", "__end__", None]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-1000, 1000)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.text(max_size=5)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=5,
)
seconds = st.floats(min_value=0.01, max_value=100, allow_nan=False)


@st.composite
def retry_values(draw: st.DrawFn) -> Any:
    if draw(st.booleans()):
        return draw(st.integers(1, 5))
    fields = {
        "max_attempts": st.integers(1, 5),
        "initial_delay": st.floats(0, 2),
        "backoff": st.floats(1, 3),
        "max_delay": st.floats(0, 20),
        "jitter": st.booleans(),
        "retry_on": st.lists(st.sampled_from(["ValueError", "OSError"]), max_size=2),
    }
    return {k: draw(v) for k, v in fields.items() if draw(st.booleans())}


@st.composite
def cache_values(draw: st.DrawFn) -> Any:
    if draw(st.booleans()):
        return draw(st.booleans())
    fields = {
        "keys": st.lists(st.sampled_from(["code", "n", "items"]), max_size=2),
        "ttl": st.none() | seconds,
        "max_entries": st.integers(1, 50),
    }
    return {k: draw(v) for k, v in fields.items() if draw(st.booleans())}


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        out["retry"] = draw(retry_values())
    if draw(st.booleans()):
        out["timeout"] = draw(seconds)
    if draw(st.booleans()):
        out["cache"] = draw(cache_values())
    return out


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid canonical spec: node i always leads (among others) to node i + 1, so every
    node is reachable, and every node has an outgoing edge or is final."""
    names = NAMES[: draw(st.integers(1, len(NAMES)))]
    anywhere = st.sampled_from([*names, *ENDS])
    nodes: dict[str, Any] = {}
    edges: list[dict[str, Any]] = []
    for i, name in enumerate(names):
        following = names[i + 1] if i + 1 < len(names) else draw(anywhere)
        node: dict[str, Any] = {"tool": "anything", **draw(policies())}
        if draw(st.booleans()):
            node["args"] = draw(st.dictionaries(st.text(min_size=1, max_size=4), json_values))
        for flag in ("final", "interrupt_before", "interrupt_after", "inline"):
            if draw(st.integers(0, 3)) == 0:
                node[flag] = draw(st.booleans())
        if draw(st.booleans()):
            node["description"] = draw(st.text(max_size=10))
        kind = draw(st.sampled_from(["target", "fanout", "branches", "if", "edges"]))
        if kind == "target":
            node["next"] = following
        elif kind == "fanout":
            node["next"] = [following, *draw(st.lists(anywhere, max_size=2))]
        elif kind == "branches":
            conditional = [
                {"when": draw(st.sampled_from(WHENS)), "to": draw(anywhere)}
                for _ in range(draw(st.integers(0, 2)))
            ]
            last = {"to": following}
            if draw(st.booleans()):
                last["when"] = draw(st.sampled_from(WHENS))
            node["next"] = [*conditional, last]
        elif kind == "if":
            node["next"] = {
                "condition": draw(st.sampled_from(WHENS)),
                "if_true": draw(anywhere),
                "if_false": following,
            }
        else:
            edges.append({"from": name, "to": following})
        nodes[name] = node
    for _ in range(draw(st.integers(0, 2))):
        sources = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
        edges.append({"from": sources, "to": draw(st.sampled_from(names))})
    spec: dict[str, Any] = {"name": draw(st.text(min_size=1, max_size=8)), "nodes": nodes}
    if edges:
        spec["edges"] = edges
    if draw(st.booleans()):
        spec["start_node" if draw(st.booleans()) else "entry"] = names[0]
    if draw(st.booleans()):
        spec["max_steps"] = draw(st.integers(1, 10_000))
    if draw(st.booleans()):
        spec["reducers"] = draw(
            st.dictionaries(
                st.sampled_from(["n", "items", "marks"]),
                st.sampled_from(["replace", "append", "add", "merge"]),
            )
        )
    if draw(st.booleans()):
        spec["defaults"] = draw(policies())
    if draw(st.booleans()):
        spec["state_schema"] = {"type": "object", "properties": {"n": {"type": "number"}}}
    if draw(st.booleans()):
        spec["graph_id"] = "id"
        spec["description"] = draw(st.text(max_size=10))
    return spec


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(spec=specs())
def test_random_valid_specs_round_trip(
    tools: ToolRegistry, conditions: ConditionRegistry, spec: dict[str, Any]
) -> None:
    parsed = parse(spec)
    assert parse(parsed.to_dict()) == parsed
    graph = load(spec, tools=tools, conditions=conditions)
    data = dump(graph)
    assert json.loads(json.dumps(data)) == data
    assert list(data["nodes"]) == list(spec["nodes"])
    again = load(data, tools=tools, conditions=conditions)
    assert dump(again) == data
    assert shape(again.compile()) == shape(graph.compile())
    assert dump(loads(dumps(again), tools=tools, conditions=conditions)) == data
