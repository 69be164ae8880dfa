"""Bad specs: every problem is reported, together, at its JSON path."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphrun.engine import GraphSpecError, ToolRegistry
from graphrun.engine.spec import dump, load, parse

Problems = list[tuple[str, str]]


def problems(data: Any, tools: ToolRegistry | None = None) -> Problems:
    with pytest.raises(GraphSpecError) as exc:
        load(data, tools=tools)
    return [(p.location, p.message) for p in exc.value.problems]


def at(found: Problems, location: str) -> str:
    """The messages reported at ``location`` (fails when there are none)."""
    messages = [m for loc, m in found if loc == location]
    assert messages, f"nothing at {location!r}; got {found}"
    return " | ".join(messages)


def graph(**nodes: Any) -> dict[str, Any]:
    return {"name": "g", "nodes": nodes}


@pytest.mark.parametrize("data", [[], "nodes: {}", 3, None])
def test_non_object_input(data: Any) -> None:
    with pytest.raises(GraphSpecError) as exc:
        parse(data)
    (problem,) = exc.value.problems
    assert problem.location == ""
    assert "a graph spec must be an object" in problem.message


def test_wrong_types_are_all_reported() -> None:
    found = problems(
        {
            "name": 5,
            "max_steps": "3",
            "state_schema": [],
            "reducers": {"marks": "concat"},
            "nodes": {
                "a": {
                    "tool": 3,
                    "args": [],
                    "timeout": -1,
                    "final": "yes",
                    "description": None,
                    "next": 4,
                }
            },
            "edges": "a->b",
        }
    )
    assert at(found, "name") == "input should be a valid string, got 5"
    assert at(found, "max_steps") == 'input should be a valid integer, got "3"'
    assert at(found, "state_schema") == "must be an object, got a list"
    assert "'replace', 'append', 'add' or 'merge'" in at(found, "reducers.marks")
    assert at(found, "nodes.a.tool") == "input should be a valid string, got 3"
    assert at(found, "nodes.a.args") == "must be an object, got a list"
    assert at(found, "nodes.a.timeout") == "input should be greater than 0"
    assert "valid boolean" in at(found, "nodes.a.final")
    assert "valid string" in at(found, "nodes.a.description")
    assert at(found, "nodes.a.next").startswith("next must be a node name, END or null")
    assert "valid list" in at(found, "edges")
    assert len(found) == 11


def test_unknown_fields_are_reported_with_a_suggestion() -> None:
    found = problems(
        {
            "name": "g",
            "nodse": {},
            "nodes": {
                "a": {
                    "tol": "x",
                    "retry": {"max_attempt": 2},
                    "cache": {"key": ["a"]},
                    "next": [{"when": "x", "to": "a", "else": "b"}],
                    "colour": "red",
                },
            },
            "defaults": {"timeout": 1, "retries": 3},
            "edges": [{"from": "a", "to": "END", "label": "x"}],
        }
    )
    assert at(found, "nodse") == "unknown field 'nodse'; did you mean 'nodes'?"
    assert at(found, "nodes.a.tol") == "unknown field 'tol'; did you mean 'tool'?"
    assert "did you mean 'max_attempts'" in at(found, "nodes.a.retry.max_attempt")
    assert "did you mean 'keys'" in at(found, "nodes.a.cache.key")
    assert at(found, "nodes.a.next[0].else").startswith("unknown field 'else' (allowed: when, to")
    assert at(found, "nodes.a.colour").startswith("unknown field 'colour' (allowed: tool, args")
    assert "did you mean 'retry'" in at(found, "defaults.retries")
    assert "allowed: from, to, branches" in at(found, "edges[0].label")


def test_missing_required_fields() -> None:
    found = problems({"nodes": {"a": {"next": [{"when": "x"}]}}, "edges": [{"to": "a"}]})
    assert at(found, "name") == "this field is required"
    assert at(found, "nodes.a.next[0].to") == "this field is required"
    assert at(found, "edges[0].from") == "this field is required"
    found = problems({"name": "g"})
    assert found == [("nodes", "this field is required")]


def test_if_true_and_if_false_are_required() -> None:
    found = problems(graph(a={"next": {"condition": "x > 1"}}))
    assert found == [
        ("nodes.a.next.if_true", "this field is required"),
        ("nodes.a.next.if_false", "this field is required"),
    ]


def test_bad_retry_values(tools: ToolRegistry) -> None:
    found = problems(
        graph(
            a={"tool": "anything", "retry": 0, "next": "b"},
            b={
                "tool": "anything",
                "retry": {"max_attempts": 0, "initial_delay": -1, "backoff": 0.5, "jitter": 1},
                "next": "c",
            },
            c={"tool": "anything", "retry": True, "next": "d"},
            d={"tool": "anything", "retry": 2.5, "cache": "yes", "next": "END"},
        ),
        tools,
    )
    assert at(found, "nodes.a.retry") == "input should be greater than or equal to 1"
    assert "greater than or equal to 1" in at(found, "nodes.b.retry.max_attempts")
    assert "greater than or equal to 0" in at(found, "nodes.b.retry.initial_delay")
    assert "greater than or equal to 1" in at(found, "nodes.b.retry.backoff")
    assert "valid boolean" in at(found, "nodes.b.retry.jitter")
    assert at(found, "nodes.c.retry").startswith("retry must be an object")
    assert at(found, "nodes.d.retry").startswith("retry must be an object")
    assert at(found, "nodes.d.cache").startswith("cache must be an object")


def test_non_finite_numbers_are_refused() -> None:
    found = problems(graph(a={"timeout": float("inf"), "cache": {"ttl": float("nan")}}))
    assert "finite number" in at(found, "nodes.a.timeout")
    assert "finite number" in at(found, "nodes.a.cache.ttl")


def test_next_may_not_mix_names_and_branches() -> None:
    found = problems(graph(a={"next": ["a", {"to": "END"}]}))
    assert found[0][0] == "nodes.a.next"
    assert "a list may not mix names and branches" in found[0][1]


def test_empty_lists_are_refused() -> None:
    found = problems(
        {
            "name": "g",
            "nodes": {"a": {"next": []}},
            "edges": [{"from": [], "to": "a"}, {"from": "a", "branches": []}],
        }
    )
    assert "at least 1 item" in at(found, "nodes.a.next")
    assert "at least 1 item" in at(found, "edges[0].from")
    assert "at least 1 item" in at(found, "edges[1].branches")


def test_edge_entries_need_one_kind() -> None:
    found = problems(
        {
            "name": "g",
            "nodes": {"a": {"final": True}},
            "edges": [
                {"from": "a"},
                {"from": "a", "to": "END", "branches": [{"to": "END"}]},
                {"from": ["a"], "branches": [{"to": "END"}]},
                {"from": 3, "to": "END"},
            ],
        }
    )
    assert at(found, "edges[0]") == "an edge needs either 'to' or 'branches' (not both)"
    assert at(found, "edges[1]") == "an edge needs either 'to' or 'branches' (not both)"
    assert "'from' must be a name" in at(found, "edges[2]")
    assert at(found, "edges[3].from") == "from must be a node name or a list of node names"


def test_unknown_tools_and_args(tools: ToolRegistry) -> None:
    found = problems(
        graph(
            extract={"tool": "extract_fns", "next": "check_complexity"},
            check_complexity={"args": {"treshold": 3}, "next": "add"},
            add={"args": {"key": 1, "by": 2, "extra": 0}, "next": "lint"},
            lint={"next": "END"},
        ),
        tools,
    )
    assert at(found, "nodes.extract.tool") == (
        "unknown tool 'extract_fns' (did you mean 'extract_functions'?)"
    )
    assert "takes no argument 'treshold'" in at(found, "nodes.check_complexity.args.treshold")
    assert "takes no argument 'extra'" in at(found, "nodes.add.args.extra")
    assert at(found, "nodes.lint.tool") == "unknown tool 'lint'"


def test_missing_tool_argument(tools: ToolRegistry) -> None:
    reg = ToolRegistry()
    reg.add(lambda state, key: {key: 1}, "needs_key")
    found = problems(graph(a={"tool": "needs_key", "next": "END"}), reg)
    assert at(found, "nodes.a.args") == "tool 'needs_key' needs the argument 'key'"


def test_unknown_targets_and_sources(tools: ToolRegistry) -> None:
    found = problems(
        {
            "name": "g",
            "nodes": {
                "a": {"tool": "anything", "next": ["b", "bb"]},
                "b": {"tool": "anything", "next": [{"when": "x", "to": "c"}, {"to": "END"}]},
                "c": {
                    "tool": "anything",
                    "next": {"condition": "x", "if_true": "d", "if_false": "a"},
                },
            },
            "edges": [
                {"from": "q", "to": "a"},
                {"from": "c", "to": "e"},
                {"from": ["a", "w"], "to": "b"},
                {"from": ["a", "b"], "to": "z"},
            ],
        },
        tools,
    )
    assert found == [
        ("nodes.a.next[1]", "unknown node 'bb' (did you mean 'b'?)"),
        ("nodes.c.next.if_true", "unknown node 'd'"),
        ("edges[0].from", "edge from unknown node 'q'"),
        ("edges[1].to", "unknown node 'e'"),
        ("edges[2].from[1]", "edge from unknown node 'w'"),
        ("edges[3].to", "unknown node 'z'"),
    ]


def test_waiting_edge_to_end(tools: ToolRegistry) -> None:
    found = problems(
        {
            "name": "g",
            "nodes": {"a": {"tool": "anything", "next": "b"}, "b": {"tool": "anything"}},
            "edges": [{"from": ["a", "b"], "to": None}],
        },
        tools,
    )
    assert found == [("edges[0].to", "a waiting edge must lead to a node, not END")]


def test_bad_conditions(tools: ToolRegistry) -> None:
    found = problems(
        {
            "name": "g",
            "nodes": {
                "a": {"tool": "anything", "next": [{"when": "x >", "to": "b"}, {"to": "END"}]},
                "b": {
                    "tool": "anything",
                    "next": {"condition": "_secret > 1", "if_true": "a", "if_false": "c"},
                },
                "c": {"tool": "anything", "final": True},
            },
            "edges": [{"from": "c", "branches": [{"when": "", "to": "END"}]}],
        },
        tools,
    )
    assert "is not a valid expression" in at(found, "nodes.a.next[0].when")
    assert "names may not start with '_'" in at(found, "nodes.b.next.condition")
    assert "must not be empty" in at(found, "edges[0].branches[0].when")
    found = problems(
        graph(a={"tool": "anything", "next": [{"when": "open('x')", "to": "END"}]}), tools
    )
    assert "calls something other than the allowed functions" in at(found, "nodes.a.next[0].when")


def test_default_branch_must_be_last(tools: ToolRegistry) -> None:
    found = problems(
        graph(a={"tool": "anything", "next": [{"to": "END"}, {"when": "x", "to": "a"}]}),
        tools,
    )
    assert found == [("nodes.a.next[0]", "the default branch (no 'when') must come last")]


def test_two_branch_lists_for_one_node(tools: ToolRegistry) -> None:
    found = problems(
        {
            "name": "g",
            "nodes": {"a": {"tool": "anything", "next": [{"when": "x", "to": "END"}]}},
            "edges": [{"from": "a", "branches": [{"to": "END"}]}],
        },
        tools,
    )
    assert found == [
        (
            "edges[0].branches",
            "node 'a' already has conditional branches at nodes.a.next; give all of its "
            "branches in one list",
        )
    ]


def test_graph_shape_problems(tools: ToolRegistry) -> None:
    found = problems(
        {
            "name": "g",
            "entry": "start",
            "state_schema": {"type": "nope"},
            "nodes": {
                "a": {"tool": "anything"},
                "b": {"tool": "anything", "next": "END"},
                "END": {"tool": "anything"},
            },
        },
        tools,
    )
    assert at(found, "entry") == "entry node 'start' does not exist"
    assert "invalid state schema" in at(found, "state_schema")
    assert "has no outgoing edge" in at(found, "nodes.a.next")
    assert "'END' is reserved" in at(found, "nodes.END")


def test_unreachable_node(tools: ToolRegistry) -> None:
    found = problems(
        graph(a={"tool": "anything", "next": "END"}, b={"tool": "anything", "next": "a"}),
        tools,
    )
    assert found == [("nodes.b", "node 'b' cannot be reached from the entry")]


def test_empty_graph() -> None:
    found = problems({"name": "g", "nodes": {}})
    assert at(found, "nodes") == "a graph needs at least one node"


def test_keys_that_are_not_strings() -> None:
    found = problems({"name": "g", "nodes": {1: {}}, "reducers": {2: "add"}})
    assert at(found, "nodes.1") == "keys must be strings, got int"
    assert at(found, "reducers.2") == "keys must be strings, got int"


def test_names_that_are_not_plain_words_are_quoted(tools: ToolRegistry) -> None:
    found = problems(graph(**{"my node": {"tool": "nope", "next": "END"}}), tools)
    assert found == [('nodes["my node"].tool', "unknown tool 'nope'")]


def test_start_node_problems_are_reported_at_start_node(tools: ToolRegistry) -> None:
    found = problems({"name": "g", "start_node": 5, "nodes": {"a": {}}})
    assert found == [("start_node", "input should be a valid string, got 5")]


def test_entry_and_start_node_together() -> None:
    found = problems({"name": "g", "entry": "a", "start_node": "a", "nodes": {"a": {}}})
    assert found == [("start_node", "give entry or start_node, not both")]


def test_error_message_lists_every_problem(tools: ToolRegistry) -> None:
    with pytest.raises(GraphSpecError) as exc:
        load(graph(a={"tool": "nope", "next": "b"}), tools=tools)
    text = str(exc.value)
    assert text.startswith("invalid graph spec (2 problem(s)):")
    assert "  - nodes.a.tool: unknown tool 'nope'" in text
    assert "  - nodes.a.next: unknown node 'b'" in text


def test_dump_refuses_python_callables_and_routers() -> None:
    from graphrun.engine import Graph

    g = Graph("py")
    g.add_node("inline", lambda state: None)
    g.add_node("tooled", tool="noop")
    g.add_node("also_inline", lambda state: None)
    g.add_edge("inline", "tooled")
    g.add_conditional_edges("tooled", lambda state: "also_inline", targets=["also_inline"])
    g.add_edge("also_inline", "__end__")
    with pytest.raises(GraphSpecError) as exc:
        dump(g)
    assert [(p.location, p.message.split(";")[0]) for p in exc.value.problems] == [
        ("nodes.inline", "node 'inline' runs a Python callable"),
        ("nodes.also_inline", "node 'also_inline' runs a Python callable"),
        ("nodes.tooled.next", "the edges from 'tooled' are a router function"),
    ]


def test_dump_refuses_args_that_are_not_json() -> None:
    from graphrun.engine import Graph

    g = Graph("py")
    g.add_node("a", tool="set", args={"when": object()})
    g.add_edge("a", "__end__")
    with pytest.raises(GraphSpecError) as exc:
        dump(g)
    assert [p.location for p in exc.value.problems] == ["nodes.a.args"]


# -- anything at all -------------------------------------------------------------------

VOCAB = [
    *("name", "graph_id", "entry", "start_node", "max_steps", "state_schema", "reducers"),
    *("defaults", "nodes", "edges", "tool", "args", "retry", "timeout", "cache", "next"),
    *("final", "inline", "from", "to", "branches", "when", "condition", "if_true"),
    *("if_false", "default_next", "target", "max_attempts", "keys", "ttl", "type"),
    *("a", "b", "add", "anything", "END", "end", "n > 1", "append"),
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(VOCAB)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(VOCAB), inner),
    max_leaves=25,
)
documents = st.dictionaries(st.sampled_from(VOCAB), values, max_size=6) | st.builds(
    lambda nodes, rest: {"name": "g", "nodes": nodes, **rest},
    st.dictionaries(st.sampled_from(["a", "b", "add"]), values, max_size=3),
    st.dictionaries(st.sampled_from(VOCAB), values, max_size=3),
)


@settings(max_examples=150, deadline=None)
@given(data=documents)
def test_any_document_loads_or_fails_with_located_problems(
    tools: ToolRegistry, data: dict[str, Any]
) -> None:
    try:
        load(data, tools=tools)
    except GraphSpecError as exc:
        found = exc.problems
    else:
        return
    assert found
    for p in found:
        assert isinstance(p.location, str) and p.message
