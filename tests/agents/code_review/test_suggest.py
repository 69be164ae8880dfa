from __future__ import annotations

from typing import Any

from graphrun.agents.code_review.complexity import analyse_complexity
from graphrun.agents.code_review.extract import extract_functions
from graphrun.agents.code_review.issues import detect_issues
from graphrun.agents.code_review.suggest import (
    MODULE,
    TEMPLATES,
    suggest_improvements,
    suggestion_for,
)

from ._corpus import snippet


def suggestions(code: str) -> list[dict[str, Any]]:
    return suggest_improvements(
        detect_issues(code), extract_functions(code)["functions"], analyse_complexity(code)
    )


def test_every_corpus_issue_gets_one_located_suggestion(
    case: tuple[str, str, dict[str, Any]],
) -> None:
    _, code, expected = case
    groups = suggestions(code)
    items = [item for group in groups for item in group["items"]]
    assert sorted(f"{i['rule']}:{i['line']}" for i in items) == sorted(expected["issues"])
    for item in items:
        assert item["suggestion"]
        assert str(item["line"]) in item["suggestion"] or "`" in item["suggestion"]


def test_suggestions_are_grouped_by_function_with_module_level_first() -> None:
    groups = suggestions(snippet("unused_imports"))
    assert [g["function"] for g in groups] == [MODULE, "count_words"]
    assert groups[0]["line"] is None
    assert [i["rule"] for i in groups[0]["items"]] == ["F401", "F401", "F401", "UP035"]
    assert (groups[1]["line"], groups[1]["end_line"]) == (10, 16)
    assert groups[1]["items"][0]["rule"] == "UP006"


def test_seed_000_sample_suggestions_are_concrete() -> None:
    [group] = suggestions("def foo():\n    print('debug')\n    # TODO: fix")
    assert group["function"] == "foo"
    texts = {i["rule"]: i["suggestion"] for i in group["items"]}
    assert texts["T201"].startswith("Remove the debug print on line 2")
    assert texts["FIX002"] == "Resolve the TODO on line 3 or track it as an issue."
    assert texts["GR104"].startswith("Add a docstring to `foo`")


def test_templates_use_the_issue_details() -> None:
    issues = {i["rule"]: i for i in detect_issues(snippet("deep_nesting"))}
    text = suggestion_for(issues["C901"])
    assert text.startswith("Split `route_order` into smaller functions (complexity 15, limit 10)")
    unused = {i["rule"]: i for i in detect_issues(snippet("risky_calls"))}
    assert suggestion_for(unused["F841"]) == (
        "Remove the unused variable `unused` on line 14, or use the value."
    )
    naming = detect_issues(snippet("naming"))
    assert suggestion_for(naming[0]).startswith("Rename to follow PEP 8 naming on line 4")


def test_rules_without_a_template_fall_back_to_ruffs_fix_then_the_message() -> None:
    assert "W291" not in TEMPLATES
    with_fix = {"rule": "W291", "line": 3, "message": "Trailing whitespace", "fix": "Remove it"}
    assert suggestion_for(with_fix) == "Remove it (line 3)."
    without = {"rule": "ZZZ1", "line": 4, "message": "Something odd", "fix": None}
    assert suggestion_for(without) == "Address ZZZ1 on line 4: Something odd."


def test_a_poorly_maintainable_module_gets_a_module_suggestion() -> None:
    groups = suggest_improvements(
        [], [], {"maintainability_rank": "C", "maintainability_index": 7.5}
    )
    [group] = groups
    assert group["function"] == MODULE
    [item] = group["items"]
    assert item["rule"] == "MI"
    assert item["severity"] == "warning"
    assert "7.5" in item["issue"]
    assert suggest_improvements([], [], {"maintainability_rank": "A"}) == []
