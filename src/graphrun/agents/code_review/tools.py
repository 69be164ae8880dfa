"""The code review tools and the ``quality_below_threshold`` condition, registered by name.

Each tool is a thin wrapper: it reads its inputs from the state (the latest version of the
code is ``improved_code`` once a fix pass ran, else ``code`` / ``raw_code``), calls a pure
analysis function and returns a state update. A tool computes for itself whatever an
earlier tool would have left in the state, so graphs may use any subset of them. Tools run
ruff in a subprocess, so they are ordinary (threaded) tools, not inline ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphrun.agents.code_review._parse import parse
from graphrun.agents.code_review.complexity import analyse_complexity
from graphrun.agents.code_review.extract import extract_functions, functions_in
from graphrun.agents.code_review.fixes import apply_fixes, unified_diff
from graphrun.agents.code_review.inputs import current_code, read_inputs
from graphrun.agents.code_review.issues import count_by_severity, detect_issues
from graphrun.agents.code_review.quality import (
    changed_in_pass,
    decide_stop,
    describe_stop,
    loop_should_continue,
    quality_score,
)
from graphrun.agents.code_review.suggest import suggest_improvements
from graphrun.engine.conditions import condition
from graphrun.engine.context import NodeContext
from graphrun.engine.tools import tool


def _issues(state: Mapping[str, Any], code: str, filename: str) -> list[dict[str, Any]]:
    issues = state.get("issues")
    if isinstance(issues, list):
        return issues
    return detect_issues(code, filename)


def _complexity(state: Mapping[str, Any], code: str) -> dict[str, Any]:
    complexity = state.get("complexity")
    if isinstance(complexity, dict):
        return complexity
    return analyse_complexity(code)


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


@tool("extract_functions")
def extract_functions_tool(state: Mapping[str, Any], ctx: NodeContext) -> dict[str, Any]:
    """List every function and method (name, span, parameters, decorators, docstring).

    Also normalizes the inputs: ``code`` (from ``raw_code`` if needed),
    ``quality_threshold`` (0..1; 75 means 0.75), ``max_iterations`` and ``iteration``.
    """
    inputs = read_inputs(state)
    result = extract_functions(current_code(state))
    error = result["syntax_error"]
    if error is not None:
        ctx.log(f"syntax error at line {error['line']}: {error['message']}", level="warning")
    else:
        ctx.log(f"found {len(result['functions'])} function(s)")
    return {
        "code": inputs.code,
        "quality_threshold": inputs.quality_threshold,
        "max_iterations": inputs.max_iterations,
        "iteration": inputs.iteration,
        "functions": result["functions"],
        "syntax_error": error,
    }


@tool("check_complexity")
def check_complexity_tool(state: Mapping[str, Any], ctx: NodeContext) -> dict[str, Any]:
    """Cyclomatic complexity and rank per function, maintainability index, and a 0..1 score."""
    complexity = analyse_complexity(current_code(state))
    if complexity["error"] is None:
        ctx.log(
            f"max complexity {complexity['max']}, maintainability "
            f"{complexity['maintainability_index']} ({complexity['maintainability_rank']})"
        )
    return {"complexity": complexity, "complexity_score": complexity["score"]}


@tool("detect_issues")
def detect_issues_tool(state: Mapping[str, Any], ctx: NodeContext) -> dict[str, Any]:
    """ruff's findings under a curated rule set plus AST smells, each with a severity."""
    inputs = read_inputs(state)
    issues = detect_issues(current_code(state), inputs.filename)
    counts = count_by_severity(issues)
    ctx.log(
        f"{len(issues)} issue(s): {counts['error']} error, {counts['warning']} warning, "
        f"{counts['info']} info"
    )
    return {"issues": issues, "issue_counts": counts}


@tool("suggest_improvements")
def suggest_improvements_tool(state: Mapping[str, Any]) -> dict[str, Any]:
    """A concrete, located suggestion per issue, grouped by function."""
    inputs = read_inputs(state)
    code = current_code(state)
    tree, _ = parse(code)
    functions = functions_in(tree, code) if tree is not None else []
    suggestions = suggest_improvements(
        _issues(state, code, inputs.filename), functions, state.get("complexity")
    )
    return {"suggestions": suggestions}


@tool("apply_fixes")
def apply_fixes_tool(state: Mapping[str, Any], ctx: NodeContext) -> dict[str, Any]:
    """Apply ruff's safe (and allow-listed) fixes and ruff format; keep a diff per pass."""
    inputs = read_inputs(state)
    code = current_code(state)
    result = apply_fixes(code, inputs.filename)
    entry = {
        "pass": inputs.iteration + 1,
        "changed": result["changed"],
        "fixed": result["fixed"],
        "formatted": result["formatted"],
        "diff": result["diff"],
        "skipped": result["skipped"],
    }
    if result["skipped"]:
        ctx.log(f"no fixes: {result['skipped']}", level="warning")
    else:
        fixed = sum(result["fixed"].values())
        ctx.log(f"fixed {fixed} finding(s); code {'changed' if result['changed'] else 'unchanged'}")
    return {
        "improved_code": result["code"],
        "diff": unified_diff(inputs.code, result["code"], inputs.filename),
        "fix_history": [*_list(state.get("fix_history")), entry],
    }


@tool("evaluate_quality")
def evaluate_quality_tool(state: Mapping[str, Any], ctx: NodeContext) -> dict[str, Any]:
    """Score the pass in 0..1, count it in ``iteration`` and decide whether to stop."""
    inputs = read_inputs(state)
    code = current_code(state)
    quality = quality_score(_issues(state, code, inputs.filename), _complexity(state, code))
    iteration = inputs.iteration + 1
    score = quality["score"]
    reason = decide_stop(
        score=score,
        threshold=inputs.quality_threshold,
        iteration=iteration,
        max_iterations=inputs.max_iterations,
        changed=changed_in_pass(state, iteration),
        syntax_error=quality["syntax_error"],
    )
    detail = describe_stop(
        reason,
        score=score,
        threshold=inputs.quality_threshold,
        iteration=iteration,
        max_iterations=inputs.max_iterations,
    )
    ctx.log(f"pass {iteration}: quality {score:.3f}; {detail}")
    return {
        "quality_score": score,
        "quality": quality,
        "score_history": [*_list(state.get("score_history")), score],
        "iteration": iteration,
        "stop_reason": reason,
        "stop_detail": detail,
    }


@condition("quality_below_threshold")
def quality_below_threshold(state: Mapping[str, Any]) -> bool:
    """Loop again: the score is below the threshold and another pass can change the code.

    False once the threshold is reached, the code does not parse, the last pass changed
    nothing (always the case in a graph without ``apply_fixes``) or ``max_iterations``
    passes ran.
    """
    return loop_should_continue(state)
