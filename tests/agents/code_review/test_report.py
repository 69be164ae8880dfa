from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from graphrun.agents.code_review import review
from graphrun.agents.code_review.report import OUTPUT_KEYS, output_of, render_report

from ._corpus import snippet


def rendered(state: dict[str, Any], source: str = "shop.py") -> str:
    buffer = io.StringIO()
    render_report(state, Console(file=buffer, width=120, color_system=None), source=source)
    return buffer.getvalue()


def test_report_shows_scores_findings_by_function_and_the_diff() -> None:
    text = rendered(review(snippet("debug_prints")).state)
    assert "Code review of shop.py" in text
    assert "Quality 0.746 → 0.867  (threshold 0.90)" in text
    assert "2 passes; stopped: no_changes" in text
    assert "T201 ×2, T203 ×1" in text  # pass 1 fixed these
    assert "Findings of pass 2 (lines of the code as improved by pass 1)" in text
    assert "apply_discount  (lines 12-17)" in text
    assert "14:5 error   T100 Trace found: `breakpoint` used" in text
    assert "→ Remove the debugger call on line 14" in text
    assert "Diff of the improved code" in text
    assert '-    print("loaded", data)' in text


def test_report_of_clean_code_says_so() -> None:
    text = rendered(review(snippet("clean")).state)
    assert "1 pass; stopped: quality_threshold_reached" in text
    assert "No findings." in text
    assert "The code was not changed." in text
    assert "cart_total" in text  # the complexity table


def test_report_of_broken_code_shows_the_syntax_error() -> None:
    text = rendered(review(snippet("syntax_error")).state)
    assert "Syntax error at line 3, column 22: SyntaxError: expected ':'" in text
    assert "stopped: syntax_error" in text
    assert "Complexity" not in text  # nothing could be measured


def test_output_of_keeps_only_the_results() -> None:
    state = review(snippet("todos")).state
    out = output_of(state)
    assert tuple(out) == OUTPUT_KEYS
    assert "code" not in out
    assert out["stop_reason"] == state["stop_reason"]
