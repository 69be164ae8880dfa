"""The shipped graph spec, run end to end through the spec loader with the real tools."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from graphrun.agents.code_review import (
    GRAPH_ALIASES,
    GRAPH_ID,
    GRAPH_PATH,
    MAX_CODE_BYTES,
    load_graph,
    load_spec,
    review,
)
from graphrun.engine import END, Executor, MemoryEventSink, RunStatus
from graphrun.engine.events import EventType
from graphrun.engine.spec import load
from tests.review_specs import CALCULATE_TOTAL as SEED_004_CODE
from tests.review_specs import DEBUG_CODE as SEED_000_CODE
from tests.review_specs import EDGE_MAP_REVIEW as SEED_003_GRAPH
from tests.review_specs import next_map_review

from ._corpus import snippet

SEED_004_GRAPH = next_map_review()

STEPS_PER_PASS = 5  # check_complexity .. evaluate_quality


def test_the_spec_file_is_in_the_package_and_loads() -> None:
    assert GRAPH_PATH.name == "graph.yaml"
    assert GRAPH_ID == "code_review"
    assert "code_review_agent" in GRAPH_ALIASES
    data = load_spec()
    assert data["name"] == GRAPH_ID
    graph = load(GRAPH_PATH)
    assert list(graph.nodes) == [
        "extract_functions",
        "check_complexity",
        "detect_issues",
        "suggest_improvements",
        "apply_fixes",
        "evaluate_quality",
    ]
    assert graph.entry == "extract_functions"
    compiled = load_graph().compile()
    branches = compiled.nodes["evaluate_quality"].branches
    assert [(b.target, b.when.source if b.when else None) for b in branches] == [
        ("check_complexity", "not stop_reason"),
        (END, None),
    ]


def test_unused_import_and_debug_print_are_gone_and_the_score_rose() -> None:
    result = review(snippet("unused_import_and_print"))
    assert result.status is RunStatus.COMPLETED
    state = result.state
    assert "import os" not in state["improved_code"]
    assert "print(" not in state["improved_code"]
    assert state["code"] == snippet("unused_import_and_print")  # the original is kept
    first, last = state["score_history"][0], state["score_history"][-1]
    assert last > first
    assert state["quality_score"] == last
    assert "-import os\n" in state["diff"]
    assert '-    print("greeting", name)\n' in state["diff"]
    for key in (
        "functions",
        "complexity",
        "issues",
        "suggestions",
        "quality_score",
        "score_history",
        "improved_code",
        "diff",
        "iteration",
        "stop_reason",
    ):
        assert key in state, key


def test_seed_000_sample_is_reviewed_and_improved() -> None:
    state = review(SEED_000_CODE).state
    assert [f["qualname"] for f in state["functions"]] == ["foo"]
    assert "print(" not in state["improved_code"]
    assert "# TODO: fix" in state["improved_code"]  # a TODO needs a person
    assert state["score_history"][0] < state["score_history"][-1]
    assert {i["rule"] for i in state["issues"]} == {"GR104", "FIX002"}


def test_stops_when_the_threshold_is_reached() -> None:
    result = review(snippet("clean"))
    state = result.state
    assert state["stop_reason"] == "quality_threshold_reached"
    assert state["iteration"] == 1
    assert state["score_history"] == [1.0]
    assert result.step == 1 + STEPS_PER_PASS


def test_stops_when_a_pass_changes_nothing() -> None:
    result = review(snippet("debug_prints"))
    state = result.state
    # Pass 1 removes the prints; pass 2 finds only the breakpoint, which no fix removes.
    assert state["stop_reason"] == "no_changes"
    assert state["iteration"] == 2
    assert state["score_history"][0] < state["score_history"][1] < 0.9
    assert [e["changed"] for e in state["fix_history"]] == [True, False]
    assert [i["rule"] for i in state["issues"]] == ["T100"]
    assert result.step == 1 + 2 * STEPS_PER_PASS


def test_stops_at_max_iterations() -> None:
    result = review(snippet("debug_prints"), max_iterations=1)
    state = result.state
    assert state["stop_reason"] == "max_iterations_reached"
    assert state["iteration"] == 1
    assert "print(" not in state["improved_code"]  # the one pass still fixed
    assert result.step == 1 + STEPS_PER_PASS


def test_stops_on_a_syntax_error_without_failing_the_run() -> None:
    result = review(snippet("syntax_error"))
    assert result.status is RunStatus.COMPLETED
    state = result.state
    assert state["stop_reason"] == "syntax_error"
    assert state["quality_score"] == 0.0
    assert state["improved_code"] == snippet("syntax_error")
    assert (state["syntax_error"]["line"], state["syntax_error"]["column"]) == (3, 22)


def test_raw_code_and_a_percentage_threshold_are_accepted() -> None:
    result = load_graph().compile().invoke({"raw_code": snippet("todos"), "quality_threshold": 95})
    state = result.state
    assert state["code"] == snippet("todos")
    assert state["quality_threshold"] == pytest.approx(0.95)
    assert state["stop_reason"] == "no_changes"  # 0.948 < 0.95 and nothing to fix


def test_oversized_code_fails_the_run_with_the_limit_in_the_message() -> None:
    result = review("#" * (MAX_CODE_BYTES + 1))
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "at most 200,000 bytes" in result.error["message"]


def test_submitted_code_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    code = textwrap.dedent(
        f"""
        import os
        open({str(marker)!r}, "w").write("executed")
        def f():
            print("side effect")
        f()
        """
    )
    result = review(code)
    assert result.status is RunStatus.COMPLETED
    assert not marker.exists()


async def test_the_tools_log_each_pass_to_the_event_stream() -> None:
    sink = MemoryEventSink()
    compiled = load_graph().compile()
    await Executor(compiled, sink=sink).start({"code": snippet("unused_import_and_print")})
    logs = [(e.node, e.data["message"]) for e in sink.events if e.type is EventType.LOG]
    nodes = {node for node, _ in logs}
    assert {"extract_functions", "detect_issues", "apply_fixes", "evaluate_quality"} <= nodes
    quality = [m for node, m in logs if node == "evaluate_quality"]
    assert quality[0].startswith("pass 1: quality 0.891")
    assert quality[-1].startswith("pass 2: quality 1.000")


def test_seed_003_graph_runs_with_the_real_tools() -> None:
    state = {"code": "def foo():\n    pass\n\ndef bar(x):\n    return x", "quality_threshold": 75}
    result = load(SEED_003_GRAPH).compile().invoke(state)
    assert result.status is RunStatus.COMPLETED
    assert result.state["quality_threshold"] == pytest.approx(0.75)
    assert result.state["stop_reason"] == "quality_threshold_reached"
    assert result.state["iteration"] == 1


def test_seed_003_graph_ends_after_one_pass_when_nothing_can_change_the_code() -> None:
    # Below the threshold, but the graph has no fixing step: looping would repeat itself.
    state = {"code": snippet("deep_nesting"), "quality_threshold": 95}
    result = load(SEED_003_GRAPH).compile().invoke(state)
    assert result.status is RunStatus.COMPLETED
    assert result.state["quality_score"] < 0.95
    assert result.state["iteration"] == 1
    assert result.state["stop_reason"] == "no_changes"


def test_seed_004_graph_runs_with_the_real_tools_and_ends_by_iteration() -> None:
    state = {"code": SEED_004_CODE, "quality_score": 0, "iteration": 0}
    result = load(SEED_004_GRAPH).compile().invoke(state)
    assert result.status is RunStatus.COMPLETED
    final = result.state
    # The 0..1 score never meets the seed's `quality_score >= 7`: `iteration >= 5` ends it.
    assert final["iteration"] == 5
    assert len(final["score_history"]) == 5
    assert len(set(final["score_history"])) == 1  # no fixing step, so the same code
    assert [i["rule"] for i in final["issues"]] == ["GR104", "GR106"]


def test_the_entry_point_lets_a_fresh_process_find_the_tools() -> None:
    assert "code_review" in {ep.name for ep in entry_points(group="graphrun.tools")}
    script = textwrap.dedent(
        """
        import json, sys
        from graphrun.engine.spec import load
        graph = load(json.loads(sys.argv[1])).compile()
        assert "graphrun.agents.code_review" in sys.modules
        print(graph.invoke({"code": "x = 1\\n"}).state["iteration"])
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(SEED_004_GRAPH)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "5"


def test_pathologically_deep_code_completes_with_a_reported_issue() -> None:
    code = 'def f():\n    """Doc."""\n    return ' + "-" * 1000 + "1\n"
    result = review(code)
    assert result.status is RunStatus.COMPLETED
    assert result.state["stop_reason"] == "syntax_error"
    assert result.state["syntax_error"]["name"] == "too-deeply-nested"
