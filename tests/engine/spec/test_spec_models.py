"""The canonical models: what parse() accepts and how it normalizes it."""

from __future__ import annotations

import json
import warnings
from types import MappingProxyType
from typing import Any

import pytest

from graphrun.engine import CachePolicy, GraphSpecError, RetryPolicy, ToolRegistry
from graphrun.engine.spec import (
    BranchSpec,
    CacheSpec,
    EdgeSpec,
    GraphSpec,
    IfSpec,
    NodeSpec,
    RetrySpec,
    detect_form,
    dump,
    parse,
)


def spec_with(**node: Any) -> dict[str, Any]:
    return {"name": "g", "nodes": {"a": node}}


def test_minimal_spec_gets_the_documented_defaults() -> None:
    spec = parse({"name": "g", "nodes": {"a": {}}})
    assert spec.entry is None
    assert spec.max_steps == 100
    assert spec.state_schema is None
    assert spec.reducers == {}
    assert spec.defaults is None
    assert spec.edges == []
    node = spec.nodes["a"]
    assert node.tool is None
    assert node.args == {}
    assert node.retry is None and node.timeout is None and node.cache is None
    assert not node.final and not node.interrupt_before and not node.interrupt_after
    assert node.next is None


@pytest.mark.parametrize("end", ["END", "end", "__end__", None])
def test_every_end_spelling_is_normalized(end: str | None) -> None:
    spec = parse(
        {
            "name": "g",
            "nodes": {
                "a": {"next": end},
                "b": {"next": [{"when": "x", "to": end}, {"to": end}]},
                "c": {"next": {"condition": "x", "if_true": end, "if_false": "a"}},
                "d": {"next": ["a", end]},
            },
            "edges": [{"from": "a", "to": end}],
        }
    )
    assert spec.nodes["a"].next == "END"
    assert [b.to for b in spec.nodes["b"].next] == ["END", "END"]
    assert spec.nodes["c"].next == [BranchSpec(when="x", to="END"), BranchSpec(to="a")]
    assert spec.nodes["d"].next == ["a", "END"]
    assert spec.edges[0].to == "END"


def test_absent_next_differs_from_null_next() -> None:
    spec = parse({"name": "g", "nodes": {"a": {"final": True}, "b": {"next": None}}})
    assert spec.nodes["a"].next is None
    assert spec.nodes["b"].next == "END"


def test_next_shapes() -> None:
    spec = parse(
        {
            "name": "g",
            "nodes": {
                "one": {"next": "two"},
                "fan": {"next": ["one", "two"]},
                "branch": {"next": [{"when": "n > 1", "to": "one"}, {"to": "two"}]},
                "two": {"next": {"condition": "ok", "if_true": "one", "if_false": "END"}},
            },
        }
    )
    assert spec.nodes["one"].next == "two"
    assert spec.nodes["fan"].next == ["one", "two"]
    assert spec.nodes["branch"].next == [
        BranchSpec(when="n > 1", to="one"),
        BranchSpec(to="two"),
    ]
    # Seed 004's two-way branch is normalized into the branch list it stands for.
    assert spec.nodes["two"].next == [BranchSpec(when="ok", to="one"), BranchSpec(to="END")]


def test_edge_list_entries() -> None:
    spec = parse(
        {
            "name": "g",
            "nodes": {"a": {}, "b": {}, "c": {}},
            "edges": [
                {"from": "a", "to": "b"},
                {"from": ["a", "b"], "to": "c"},
                {"from": "c", "branches": [{"when": "x", "to": "a"}, {"to": None}]},
            ],
        }
    )
    static, join, cond = spec.edges
    assert (static.source, static.to, static.branches) == ("a", "b", None)
    assert (join.source, join.to) == (["a", "b"], "c")
    assert cond.to is None
    assert cond.branches == [BranchSpec(when="x", to="a"), BranchSpec(to="END")]


def test_policies_in_both_shapes() -> None:
    spec = parse(
        {
            "name": "g",
            "defaults": {"retry": 2, "timeout": 30, "cache": True},
            "nodes": {
                "a": {
                    "retry": {"max_attempts": 5, "backoff": 3, "retry_on": ["ValueError"]},
                    "cache": {"keys": ["code"], "ttl": 60, "max_entries": 8},
                    "timeout": 1.5,
                },
                "b": {"retry": 1, "cache": False},
            },
        }
    )
    a, b = spec.nodes["a"], spec.nodes["b"]
    assert isinstance(a.retry, RetrySpec)
    assert a.retry.to_policy() == RetryPolicy(max_attempts=5, backoff=3.0, retry_on=("ValueError",))
    assert isinstance(a.cache, CacheSpec)
    assert a.cache.to_policy() == CachePolicy(keys=("code",), ttl=60.0, max_entries=8)
    assert a.timeout == 1.5
    assert b.retry == 1 and b.cache is False
    assert spec.defaults is not None
    policies = spec.defaults.to_policies()
    assert policies.retry == RetryPolicy(max_attempts=2)
    assert policies.timeout == 30
    assert policies.cache == CachePolicy()


def test_start_node_is_an_alias_of_entry() -> None:
    assert parse({"name": "g", "start_node": "b", "nodes": {"a": {}, "b": {}}}).entry == "b"


def test_graph_id_and_description_are_kept() -> None:
    spec = parse({"name": "g", "graph_id": "id-1", "description": "d", "nodes": {"a": {}}})
    assert (spec.graph_id, spec.description) == ("id-1", "d")


def test_models_are_strict() -> None:
    # "3" is not a number and 1 is not true: a spec means what it says or is rejected.
    with pytest.raises(GraphSpecError, match="max_steps"):
        parse({"name": "g", "max_steps": "3", "nodes": {"a": {}}})
    with pytest.raises(GraphSpecError, match="final"):
        parse(spec_with(final=1))


def test_parse_accepts_any_mapping() -> None:
    spec = parse(MappingProxyType({"name": "g", "nodes": {"a": {"next": "END"}}}))
    assert spec.nodes["a"].next == "END"


def test_parse_does_not_change_its_input() -> None:
    data = {"name": "g", "start_node": "a", "nodes": {"a": {"next": None}}}
    before = json.dumps(data)
    parse(data)
    assert json.dumps(data) == before


def test_model_dump_of_every_union_shape_is_clean() -> None:
    spec = parse(
        {
            "name": "g",
            "nodes": {
                "a": {"retry": 2, "cache": True, "next": ["b"]},
                "b": {"retry": {"max_attempts": 2}, "cache": {"ttl": 1}, "next": "END"},
                "c": {"next": {"condition": "x", "if_true": "a", "if_false": "b"}},
                "d": {"next": [{"when": "x", "to": "a"}]},
            },
            "edges": [{"from": ["a", "b"], "to": "c"}],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dumped = spec.model_dump(mode="json", by_alias=True, exclude_unset=True)
    assert dumped["edges"] == [{"from": ["a", "b"], "to": "c"}]
    assert parse(dumped) == spec


def test_json_schema_of_the_spec_is_available() -> None:
    schema = GraphSpec.model_json_schema()
    assert schema["required"] == ["name", "nodes"]
    assert "additionalProperties" in schema and schema["additionalProperties"] is False
    assert set(EdgeSpec.model_json_schema(by_alias=True)["properties"]) == {
        "from",
        "to",
        "branches",
    }
    json.dumps(schema)


@pytest.mark.parametrize(
    ("data", "form"),
    [
        ({"name": "g", "nodes": {"a": {}}}, "canonical"),
        ({"name": "g", "nodes": {"a": {"next": [{"when": "x", "to": "a"}]}}}, "canonical"),
        ({"name": "g", "start_node": "a", "nodes": {"a": {}}}, "next_map"),
        (
            {"name": "g", "nodes": {"a": {"next": {"condition": "x", "if_true": "a"}}}},
            "next_map",
        ),
        ({"graph_id": "g", "nodes": ["a"]}, "edge_map"),
        ({"graph_id": "g", "nodes": {"a": {}}, "edges": {"a": {}}}, "edge_map"),
    ],
)
def test_detect_form(data: dict[str, Any], form: str) -> None:
    assert detect_form(data) == form


def test_to_dict_leaves_out_defaults_and_parses_back() -> None:
    spec = parse(
        {
            "graph_id": "g1",
            "start_node": "a",
            "nodes": ["a", {"name": "b", "retry": 2, "cache": {"ttl": 5}}],
            "edges": {"a": {"default_next": ["b"]}, "b": {"default_next": None}},
        }
    )
    data = spec.to_dict()
    assert data == {
        "name": "g1",
        "graph_id": "g1",
        "entry": "a",
        "nodes": {
            "a": {"next": ["b"]},
            "b": {"retry": 2, "cache": {"ttl": 5.0}, "next": "END"},
        },
    }
    assert parse(data) == spec


def test_equal_specs_from_different_documents() -> None:
    seed = {"name": "g", "start_node": "a", "nodes": {"a": {"next": "end"}}}
    canonical = {"name": "g", "entry": "a", "nodes": {"a": {"next": "END"}}}
    assert parse(seed) == parse(canonical)
    assert parse(seed) != parse({**canonical, "max_steps": 5})


def test_spec_built_in_python(tools: ToolRegistry) -> None:
    spec = GraphSpec(
        name="py",
        nodes={
            "a": NodeSpec(tool="add", next=IfSpec(condition="n < 2", if_true="a", if_false="b")),
            "b": NodeSpec(tool="anything", final=True),
        },
    )
    graph = spec.to_graph(tools=tools)
    assert graph.compile().invoke({}).state == {"n": 2}
    assert dump(graph)["nodes"]["a"]["next"] == [{"when": "n < 2", "to": "a"}, {"to": "b"}]
