"""Building graphs in Python and checking them: every problem at once, each located."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import pytest

from graphrun.engine import (
    END,
    Branch,
    CachePolicy,
    CompiledGraph,
    Graph,
    GraphValidationError,
    NodePolicies,
    Problem,
    Reducer,
    RetryPolicy,
    ToolRegistry,
)
from graphrun.engine.graph import DEFAULT_MAX_STEPS


def step(state: Mapping[str, Any]) -> dict[str, Any]:
    return {"seen": True}


async def async_step(state: Mapping[str, Any]) -> None:
    return None


def with_ctx(state: Mapping[str, Any], ctx: Any) -> None:
    return None


def problems_of(g: Graph) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in g.problems():
        out.setdefault(p.location, []).append(p.message)
    return out


def chain(*names: str, tools: ToolRegistry | None = None) -> Graph:
    g = Graph("chain", tools=tools)
    for n in names:
        g.add_node(n, step)
    for a, b in itertools.pairwise(names):
        g.add_edge(a, b)
    g.add_edge(names[-1], END)
    return g


# -- a valid graph ---------------------------------------------------------------------


def test_a_valid_graph_compiles() -> None:
    compiled = chain("a", "b", "c").compile()
    assert isinstance(compiled, CompiledGraph)
    assert compiled.entry == "a"
    assert list(compiled.nodes) == ["a", "b", "c"]
    assert compiled.nodes["a"].static == ("b",)
    assert compiled.nodes["c"].static == (END,)
    assert compiled.max_steps == DEFAULT_MAX_STEPS == 100
    assert [n.index for n in compiled.nodes.values()] == [0, 1, 2]


def test_the_docstring_example_counts_to_three() -> None:
    g = Graph("counter")
    g.add_node("inc", tool="increment", args={"key": "n"})
    g.add_conditional_edges("inc", [Branch("inc", "n < 3"), Branch(END)])
    assert g.compile().invoke({"n": 0}).state["n"] == 3


def test_the_entry_defaults_to_the_first_node_and_can_be_set() -> None:
    g = chain("a", "b")
    assert g.entry == "a"
    g.add_node("start", step).add_edge("start", "a").set_entry("start")
    assert g.compile().entry == "start"
    assert Graph(entry="b").add_node("a", step).entry == "b"


def test_builder_fields() -> None:
    g = Graph("g", max_steps=7, reducers={"log": "append"}, description="d")
    g.add_node("a", step, retry=2, timeout=1.5, cache=True, final=True, description="node a")
    g.add_edge(["a"], "a")
    assert g.name == "g" and g.max_steps == 7 and g.description == "d"
    assert g.reducers == {"log": Reducer.APPEND}
    nd = g.nodes["a"]
    assert nd.retry == RetryPolicy(max_attempts=2)
    assert nd.timeout == 1.5
    assert nd.cache == CachePolicy()
    assert nd.final and nd.description == "node a"
    assert g.joins == [(("a",), "a")]


def test_node_modes() -> None:
    g = Graph("modes")
    g.add_node("sync", step)
    g.add_node("inline", step, inline=True)
    g.add_node("inline_with_timeout", step, inline=True, timeout=1)
    g.add_node("async", async_step)
    g.add_node("tool_inline", tool="noop")
    g.add_node("tool_async", tool="sleep", args={"seconds": 0})
    g.add_node("tool_forced_thread", tool="noop", inline=False)
    names = list(g.nodes)
    for a, b in itertools.pairwise(names):
        g.add_edge(a, b)
    g.add_edge(names[-1], END)
    nodes = g.compile().nodes
    assert {n: nodes[n].mode for n in names} == {
        "sync": "thread",
        "inline": "inline",
        "inline_with_timeout": "thread",  # a timeout needs something to walk away from
        "async": "async",
        "tool_inline": "inline",
        "tool_async": "async",
        "tool_forced_thread": "thread",
    }
    assert nodes["tool_inline"].tool == "noop"
    assert nodes["sync"].tool is None


def test_a_node_without_fn_or_tool_uses_the_tool_of_its_name() -> None:
    g = Graph().add_node("noop").add_edge("noop", END)
    assert g.compile().nodes["noop"].tool == "noop"


def test_policies_default_per_graph_and_the_node_wins() -> None:
    defaults = NodePolicies(retry=RetryPolicy(max_attempts=5), timeout=2.0, cache=CachePolicy())
    g = Graph(defaults=defaults)
    g.add_node("a", step)
    g.add_node("b", step, retry=RetryPolicy(max_attempts=1), timeout=0.5)
    g.add_edge("a", "b").add_edge("b", END)
    nodes = g.compile().nodes
    assert nodes["a"].retry == defaults.retry and nodes["a"].timeout == 2.0
    assert nodes["a"].cache is not None
    assert nodes["b"].retry == RetryPolicy(max_attempts=1) and nodes["b"].timeout == 0.5


def test_dict_branches_are_accepted() -> None:
    g = Graph().add_node("a", step).add_node("b", step, final=True)
    g.add_conditional_edges("a", [{"when": "x > 1", "to": "b"}, {"to": END}])
    branches = g.compile().nodes["a"].branches
    assert [b.target for b in branches] == ["b", END]
    assert branches[0].when is not None and branches[0].when.source == "x > 1"
    assert branches[1].when is None


def test_a_final_node_needs_no_outgoing_edge() -> None:
    assert Graph().add_node("only", step, final=True).compile().nodes["only"].final


def test_a_join_is_compiled_into_the_sources() -> None:
    g = Graph().add_node("s", step).add_node("a", step).add_node("b", step)
    g.add_node("j", step, final=True)
    g.add_edge("s", "a").add_edge("s", "b").add_edge(["a", "b"], "j")
    compiled = g.compile()
    assert compiled.joins == {"j": frozenset({"a", "b"})}
    assert compiled.nodes["a"].waits == {"j": frozenset({"a", "b"})}
    assert compiled.nodes["s"].waits == {}


def test_compiling_twice_gives_independent_graphs() -> None:
    g = chain("a", "b")
    one, two = g.compile(), g.compile()
    assert one.nodes["a"] is not two.nodes["a"]
    assert one.nodes["a"].static == two.nodes["a"].static == ("b",)


# -- problems, each named ---------------------------------------------------------------------


def test_every_problem_is_reported_at_once() -> None:
    g = Graph("broken", entry="ghost", max_steps=0)
    g.add_node("a", step)
    g.add_node("a", step)  # duplicate
    g.add_node(END, step)  # reserved
    g.add_node("t", tool="no_such_tool")
    g.add_node("both", step, tool="noop")
    g.add_node("dangling", step)  # unreachable and no outgoing edge
    g.add_node("r", step, retry=0)
    g.add_node("to", step, timeout=-1)
    g.set_reducer("log", "concat")
    g.add_edge("a", "nowhere")
    g.add_edge("ghost_source", "a")
    g.add_conditional_edges("t", [Branch("a"), Branch("both", "x > 1")])
    g.add_conditional_edges("both", [Branch("a", "x >"), Branch(END)])
    with pytest.raises(GraphValidationError) as err:
        g.compile()
    locations = {p.location for p in err.value.problems}
    assert {
        "entry",
        "max_steps",
        "nodes.a",
        f"nodes.{END}",
        "nodes.t.tool",
        "nodes.both",
        "nodes.dangling",
        "nodes.r.retry",
        "nodes.to.timeout",
        "reducers.log",
        "edges.a",
        "edges.ghost_source",
        "edges.t.branches[0]",
        "edges.both.branches[0].when",
    } <= locations
    text = str(err.value)
    assert text.startswith(f"invalid graph ({len(err.value.problems)} problem(s)):")
    for p in err.value.problems:
        assert f"  - {p.location}: {p.message}" in text


@pytest.mark.parametrize(
    ("build", "location", "message"),
    [
        (lambda g: g.add_node("a", step), "nodes.a", "duplicate node name 'a'"),
        (lambda g: g.add_node("", step), "nodes", "node names must be non-empty"),
        (lambda g: g.add_node(["x"], step), "nodes", "node names must be non-empty"),
        (lambda g: g.add_node(END, step), f"nodes.{END}", "is reserved"),
        (lambda g: g.add_node("START", step), "nodes.START", "is reserved"),
        (lambda g: g.add_node("x", step, tool="noop"), "nodes.x", "not both"),
        (lambda g: g.add_node("x", tool="nope", final=True), "nodes.x.tool", "unknown tool 'nope'"),
        (lambda g: g.add_node("x", 42, final=True), "nodes.x", "42 is not callable"),
        (lambda g: g.add_node("x", step, retry=0), "nodes.x.retry", "at least 1 attempt"),
        (lambda g: g.add_node("x", step, retry=True), "nodes.x.retry", "RetryPolicy or a number"),
        (lambda g: g.add_node("x", step, retry="3"), "nodes.x.retry", "RetryPolicy or a number"),
        (lambda g: g.add_node("x", step, timeout=0), "nodes.x.timeout", "must be positive"),
        (lambda g: g.add_node("x", step, timeout="1"), "nodes.x.timeout", "number of seconds"),
        (lambda g: g.add_node("x", step, cache={"ttl": 1}), "nodes.x.cache", "CachePolicy"),
        (lambda g: g.add_node("x", step, args=[1]), "nodes.x.args", "mapping"),
        (lambda g: g.set_reducer("k", "sum"), "reducers.k", "unknown reducer 'sum'"),
        (lambda g: g.add_edge("a", "zzz"), "edges.a", "unknown node 'zzz'"),
        (lambda g: g.add_edge("zzz", "a"), "edges.zzz", "edge from unknown node 'zzz'"),
        (lambda g: g.add_edge(["a", "zzz"], "a"), "joins[0]", "edge from unknown node 'zzz'"),
        (lambda g: g.add_edge(["a"], END), "joins[0]", "must lead to a node, not END"),
        (lambda g: g.add_edge(["a"], "zzz"), "joins[0]", "unknown node 'zzz'"),
        (lambda g: g.add_edge([], "a"), "joins[0]", "at least one source"),
        (
            lambda g: g.add_conditional_edges("a", [Branch(END), Branch("a", "x")]),
            "edges.a.branches[0]",
            "the default branch (no 'when') must come last",
        ),
        (
            lambda g: g.add_conditional_edges("a", [Branch("zzz", "x > 1")]),
            "edges.a.branches[0]",
            "unknown node 'zzz'",
        ),
        (
            lambda g: g.add_conditional_edges("a", [Branch(END, "x >> 1")]),
            "edges.a.branches[0].when",
            "uses RShift",
        ),
        (
            lambda g: g.add_conditional_edges("a", [Branch(END, "9**9**9")]),
            "edges.a.branches[0].when",
            "can never be evaluated",
        ),
        (
            lambda g: g.add_conditional_edges("a", [Branch(END, 5)]),  # type: ignore[arg-type]
            "edges.a.branches[0].when",
            "must be a string",
        ),
        (
            lambda g: g.add_conditional_edges("a", [{"when": "x"}]),
            "edges.a.branches[0]",
            "needs 'to'",
        ),
        (
            lambda g: g.add_conditional_edges("a", [Branch(7)]),  # type: ignore[arg-type]
            "edges.a.branches[0]",
            "must be a node name, got 7",
        ),
        (lambda g: g.add_conditional_edges("a", []), "edges.a", "at least one branch"),
        (
            lambda g: g.add_conditional_edges("a", [Branch(END)]).add_conditional_edges(
                "a", [Branch(END)]
            ),
            "edges.a",
            "conditional edges are already set",
        ),
        (
            lambda g: g.add_conditional_edges("a", lambda s: END, targets=["zzz"]),
            "edges.a.targets",
            "unknown node 'zzz'",
        ),
    ],
)
def test_each_problem_names_its_node_or_edge(build: Any, location: str, message: str) -> None:
    g = Graph("g").add_node("a", step)
    g.add_edge("a", END)
    build(g)
    found = [p for p in g.problems() if p.location == location]
    assert any(message in p.message for p in found), g.problems()
    with pytest.raises(GraphValidationError):
        g.compile()


def test_no_nodes() -> None:
    assert problems_of(Graph()) == {
        "nodes": ["a graph needs at least one node"],
        "entry": ["no entry node"],
    }


def test_missing_entry_node() -> None:
    g = chain("a")
    g.set_entry("b")
    assert problems_of(g) == {"entry": ["entry node 'b' does not exist"]}


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "10"])
def test_max_steps_must_be_a_positive_integer(bad: Any) -> None:
    g = chain("a")
    g.max_steps = bad
    assert problems_of(g) == {"max_steps": ["max_steps must be a positive integer"]}


def test_a_node_without_outgoing_path_must_be_final() -> None:
    g = Graph().add_node("a", step).add_node("b", step)
    g.add_edge("a", "b")
    assert problems_of(g) == {
        "nodes.b": [
            "node 'b' has no outgoing edge; add one (to END to finish there) or mark the node final"
        ]
    }


def test_unreachable_nodes_are_named() -> None:
    g = chain("a", "b")
    g.add_node("island", step).add_edge("island", END)
    g.add_node("island2", step).add_edge("island2", "island")
    assert problems_of(g) == {
        "nodes.island": ["node 'island' cannot be reached from the entry"],
        "nodes.island2": ["node 'island2' cannot be reached from the entry"],
    }


def test_reachability_follows_branches_joins_and_router_targets() -> None:
    g = Graph().add_node("a", step).add_node("b", step).add_node("c", step)
    g.add_node("d", step).add_node("e", step, final=True)
    g.add_conditional_edges("a", [Branch("b", "x"), Branch("c")])
    g.add_edge(["b", "c"], "d")
    g.add_conditional_edges("d", lambda s: "e", targets=["e"])
    assert g.problems() == []


def test_a_router_without_targets_may_reach_anything() -> None:
    g = Graph().add_node("a", step).add_node("b", step, final=True)
    g.add_conditional_edges("a", lambda s: "b")
    assert g.problems() == []
    g2 = Graph().add_node("a", step).add_node("b", step, final=True)
    g2.add_conditional_edges("a", lambda s: "b", targets=[END])
    assert problems_of(g2) == {"nodes.b": ["node 'b' cannot be reached from the entry"]}


def test_tool_arguments_are_checked(tools: ToolRegistry) -> None:
    g = Graph(tools=tools)
    g.add_node("inc", tool="increment", args={"key": "n", "step": 2})
    g.add_node("log", tool="log", args={"msg": "x"})
    g.add_edge("inc", "log").add_edge("log", END)

    def needs(state: Mapping[str, Any], *, path: str) -> None:
        return None

    tools.add(needs, "needs")
    g.add_node("n", tool="needs").add_edge("log", "n").add_edge("n", END)
    found = problems_of(g)
    assert found["nodes.inc.args.step"] == [
        "tool 'increment' takes no argument 'step' (it takes: by, key)"
    ]
    assert found["nodes.log.args.msg"] == [
        "tool 'log' takes no argument 'msg' (it takes: level, message)"
    ]
    assert found["nodes.n.args"] == ["tool 'needs' needs the argument 'path'"]


def test_a_tool_taking_any_keyword_accepts_any_args() -> None:
    g = Graph().add_node("s", tool="set", args={"anything": 1, "else": [2]}).add_edge("s", END)
    assert g.problems() == []


def test_callable_args_must_fit_the_callable() -> None:
    def scaled(state: Mapping[str, Any], *, factor: int) -> dict[str, Any]:
        return {"y": state["x"] * factor}

    def scaled_ctx(state: Mapping[str, Any], ctx: Any, factor: int = 1) -> None:
        return None

    g = Graph().add_node("a", scaled, args={"factor": 2}).add_edge("a", END)
    assert g.problems() == []
    assert g.compile().invoke({"x": 3}).state["y"] == 6
    bad = Graph().add_node("a", scaled, args={"factr": 2}).add_edge("a", END)
    assert bad.problems() == [Problem("nodes.a.args.factr", "'scaled' takes no argument 'factr'")]
    missing = Graph().add_node("a", scaled).add_edge("a", END)
    (problem,) = missing.problems()
    assert problem.location == "nodes.a.args"
    assert "'scaled' cannot be called with these args" in problem.message
    assert "factor" in problem.message
    no_params = Graph().add_node("a", lambda: None).add_edge("a", END)
    assert [p.location for p in no_params.problems()] == ["nodes.a.args"]
    ok_ctx = Graph().add_node("a", scaled_ctx, args={"factor": 3}).add_edge("a", END)
    assert ok_ctx.problems() == []


def test_an_invalid_state_schema_is_a_problem() -> None:
    g = chain("a")
    g.state_schema = {"type": "no-such-type"}
    (problem,) = g.problems()
    assert problem.location == "state_schema"
    assert "invalid state schema" in problem.message
    g.state_schema = 42  # type: ignore[assignment]
    (problem,) = g.problems()
    assert problem == Problem(
        "state_schema",
        "a state schema must be a JSON Schema object or a Pydantic model class, not int",
    )


def test_problems_are_located_for_display() -> None:
    assert str(Problem("nodes.a", "bad")) == "nodes.a: bad"
    assert str(Problem("", "bad")) == "bad"
