"""The quality score and the decision to stop the review loop.

Score (0..1, higher is better), rounded to 3 decimals::

    penalty        = Σ over issues of SEVERITY_WEIGHTS[severity]   (error 0.25, warning 0.1,
                                                                     info 0.03)
    issues         = exp(-penalty)                 each warning costs about 10 %
    complexity     = the normalized complexity score (see ``complexity``), 1 if unknown
    maintainability = min(1, maintainability_index / 50), 1 if unknown
    quality        = 0.6 * issues + 0.25 * complexity + 0.15 * maintainability

Code that does not parse scores 0. Radon ranks a maintainability index above 19 as A;
full marks start at 50 so that index differences among reasonable modules still count a
little without outweighing the findings.

The loop stops, after a pass, for the first of these reasons that holds:

1. ``quality_threshold_reached``: the score is at least the threshold;
2. ``syntax_error``: the code does not parse, so no fix can apply;
3. ``no_changes``: the pass did not change the code (no fix applied, or no fixing step ran
   at all), so another pass would find the same issues and the same score;
4. ``max_iterations_reached``: ``iteration`` (passes so far) reached ``max_iterations``.

Otherwise ``stop_reason`` is None and the loop goes on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from graphrun.agents.code_review._parse import SYNTAX_RULE
from graphrun.agents.code_review.inputs import (
    ReviewInputError,
    normalize_max_iterations,
    normalize_threshold,
    read_iteration,
)

SEVERITY_WEIGHTS = {"error": 0.25, "warning": 0.1, "info": 0.03}
WEIGHTS = {"issues": 0.6, "complexity": 0.25, "maintainability": 0.15}
MI_FULL_MARKS = 50.0

THRESHOLD_REACHED = "quality_threshold_reached"
SYNTAX_ERROR = "syntax_error"
NO_CHANGES = "no_changes"
MAX_ITERATIONS = "max_iterations_reached"
STOP_REASONS = (THRESHOLD_REACHED, SYNTAX_ERROR, NO_CHANGES, MAX_ITERATIONS)


def quality_score(
    issues: list[dict[str, Any]], complexity: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The score and its parts: ``score``, ``issues``, ``complexity``, ``maintainability``,
    ``penalty`` and ``syntax_error``."""
    syntax_error = any(i.get("rule") == SYNTAX_RULE for i in issues)
    penalty = sum(SEVERITY_WEIGHTS.get(str(i.get("severity")), 0.1) for i in issues)
    issues_part = math.exp(-penalty)
    cx = complexity or {}
    cx_score = cx.get("score")
    complexity_part = float(cx_score) if isinstance(cx_score, int | float) else 1.0
    mi = cx.get("maintainability_index")
    mi_part = min(1.0, max(0.0, float(mi) / MI_FULL_MARKS)) if isinstance(mi, int | float) else 1.0
    score = (
        WEIGHTS["issues"] * issues_part
        + WEIGHTS["complexity"] * complexity_part
        + WEIGHTS["maintainability"] * mi_part
    )
    return {
        "score": 0.0 if syntax_error else round(score, 3),
        "issues": round(issues_part, 4),
        "complexity": round(complexity_part, 4),
        "maintainability": round(mi_part, 4),
        "penalty": round(penalty, 4),
        "syntax_error": syntax_error,
    }


def decide_stop(
    *,
    score: float,
    threshold: float,
    iteration: int,
    max_iterations: int,
    changed: bool,
    syntax_error: bool,
) -> str | None:
    """The reason to stop after a pass (see the module docstring), or None to go on."""
    if score >= threshold:
        return THRESHOLD_REACHED
    if syntax_error:
        return SYNTAX_ERROR
    if not changed:
        return NO_CHANGES
    if iteration >= max_iterations:
        return MAX_ITERATIONS
    return None


def describe_stop(
    reason: str | None, *, score: float, threshold: float, iteration: int, max_iterations: int
) -> str:
    """One sentence saying why the loop stopped (or that it goes on)."""
    if reason == THRESHOLD_REACHED:
        return f"the score {score:.3f} reached the threshold {threshold:.2f}"
    if reason == SYNTAX_ERROR:
        return "the code does not parse; fix the syntax error first"
    if reason == NO_CHANGES:
        return (
            f"pass {iteration} changed nothing: no automatic fix applies to the remaining "
            "findings, so another pass would give the same score"
        )
    if reason == MAX_ITERATIONS:
        return f"{iteration} passes reached max_iterations ({max_iterations})"
    return f"the score {score:.3f} is below the threshold {threshold:.2f}; another pass follows"


def changed_in_pass(state: Mapping[str, Any], pass_number: int) -> bool:
    """Whether a fixing step changed the code during pass ``pass_number``."""
    history = state.get("fix_history")
    if not isinstance(history, list) or not history:
        return False
    last = history[-1]
    return (
        isinstance(last, Mapping) and last.get("pass") == pass_number and bool(last.get("changed"))
    )


def loop_should_continue(state: Mapping[str, Any]) -> bool:
    """The stop decision re-made from a state that ``evaluate_quality`` has scored.

    True when the score is below the threshold, the code parses, the last pass changed it
    and fewer than ``max_iterations`` passes ran.
    """
    if "quality_score" not in state:
        raise ReviewInputError("quality_score is not set: evaluate_quality must run first")
    iteration = read_iteration(state)
    quality = state.get("quality")
    syntax_error = isinstance(quality, Mapping) and bool(quality.get("syntax_error"))
    reason = decide_stop(
        score=float(state["quality_score"]),
        threshold=normalize_threshold(state.get("quality_threshold")),
        iteration=iteration,
        max_iterations=normalize_max_iterations(state.get("max_iterations")),
        changed=changed_in_pass(state, iteration),
        syntax_error=syntax_error,
    )
    return reason is None
