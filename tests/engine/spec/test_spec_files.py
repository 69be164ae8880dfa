"""Specs kept in files (YAML, JSON) and in strings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from graphrun.engine import END, Graph, GraphSpecError, RunStatus, ToolRegistry
from graphrun.engine.spec import dump, dumps, load, loads, read_file

LOOP_YAML = """\
name: loop
reducers:
  marks: append
nodes:
  inc:
    tool: add
    args: {key: n}
    next: check
  check:
    tool: mark
    next:
      - when: n < 3
        to: inc
      - to: end
"""


def only_problem(exc: pytest.ExceptionInfo[GraphSpecError]) -> tuple[str, str]:
    (problem,) = exc.value.problems
    return problem.location, problem.message


def test_yaml_file(tmp_path: Path, tools: ToolRegistry) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text(LOOP_YAML, encoding="utf-8")
    for source in (path, str(path)):
        result = load(source, tools=tools).compile().invoke({"n": 0})
        assert result.status == RunStatus.COMPLETED
        assert result.state == {"n": 3, "marks": ["check"] * 3}


def test_yml_and_json_files_give_the_same_graph(tmp_path: Path, tools: ToolRegistry) -> None:
    reference = dump(loads(LOOP_YAML, tools=tools))
    yml = tmp_path / "loop.yml"
    yml.write_text(LOOP_YAML, encoding="utf-8")
    js = tmp_path / "loop.JSON"
    js.write_text(json.dumps(reference), encoding="utf-8")
    assert dump(load(yml, tools=tools)) == reference
    assert dump(load(js, tools=tools)) == reference


def test_dumps_writes_files_that_load_back(tmp_path: Path, tools: ToolRegistry) -> None:
    g = Graph("written", tools=tools, description="déjà vu")
    g.add_node("a", tool="mark", args={"label": "ünïcode"}, retry=2, cache=True)
    g.add_edge("a", END)
    for fmt in ("yaml", "json"):
        path = tmp_path / f"g.{fmt}"
        path.write_text(dumps(g, format=fmt), encoding="utf-8")
        assert dump(load(path, tools=tools)) == dump(g)
    assert "ünïcode" in (tmp_path / "g.yaml").read_text(encoding="utf-8")


def test_json_text(tools: ToolRegistry) -> None:
    text = json.dumps({"name": "j", "nodes": {"a": {"tool": "add", "next": None}}})
    graph = loads(text, format="json", tools=tools)
    assert graph.compile().invoke({}).state == {"n": 1}


def test_errors_in_a_file_name_their_paths(tmp_path: Path, tools: ToolRegistry) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(LOOP_YAML.replace("to: inc", "to: incr"), encoding="utf-8")
    with pytest.raises(GraphSpecError) as exc:
        load(path, tools=tools)
    assert only_problem(exc) == (
        "nodes.check.next[0].to",
        "unknown node 'incr' (did you mean 'inc'?)",
    )


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.yaml", "name: x\nnodes: {a: [}\n", "invalid YAML at line 2, column"),
        ("bad.json", '{"name": "x",\n "nodes": }', "invalid JSON at line 2, column 11"),
        ("list.yaml", "- a\n- b\n", "a graph spec must be an object, got a list"),
        ("empty.yml", "", "a graph spec must be an object, got nothing (null)"),
        ("spec.toml", "name = 'x'", "unknown spec file type '.toml'"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GraphSpecError) as exc:
        load(path)
    location, found = only_problem(exc)
    assert location == ""
    assert message in found


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GraphSpecError) as exc:
        load(tmp_path / "nope.yaml")
    location, message = only_problem(exc)
    assert location == ""
    assert "cannot read" in message and "nope.yaml" in message


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(GraphSpecError, match="cannot read"):
        read_file(path)


def test_deeply_nested_json_is_refused_cleanly() -> None:
    text = "[" * 100_000 + "]" * 100_000
    with pytest.raises(GraphSpecError) as exc:
        loads(text, format="json")
    assert "nested too deeply" in only_problem(exc)[1]


def test_yaml_aliases_and_tags_do_not_build_objects() -> None:
    with pytest.raises(GraphSpecError) as exc:
        loads("name: !!python/object/apply:os.system ['true']\nnodes: {}\n")
    assert "invalid YAML" in only_problem(exc)[1]


def test_unknown_text_format() -> None:
    with pytest.raises(ValueError, match="unknown spec format 'toml'"):
        loads("x", format="toml")


def test_read_file_returns_the_document(tmp_path: Path) -> None:
    path = tmp_path / "doc.yaml"
    path.write_text(LOOP_YAML, encoding="utf-8")
    data: Any = read_file(path)
    assert data["nodes"]["check"]["next"][1] == {"to": "end"}


def test_yaml_aliases_may_not_expand_without_bound() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    with pytest.raises(GraphSpecError) as exc:
        loads("\n".join(lines))
    assert "expands to more than 1,000,000 items" in only_problem(exc)[1]


def test_yaml_aliases_within_bounds_are_fine(tools: ToolRegistry) -> None:
    text = """
name: shared
defaults:
  retry: &retry {max_attempts: 2, initial_delay: 0}
nodes:
  a: {tool: add, retry: *retry, next: b}
  b: {tool: add, retry: *retry, next: END}
"""
    graph = loads(text, tools=tools)
    assert graph.nodes["a"].retry == graph.nodes["b"].retry == graph.defaults.retry
