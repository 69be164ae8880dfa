from __future__ import annotations

import ast
from typing import Any

from graphrun.agents.code_review.complexity import analyse_complexity
from graphrun.agents.code_review.fixes import apply_fixes, unified_diff
from graphrun.agents.code_review.issues import detect_issues
from graphrun.agents.code_review.quality import quality_score

from ._corpus import snippet


def score(code: str) -> float:
    return float(quality_score(detect_issues(code), analyse_complexity(code))["score"])


def test_corpus_fixes(case: tuple[str, str, dict[str, Any]]) -> None:
    _, code, expected = case
    result = apply_fixes(code)
    assert result["fixed"] == expected["fixed"]
    assert result["changed"] is expected["changed"]
    if result["changed"]:
        ast.parse(result["code"])  # still valid Python
        assert result["diff"].startswith("--- a/snippet.py\n+++ b/snippet.py\n")
        remaining = {i["rule"] for i in detect_issues(result["code"])}
        assert not remaining & set(expected["fixed"])
    else:
        assert result["code"] == code
        assert result["diff"] == ""


def test_corpus_fixes_raise_the_score_where_they_remove_findings(
    case: tuple[str, str, dict[str, Any]],
) -> None:
    _, code, expected = case
    before, after = score(code), score(apply_fixes(code)["code"])
    if expected["improves"]:
        assert after > before
    else:
        assert after == before


def test_fixing_twice_changes_nothing_more(case: tuple[str, str, dict[str, Any]]) -> None:
    _, code, _ = case
    once = apply_fixes(code)["code"]
    again = apply_fixes(once)
    assert again["changed"] is False
    assert again["fixed"] == {}


def test_an_unused_import_and_a_debug_print_are_both_removed() -> None:
    result = apply_fixes(snippet("unused_import_and_print"))
    assert "import os" not in result["code"]
    assert "print(" not in result["code"]
    assert result["code"] == (
        'def greet(name):\n    """Return a greeting for ``name``."""\n'
        '    return f"Hello, {name}!"\n'
    )


def test_code_that_does_not_parse_is_left_alone_with_a_reason() -> None:
    code = snippet("syntax_error")
    result = apply_fixes(code)
    assert result["code"] == code
    assert result["changed"] is False
    assert result["skipped"] == (
        "the code does not parse (line 3, column 22); fix the syntax error first"
    )


def test_windows_line_endings_survive() -> None:
    result = apply_fixes("import os\r\ndef f():\r\n    return 1\r\n")
    assert result["code"] == "def f():\r\n    return 1\r\n"


def test_diff_marks_a_missing_final_newline_like_git() -> None:
    diff = unified_diff("a = 1\nb = 2", "a = 1\nb = 2\n", "x.py")
    assert diff == (
        "--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,2 @@\n a = 1\n-b = 2\n"
        "\\ No newline at end of file\n+b = 2\n"
    )
    assert unified_diff("same\n", "same\n") == ""
