"""Private tool and condition registries for the spec tests.

``tools`` here overrides the engine tests' fixture of that name: the spec tests need the
fake seed tools, and one registry for the whole session (hypothesis tests use it).

The fake tools carry the seeds' tool names and do just enough for the seeds' loops to
run and end: each records itself in ``trail``; ``detect_issues`` counts iterations and
``evaluate_quality`` scores ``3 * iteration`` (out of 10).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

import pytest

from graphrun.engine import ConditionRegistry, ToolRegistry


def _trail(state: Mapping[str, Any], name: str) -> list[str]:
    return [*state.get("trail", []), name]


def _code(state: Mapping[str, Any]) -> str:
    data = state.get("data")
    if isinstance(data, Mapping) and "code" in data:
        return str(data["code"])
    return str(state.get("code", ""))


def extract_functions(state: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "functions": re.findall(r"def (\w+)", _code(state)),
        "trail": _trail(state, "extract_functions"),
    }


def check_complexity(state: Mapping[str, Any], threshold: int = 10) -> dict[str, Any]:
    return {
        "complexity": dict.fromkeys(state.get("functions", []), 1),
        "complexity_threshold": threshold,
        "trail": _trail(state, "check_complexity"),
    }


def detect_issues(state: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "iteration": state.get("iteration", 0) + 1,
        "issues": [f"{name}: no docstring" for name in state.get("functions", [])],
        "trail": _trail(state, "detect_issues"),
    }


def suggest_improvements(state: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "suggestions": [f"fix {issue}" for issue in state.get("issues", [])],
        "trail": _trail(state, "suggest_improvements"),
    }


def evaluate_quality(state: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "quality_score": min(10, 3 * state.get("iteration", 0)),
        "trail": _trail(state, "evaluate_quality"),
    }


def mark(state: Mapping[str, Any], ctx: Any, label: str = "") -> dict[str, Any]:
    """Append ``label`` (default: the node's name) to ``marks`` (an append-reduced key)."""
    return {"marks": [label or ctx.node]}


def add(state: Mapping[str, Any], key: str = "n", by: int = 1) -> dict[str, Any]:
    return {key: state.get(key, 0) + by}


async def pause(state: Mapping[str, Any], seconds: float = 0.0) -> None:
    await asyncio.sleep(seconds)


def flaky(state: Mapping[str, Any], ctx: Any, fails: int = 1) -> dict[str, Any]:
    """Raise ConnectionError on the first ``fails`` attempts, then succeed."""
    if ctx.attempt <= fails:
        raise ConnectionError(f"attempt {ctx.attempt} failed")
    return {"attempts": ctx.attempt}


def anything(state: Mapping[str, Any], **args: Any) -> None:
    return None


SEED_TOOLS = (
    extract_functions,
    check_complexity,
    detect_issues,
    suggest_improvements,
    evaluate_quality,
)


def make_tools() -> ToolRegistry:
    reg = ToolRegistry()
    reg._entry_points_loaded = True  # installed tool plugins play no part in these tests
    for fn in SEED_TOOLS:
        reg.add(fn)
    reg.add(mark, inline=True)
    reg.add(add, inline=True)
    reg.add(pause)
    reg.add(flaky)
    reg.add(anything, inline=True)
    return reg


def make_conditions() -> ConditionRegistry:
    conds = ConditionRegistry()
    conds.add(
        "quality_below_threshold",
        lambda state: state["quality_score"] * 10 < state["data"]["quality_threshold"],
    )
    return conds


@pytest.fixture(scope="session")
def tools() -> ToolRegistry:
    return make_tools()


@pytest.fixture(scope="session")
def conditions() -> ConditionRegistry:
    return make_conditions()
