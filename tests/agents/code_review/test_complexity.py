from __future__ import annotations

from typing import Any

import pytest

from graphrun.agents.code_review.complexity import (
    analyse_complexity,
    complexity_score,
    function_score,
)

from ._corpus import snippet


def test_corpus_complexity_per_function(case: tuple[str, str, dict[str, Any]]) -> None:
    _, code, expected = case
    result = analyse_complexity(code)
    assert {r["qualname"]: r["complexity"] for r in result["functions"]} == expected["complexity"]


def test_ranks_maintainability_and_score_of_a_tangled_function() -> None:
    result = analyse_complexity(snippet("deep_nesting"))
    [row] = result["functions"]
    assert row["rank"] == "C"  # 11..20
    assert result["max"] == 18
    assert result["average"] == 18.0
    assert 0 < result["maintainability_index"] < 100
    assert result["maintainability_rank"] == "A"
    assert result["score"] == pytest.approx(function_score(18))
    assert result["error"] is None


def test_simple_code_scores_one_and_a_module_without_functions_too() -> None:
    assert analyse_complexity(snippet("clean"))["score"] == 1.0
    empty = analyse_complexity("X = 1\n")
    assert empty["functions"] == []
    assert empty["score"] == 1.0
    assert empty["max"] == 0


def test_function_score_is_one_up_to_five_and_zero_from_thirty() -> None:
    assert function_score(1) == 1.0
    assert function_score(5) == 1.0
    assert function_score(10) == pytest.approx(0.8)
    assert function_score(30) == 0.0
    assert function_score(45) == 0.0


def test_the_worst_function_weighs_as_much_as_the_average() -> None:
    assert complexity_score([]) == 1.0
    # mean(1, 1, 1, 0) = 0.75, min = 0 -> 0.375
    assert complexity_score([1, 2, 3, 30]) == pytest.approx(0.375)


def test_unparsable_code_is_reported_not_measured() -> None:
    result = analyse_complexity(snippet("syntax_error"))
    assert result["score"] is None
    assert result["functions"] == []
    assert "does not parse (line 3)" in result["error"]
