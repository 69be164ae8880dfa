"""docs/graph-spec.md stays true: every spec in it loads (or fails exactly as shown), and
every example with a ``# run with:`` comment runs to the state its ``# ends with:`` gives."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from graphrun.engine import ConditionRegistry, GraphSpecError, RunStatus, ToolRegistry
from graphrun.engine import builtin_tools as builtins
from graphrun.engine.spec import load

DOC = Path(__file__).resolve().parents[3] / "docs" / "graph-spec.md"
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def blocks() -> list[tuple[str, str, str | None]]:
    """(language, text, the text of a following ``text`` block) for every spec block."""
    found = FENCE.findall(DOC.read_text(encoding="utf-8"))
    out = []
    for i, (lang, text) in enumerate(found):
        if lang not in ("yaml", "json"):
            continue
        data = yaml.safe_load(text)
        if not isinstance(data, dict) or "nodes" not in data:
            continue
        after = found[i + 1] if i + 1 < len(found) else None
        shown = after[1] if after and after[0] == "text" else None
        out.append((lang, text, shown))
    return out


def comment(text: str, key: str) -> Any:
    match = re.search(rf"^# {key}: (.*)$", text, re.MULTILINE)
    return json.loads(match.group(1)) if match else None


@pytest.fixture(scope="module")
def registry(tools: ToolRegistry) -> ToolRegistry:
    """The fake seed tools plus the built-in tools, in a private registry."""
    reg = ToolRegistry()
    for t in tools:
        reg.register(t)
    reg.add(builtins.noop, "noop", inline=True)
    reg.add(builtins.set_values, "set", inline=True)
    reg.add(builtins.increment, "increment", inline=True)
    reg.add(builtins.sleep, "sleep")
    reg.add(builtins.log, "log", inline=True)
    reg.add(builtins.fail, "fail", inline=True)
    return reg


SPECS = blocks()


def test_the_doc_has_its_examples() -> None:
    assert len(SPECS) >= 8
    assert sum(1 for _, text, _ in SPECS if comment(text, "run with") is not None) == 3
    assert sum(1 for _, _, shown in SPECS if shown) == 2


@pytest.mark.parametrize(("lang", "text", "shown"), SPECS)
def test_doc_spec(
    registry: ToolRegistry,
    conditions: ConditionRegistry,
    lang: str,
    text: str,
    shown: str | None,
) -> None:
    data = json.loads(text) if lang == "json" else yaml.safe_load(text)
    if shown is not None:
        with pytest.raises(GraphSpecError) as exc:
            load(data, tools=registry, conditions=conditions)
        assert str(exc.value) == shown.strip()
        return
    graph = load(data, tools=registry, conditions=conditions)
    state = comment(text, "run with")
    if state is not None:
        result = graph.compile().invoke(state)
        assert result.status == RunStatus.COMPLETED, result.message
        assert result.state == comment(text, "ends with")


def test_package_docstring_example() -> None:
    import doctest

    import graphrun.engine.spec as package

    result = doctest.testmod(package)
    assert result.attempted == 4
    assert result.failed == 0
