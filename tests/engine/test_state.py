"""Per-key reducers, merging a step's updates, and state schemas."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from graphrun.engine import Reducer, StateError
from graphrun.engine.state import StateSchema, check_update, merge_updates

APPEND, ADD, MERGE, REPLACE = Reducer.APPEND, Reducer.ADD, Reducer.MERGE, Reducer.REPLACE


def test_reducer_names() -> None:
    assert [r.value for r in Reducer] == ["replace", "append", "add", "merge"]


# -- one node's update --------------------------------------------------------------------


def test_replace_is_the_default() -> None:
    state: dict[str, Any] = {"a": 1, "b": 2}
    delta = merge_updates(state, [("n", {"a": 10, "c": 3})], {})
    assert state == {"a": 10, "b": 2, "c": 3}
    assert delta == {"a": 10, "c": 3}


@pytest.mark.parametrize(
    ("reducer", "old", "new", "expected"),
    [
        (APPEND, [1], [2, 3], [1, 2, 3]),
        (APPEND, [1], 2, [1, 2]),
        (APPEND, [1], {"k": 1}, [1, {"k": 1}]),
        (APPEND, None, 5, [5]),
        (APPEND, None, [5, 6], [5, 6]),
        (ADD, 1, 2, 3),
        (ADD, 1.5, 2, 3.5),
        (ADD, None, 4, 4),
        (ADD, [1], [2], [1, 2]),
        (ADD, "ab", "c", "abc"),
        (MERGE, {"a": 1, "b": 1}, {"b": 2, "c": 3}, {"a": 1, "b": 2, "c": 3}),
        (MERGE, None, {"a": 1}, {"a": 1}),
        (REPLACE, [1], [2], [2]),
    ],
)
def test_reducers(reducer: Reducer, old: Any, new: Any, expected: Any) -> None:
    state: dict[str, Any] = {} if old is None else {"k": old}
    delta = merge_updates(state, [("n", {"k": new})], {"k": reducer})
    assert state["k"] == expected
    assert delta == {"k": expected}


def test_reducers_do_not_mutate_the_old_value() -> None:
    items = [1]
    meta = {"a": 1}
    state: dict[str, Any] = {"items": items, "meta": meta}
    merge_updates(
        state, [("n", {"items": [2], "meta": {"b": 2}})], {"items": APPEND, "meta": MERGE}
    )
    assert items == [1] and meta == {"a": 1}  # a checkpointed delta may still refer to them


@pytest.mark.parametrize(
    ("reducer", "old", "new", "message"),
    [
        (APPEND, "abc", "d", "cannot append state key 'k'.*str"),
        (APPEND, {"a": 1}, "d", "cannot append state key 'k'.*dict"),
        (APPEND, 3, 4, "cannot append state key 'k'.*int"),
        (MERGE, {"a": 1}, [1], "cannot merge state key 'k'.*list"),
        (MERGE, [1], {"a": 1}, "cannot merge state key 'k'.*list"),
        (ADD, 1, "x", "cannot add state key 'k'"),
        (ADD, [1], 2, "cannot add state key 'k'"),
    ],
)
def test_reducer_type_errors_name_node_and_key(
    reducer: Reducer, old: Any, new: Any, message: str
) -> None:
    state = {"k": old, "other": 1}
    with pytest.raises(StateError, match=f"node 'writer': {message}"):
        merge_updates(state, [("writer", {"other": 2, "k": new})], {"k": reducer})
    assert state == {"k": old, "other": 1}, "a failed merge must leave the state as it was"


# -- a wave of parallel updates ------------------------------------------------------------


def test_parallel_writes_to_a_replace_key_name_both_nodes() -> None:
    state = {"x": 0, "y": 0}
    with pytest.raises(StateError, match="nodes 'left' and 'right' both wrote state key 'y'"):
        merge_updates(state, [("left", {"x": 1, "y": 1}), ("right", {"y": 2})], {})
    assert state == {"x": 0, "y": 0}, "a failed merge must leave the state as it was"


def test_parallel_writes_to_an_explicit_replace_key_conflict_too() -> None:
    with pytest.raises(StateError, match="'a' and 'b'"):
        merge_updates({}, [("a", {"k": 1}), ("b", {"k": 1})], {"k": REPLACE})


def test_parallel_writes_to_different_keys_merge() -> None:
    state: dict[str, Any] = {"keep": True}
    delta = merge_updates(state, [("a", {"x": 1}), ("b", {"y": 2}), ("c", {})], {})
    assert state == {"keep": True, "x": 1, "y": 2}
    assert delta == {"x": 1, "y": 2}


def test_parallel_writes_combine_through_reducers_in_the_given_order() -> None:
    state: dict[str, Any] = {"log": ["start"], "n": 1, "meta": {"a": 0}}
    reducers = {"log": APPEND, "n": ADD, "meta": MERGE}
    delta = merge_updates(
        state,
        [
            ("a", {"log": "a", "n": 10, "meta": {"a": 1, "b": 1}}),
            ("b", {"log": ["b1", "b2"], "n": 100, "meta": {"b": 2}}),
        ],
        reducers,
    )
    assert state == {"log": ["start", "a", "b1", "b2"], "n": 111, "meta": {"a": 1, "b": 2}}
    assert delta == state


def test_parallel_reducer_error_leaves_state_unchanged() -> None:
    state: dict[str, Any] = {"log": [], "n": 1}
    with pytest.raises(StateError, match="node 'b': cannot add state key 'n'"):
        merge_updates(
            state, [("a", {"log": [1], "n": 1}), ("b", {"n": "x"})], {"log": APPEND, "n": ADD}
        )
    assert state == {"log": [], "n": 1}


def test_empty_updates_give_an_empty_delta() -> None:
    state = {"a": 1}
    assert merge_updates(state, [], {}) == {}
    assert state == {"a": 1}


# -- node results ---------------------------------------------------------------------------


def test_check_update_accepts_dicts_and_none() -> None:
    assert check_update("n", None) is None
    assert check_update("n", {"a": 1}) == {"a": 1}


@pytest.mark.parametrize("bad", [1, "text", [("a", 1)], ("a",)])
def test_check_update_rejects_non_dicts_naming_the_node(bad: object) -> None:
    with pytest.raises(StateError, match=f"node 'n' returned {type(bad).__name__}; a node must"):
        check_update("n", bad)


def test_check_update_rejects_non_string_keys() -> None:
    with pytest.raises(StateError, match="node 'n' returned a non-string state key 1"):
        check_update("n", {1: "x"})


# -- schemas --------------------------------------------------------------------------------

JSON_SCHEMA = {
    "type": "object",
    "properties": {
        "count": {"type": "integer", "minimum": 0},
        "items": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["count"],
}


class Model(BaseModel):
    count: int
    items: list[str] = []


def test_json_schema_accepts_a_valid_state() -> None:
    schema = StateSchema(JSON_SCHEMA)
    assert schema.problems({"count": 1, "items": ["a"], "extra": 1}) == []
    schema.validate({"count": 0}, after="the input")
    assert schema.json_schema() == JSON_SCHEMA


def test_json_schema_reports_every_problem_with_its_path() -> None:
    schema = StateSchema(JSON_SCHEMA)
    problems = schema.problems({"count": -1, "items": ["a", 2]})
    assert len(problems) == 2
    assert any(p.startswith("count: ") and "minimum" in p for p in problems)
    assert any(p.startswith("items.1: ") and "string" in p for p in problems)
    assert schema.problems({}) == ["(root): 'count' is a required property"]


def test_validate_names_where_the_state_went_wrong() -> None:
    schema = StateSchema(JSON_SCHEMA)
    with pytest.raises(
        StateError, match=r"state after step 3 \(a, b\) breaks the state schema: count"
    ):
        schema.validate({"count": "x"}, after="step 3 (a, b)")


def test_pydantic_model_schema() -> None:
    schema = StateSchema(Model)
    assert schema.problems({"count": 2, "items": ["x"]}) == []
    problems = schema.problems({"count": "many", "items": [1]})
    assert [p.split(":")[0] for p in problems] == ["count", "items.0"]
    with pytest.raises(StateError, match="state after the input breaks the state schema"):
        schema.validate({}, after="the input")
    assert schema.json_schema()["required"] == ["count"]


def test_a_broken_json_schema_is_a_state_error_with_its_path() -> None:
    with pytest.raises(StateError, match=r"invalid state schema at properties\.count\.type"):
        StateSchema({"type": "object", "properties": {"count": {"type": "whole number"}}})


@pytest.mark.parametrize("bad", [42, "object", ["type"], int, None])
def test_a_schema_must_be_an_object_or_a_model(bad: Any) -> None:
    with pytest.raises(
        StateError, match="a state schema must be a JSON Schema object or a Pydantic"
    ):
        StateSchema(bad)


def test_an_unknown_meta_schema_is_rejected() -> None:
    with pytest.raises(StateError, match=r"unknown \$schema 'https://example\.com/s'"):
        StateSchema({"$schema": "https://example.com/s", "type": "object"})


def test_a_known_meta_schema_is_used() -> None:
    schema = StateSchema(
        {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "required": ["a"]}
    )
    assert schema.problems({}) == ["(root): 'a' is a required property"]
