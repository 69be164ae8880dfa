from __future__ import annotations

import math
from typing import Any

import pytest

from graphrun.agents.code_review.inputs import ReviewInputError
from graphrun.agents.code_review.quality import (
    MAX_ITERATIONS,
    NO_CHANGES,
    SYNTAX_ERROR,
    THRESHOLD_REACHED,
    changed_in_pass,
    decide_stop,
    describe_stop,
    loop_should_continue,
    quality_score,
)


def issues(*severities: str) -> list[dict[str, Any]]:
    return [{"rule": "X1", "severity": s} for s in severities]


def test_the_documented_formula() -> None:
    complexity = {"score": 0.8, "maintainability_index": 25.0}
    result = quality_score(issues("error", "warning", "info"), complexity)
    penalty = 0.25 + 0.1 + 0.03
    expected = 0.6 * math.exp(-penalty) + 0.25 * 0.8 + 0.15 * 0.5
    assert result["score"] == pytest.approx(round(expected, 3))
    assert result["penalty"] == pytest.approx(penalty)
    assert result["maintainability"] == pytest.approx(0.5)
    assert result["syntax_error"] is False


def test_clean_code_scores_one_and_each_finding_lowers_the_score() -> None:
    perfect = {"score": 1.0, "maintainability_index": 80.0}
    assert quality_score([], perfect)["score"] == 1.0
    scores = [quality_score(issues(*["info"] * n), perfect)["score"] for n in range(4)]
    assert scores == sorted(scores, reverse=True)
    assert len(set(scores)) == 4
    warning = quality_score(issues("warning"), perfect)["score"]
    error = quality_score(issues("error"), perfect)["score"]
    assert error < warning < scores[1]


def test_unknown_complexity_counts_as_neutral_and_a_syntax_error_scores_zero() -> None:
    assert quality_score([], None)["score"] == 1.0
    broken = quality_score([{"rule": "E999", "severity": "error"}], None)
    assert broken["score"] == 0.0
    assert broken["syntax_error"] is True


def decide(**overrides: Any) -> str | None:
    args: dict[str, Any] = {
        "score": 0.5,
        "threshold": 0.9,
        "iteration": 1,
        "max_iterations": 5,
        "changed": True,
        "syntax_error": False,
    }
    args.update(overrides)
    return decide_stop(**args)


def test_each_stop_reason_and_their_order() -> None:
    assert decide() is None
    assert decide(score=0.9) == THRESHOLD_REACHED
    assert decide(score=0.95, changed=False, iteration=5) == THRESHOLD_REACHED
    assert decide(syntax_error=True, changed=False) == SYNTAX_ERROR
    assert decide(changed=False) == NO_CHANGES
    assert decide(changed=False, iteration=5) == NO_CHANGES
    assert decide(iteration=5) == MAX_ITERATIONS
    assert decide(iteration=4) is None


def test_stop_descriptions_name_the_numbers() -> None:
    numbers = {"score": 0.91, "threshold": 0.9, "iteration": 2, "max_iterations": 5}
    assert describe_stop(THRESHOLD_REACHED, **numbers) == (
        "the score 0.910 reached the threshold 0.90"
    )
    assert describe_stop(MAX_ITERATIONS, **numbers) == "2 passes reached max_iterations (5)"
    assert describe_stop(NO_CHANGES, **numbers).startswith("pass 2 changed nothing")
    assert "another pass follows" in describe_stop(None, **numbers)


def test_changed_in_pass_reads_the_fix_history() -> None:
    history = [{"pass": 1, "changed": True}, {"pass": 2, "changed": False}]
    assert changed_in_pass({"fix_history": history[:1]}, 1) is True
    assert changed_in_pass({"fix_history": history}, 2) is False
    # A fix from an earlier pass does not count for this one.
    assert changed_in_pass({"fix_history": history[:1]}, 2) is False
    assert changed_in_pass({}, 1) is False


def test_loop_should_continue_remakes_the_decision_from_the_state() -> None:
    state: dict[str, Any] = {
        "quality_score": 0.5,
        "quality_threshold": 75,
        "iteration": 1,
        "max_iterations": 3,
        "fix_history": [{"pass": 1, "changed": True}],
    }
    assert loop_should_continue(state) is True
    assert loop_should_continue({**state, "quality_score": 0.8}) is False
    assert loop_should_continue({**state, "fix_history": []}) is False
    assert (
        loop_should_continue(
            {**state, "iteration": 3, "fix_history": [{"pass": 3, "changed": True}]}
        )
        is False
    )
    assert loop_should_continue({**state, "quality": {"syntax_error": True}}) is False
    with pytest.raises(ReviewInputError, match="evaluate_quality must run first"):
        loop_should_continue({"iteration": 1})
