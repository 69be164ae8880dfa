from __future__ import annotations

from typing import Any

import pytest

from graphrun.agents.code_review.issues import (
    count_by_severity,
    detect_issues,
    from_ruff,
    severity_of,
)

from ._corpus import located, snippet

KEYS = {
    "rule",
    "name",
    "message",
    "line",
    "column",
    "end_line",
    "end_column",
    "severity",
    "auto_fixable",
    "fix",
    "source",
    "function",
}


def test_corpus_findings(case: tuple[str, str, dict[str, Any]]) -> None:
    _, code, expected = case
    issues = detect_issues(code)
    assert located(issues) == expected["issues"]
    for issue in issues:
        assert set(issue) >= KEYS
        assert issue["severity"] in ("error", "warning", "info")


def test_seed_000_sample_gives_the_print_the_todo_and_the_docstring() -> None:
    issues = {
        i["rule"]: i for i in detect_issues("def foo():\n    print('debug')\n    # TODO: fix")
    }
    assert issues["T201"]["severity"] == "warning"
    assert issues["T201"]["auto_fixable"] is True
    assert issues["T201"]["function"] == "foo"
    assert issues["FIX002"]["severity"] == "info"
    assert issues["FIX002"]["auto_fixable"] is False
    assert issues["GR104"]["source"] == "ast"
    assert issues["W292"]["auto_fixable"] is True


def test_seed_004_sample_suggests_sum_and_a_docstring() -> None:
    code = (
        "\ndef calculate_total(items):\n    total = 0\n    for item in items:\n"
        "        total = total + item\n    return total\n"
    )
    issues = detect_issues(code)
    assert [i["rule"] for i in issues] == ["GR104", "GR106"]
    assert "`total += sum(items)`" in issues[1]["message"]
    assert {i["function"] for i in issues} == {"calculate_total"}


def test_severities_and_fixability_of_typical_findings() -> None:
    issues = {i["rule"]: i for i in detect_issues(snippet("debug_prints"))}
    assert issues["T100"]["severity"] == "error"
    assert issues["T100"]["auto_fixable"] is False
    assert issues["T203"]["auto_fixable"] is True  # unsafe in ruff, allow-listed here
    mutable = {i["rule"]: i for i in detect_issues(snippet("mutable_defaults"))}
    assert mutable["B006"]["severity"] == "warning"
    assert mutable["B006"]["auto_fixable"] is False  # unsafe and not allow-listed
    assert mutable["B006"]["fix"] == "Replace with `None`; initialize within function"


def test_issues_name_their_enclosing_function() -> None:
    issues = detect_issues(snippet("bare_except"))
    assert [(i["rule"], i["function"]) for i in issues] == [
        ("E722", "parse_price"),
        ("SIM105", "cleanup"),
        ("S110", "cleanup"),
    ]
    module_level = detect_issues("import os\n")
    assert module_level[0]["function"] is None


def test_a_syntax_error_is_one_issue_located_by_the_parser() -> None:
    issues = detect_issues(snippet("syntax_error"))
    [syntax] = [i for i in issues if i["rule"] == "E999"]
    assert (syntax["line"], syntax["column"]) == (3, 22)
    assert syntax["severity"] == "error"
    assert syntax["message"] == "SyntaxError: expected ':'"
    assert not any(i["rule"] in ("invalid-syntax", "None") for i in issues)


@pytest.mark.parametrize(
    ("rule", "severity"),
    [
        ("F821", "error"),
        ("F401", "warning"),
        ("E722", "warning"),
        ("E501", "info"),
        ("W605", "warning"),
        ("W291", "info"),
        ("S307", "error"),
        ("S105", "warning"),
        ("T100", "error"),
        ("FIX002", "info"),
        ("N802", "info"),
        ("XYZ1", "warning"),
    ],
)
def test_severity_by_longest_prefix(rule: str, severity: str) -> None:
    assert severity_of(rule) == severity


def test_ruff_findings_keep_position_fix_and_url() -> None:
    issue = from_ruff(
        {
            "code": "F401",
            "name": "unused-import",
            "message": "`os` imported but unused",
            "location": {"row": 3, "column": 8},
            "end_location": {"row": 3, "column": 10},
            "fix": {"applicability": "display-only", "message": "Remove it"},
            "url": "https://docs.astral.sh/ruff/rules/unused-import",
        }
    )
    assert (issue["line"], issue["column"], issue["end_line"], issue["end_column"]) == (
        3,
        8,
        3,
        10,
    )
    assert issue["auto_fixable"] is False  # display-only fixes are never applied
    assert issue["fix"] == "Remove it"
    assert issue["url"].endswith("unused-import")


def test_count_by_severity() -> None:
    issues = detect_issues(snippet("debug_prints"))
    assert count_by_severity(issues) == {"error": 1, "warning": 3, "info": 0}
