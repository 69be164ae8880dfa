"""Each registered tool on its own: it must work whatever ran before it."""

from __future__ import annotations

from typing import Any

import pytest

import graphrun.agents.code_review  # noqa: F401 - registers the tools
from graphrun.agents.code_review.inputs import ReviewInputError
from graphrun.engine.conditions import default_conditions
from graphrun.engine.context import NodeContext
from graphrun.engine.events import Event
from graphrun.engine.tools import default_registry

from ._corpus import located, snippet

TOOLS = (
    "extract_functions",
    "check_complexity",
    "detect_issues",
    "suggest_improvements",
    "apply_fixes",
    "evaluate_quality",
)


def run(name: str, state: dict[str, Any], logs: list[Event] | None = None) -> dict[str, Any]:
    tool = default_registry.get(name)
    if not tool.takes_ctx:
        return dict(tool.fn(state))
    ctx = NodeContext(
        run_id="run",
        graph="test",
        step=1,
        node=name,
        attempt=1,
        tools=default_registry,
        emit=None if logs is None else logs.append,
    )
    return dict(tool.fn(state, ctx))


@pytest.mark.parametrize("name", TOOLS)
def test_tools_are_registered_as_threaded_tools_with_descriptions(name: str) -> None:
    tool = default_registry.get(name)
    assert tool.inline is False  # they run ruff in a subprocess
    assert tool.is_async is False
    assert tool.description


@pytest.mark.parametrize("name", TOOLS)
def test_every_tool_works_on_a_state_holding_only_the_code(name: str) -> None:
    update = run(name, {"code": snippet("debug_prints")})
    assert update


@pytest.mark.parametrize("name", TOOLS)
def test_every_tool_refuses_a_state_without_code(name: str) -> None:
    with pytest.raises(ReviewInputError, match="needs 'code'"):
        run(name, {"source": "x = 1"})


def test_extract_functions_normalizes_the_inputs() -> None:
    logs: list[Event] = []
    update = run(
        "extract_functions",
        {"raw_code": "def complex_function(): ... ", "quality_threshold": 75},
        logs,
    )
    assert update["code"] == "def complex_function(): ... "
    assert update["quality_threshold"] == pytest.approx(0.75)
    assert update["max_iterations"] == 5
    assert update["iteration"] == 0
    assert [f["qualname"] for f in update["functions"]] == ["complex_function"]
    assert update["syntax_error"] is None
    assert logs[0].data["message"] == "found 1 function(s)"


def test_extract_functions_reports_a_syntax_error_instead_of_failing() -> None:
    update = run("extract_functions", {"code": snippet("syntax_error")})
    assert update["functions"] == []
    assert (update["syntax_error"]["line"], update["syntax_error"]["column"]) == (3, 22)


def test_tools_analyse_the_improved_code_when_there_is_one() -> None:
    state = {"code": snippet("debug_prints"), "improved_code": snippet("clean")}
    assert run("detect_issues", state)["issues"] == []
    complexity = run("check_complexity", state)
    assert [r["qualname"] for r in complexity["complexity"]["functions"]] == [
        "Line.total",
        "cart_total",
    ]
    assert complexity["complexity_score"] == complexity["complexity"]["score"]


def test_detect_issues_counts_severities() -> None:
    update = run("detect_issues", {"code": snippet("debug_prints")})
    assert located(update["issues"]) == ["T201:9", "T203:10", "T100:17", "T201:20"]
    assert update["issue_counts"] == {"error": 1, "warning": 3, "info": 0}


def test_suggest_improvements_uses_the_issues_in_the_state() -> None:
    issue = {"rule": "ZZZ9", "line": 6, "column": 1, "message": "made up", "severity": "info"}
    update = run("suggest_improvements", {"code": snippet("debug_prints"), "issues": [issue]})
    [group] = update["suggestions"]
    assert group["function"] == "load_settings"
    assert group["items"][0]["suggestion"] == "Address ZZZ9 on line 6: made up."


def test_apply_fixes_keeps_the_original_and_a_diff_per_pass() -> None:
    original = snippet("unused_import_and_print")
    first = run("apply_fixes", {"code": original, "iteration": 0})
    assert "import os" not in first["improved_code"]
    [entry] = first["fix_history"]
    assert entry["pass"] == 1
    assert entry["changed"] is True
    assert entry["fixed"] == {"F401": 1, "T201": 1}
    assert entry["diff"] == first["diff"]
    second = run("apply_fixes", {"code": original, "iteration": 1, **first})
    assert second["improved_code"] == first["improved_code"]
    assert [e["pass"] for e in second["fix_history"]] == [1, 2]
    assert second["fix_history"][1]["changed"] is False
    assert second["fix_history"][1]["diff"] == ""
    # The cumulative diff still goes from the original to the latest version.
    assert second["diff"] == first["diff"]
    assert second["diff"].count("-import os") == 1


def test_evaluate_quality_counts_passes_and_extends_the_history() -> None:
    state: dict[str, Any] = {"code": snippet("todos"), "iteration": 2, "score_history": [0.5]}
    update = run("evaluate_quality", state)
    assert update["iteration"] == 3
    assert update["score_history"] == [0.5, update["quality_score"]]
    assert 0 < update["quality_score"] < 1
    assert update["quality"]["penalty"] == pytest.approx(0.09)  # three TODO-style markers


def test_evaluate_quality_records_why_the_loop_stops() -> None:
    clean = run("evaluate_quality", {"code": snippet("clean")})
    assert clean["stop_reason"] == "quality_threshold_reached"
    unfixable = run("evaluate_quality", {"code": snippet("mutable_defaults")})
    assert unfixable["stop_reason"] == "no_changes"
    changed = {
        "code": snippet("mutable_defaults"),
        "fix_history": [{"pass": 1, "changed": True}],
    }
    assert run("evaluate_quality", changed)["stop_reason"] is None
    last = {**changed, "max_iterations": 1}
    assert run("evaluate_quality", last)["stop_reason"] == "max_iterations_reached"
    broken = run("evaluate_quality", {"code": snippet("syntax_error")})
    assert broken["stop_reason"] == "syntax_error"
    assert broken["quality_score"] == 0.0


def test_quality_below_threshold_is_a_named_condition() -> None:
    cond = default_conditions.get("quality_below_threshold")
    state: dict[str, Any] = {
        "quality_score": 0.5,
        "quality_threshold": 0.9,
        "iteration": 1,
        "fix_history": [{"pass": 1, "changed": True}],
    }
    assert cond(state) is True
    assert cond({**state, "quality_score": 0.95}) is False
    # Without a fixing step nothing can change: another pass would be the same.
    assert cond({**state, "fix_history": []}) is False
