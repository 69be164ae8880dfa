"""A readable report of a finished review, rendered with rich."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

SEVERITY_STYLES = {"error": "bold red", "warning": "yellow", "info": "cyan"}

OUTPUT_KEYS = (
    "functions",
    "complexity",
    "issues",
    "suggestions",
    "quality_score",
    "quality",
    "score_history",
    "improved_code",
    "diff",
    "fix_history",
    "iteration",
    "stop_reason",
    "stop_detail",
)
"""The state keys a review produces (``--json`` prints these)."""


def output_of(state: Mapping[str, Any]) -> dict[str, Any]:
    """The review's results from a final state, without the inputs."""
    return {key: state.get(key) for key in OUTPUT_KEYS}


def _score_style(score: float, threshold: float) -> str:
    return "bold green" if score >= threshold else "bold yellow"


def _summary(state: Mapping[str, Any], source: str) -> RenderableType:
    score = float(state.get("quality_score") or 0.0)
    threshold = float(state.get("quality_threshold") or 0.0)
    history = [float(s) for s in state.get("score_history") or []]
    text = Text()
    text.append("Quality ")
    if len(history) > 1:
        text.append(f"{history[0]:.3f} → ")
    text.append(f"{score:.3f}", style=_score_style(score, threshold))
    text.append(f"  (threshold {threshold:.2f})\n")
    passes = int(state.get("iteration") or 0)
    text.append(f"{passes} pass{'es' if passes != 1 else ''}; stopped: ")
    text.append(str(state.get("stop_reason") or "running"), style="bold")
    if state.get("stop_detail"):
        text.append(f" ({state['stop_detail']})")
    return Panel(text, title=Text(f"Code review of {source}", style="bold"), expand=False)


def _history_table(state: Mapping[str, Any]) -> RenderableType:
    table = Table(title="Score history", title_justify="left", show_edge=False)
    table.add_column("pass", justify="right")
    table.add_column("score", justify="right")
    table.add_column("fixed automatically")
    fixes = {
        entry.get("pass"): entry
        for entry in state.get("fix_history") or []
        if isinstance(entry, Mapping)
    }
    for number, score in enumerate(state.get("score_history") or [], start=1):
        entry = fixes.get(number) or {}
        fixed = entry.get("fixed") or {}
        note = ", ".join(f"{rule} ×{count}" for rule, count in fixed.items())
        if not note:
            note = "code reformatted" if entry.get("changed") else "nothing"
        if entry.get("skipped"):
            note = str(entry["skipped"])
        table.add_row(str(number), f"{float(score):.3f}", note)
    return table


def _findings(state: Mapping[str, Any]) -> RenderableType:
    groups = state.get("suggestions") or []
    passes = int(state.get("iteration") or 0)
    where = "the submitted code" if passes <= 1 else f"the code as improved by pass {passes - 1}"
    title = Text(f"Findings of pass {passes} (lines of {where}), by function", style="bold")
    if not groups:
        return Group(title, Text("  No findings.", style="green"))
    parts: list[RenderableType] = [title]
    for group in groups:
        header = Text("  ")
        header.append(str(group.get("function")), style="bold magenta")
        if group.get("line"):
            header.append(f"  (lines {group['line']}-{group.get('end_line')})", style="dim")
        parts.append(header)
        for item in group.get("items") or []:
            severity = str(item.get("severity", "warning"))
            line = Text()
            line.append(f"{item.get('line')}:{item.get('column')}", style="dim")
            line.append(f" {severity:<7} ", style=SEVERITY_STYLES.get(severity, ""))
            line.append(str(item.get("rule")), style="bold")
            line.append(f" {item.get('issue')}")
            if item.get("auto_fixable"):
                line.append("  [auto-fixable]", style="green")
            parts.append(Padding(line, (0, 0, 0, 4)))
            suggestion = Text(f"→ {item.get('suggestion')}", style="dim")
            parts.append(Padding(suggestion, (0, 0, 0, 6)))
    return Group(*parts)


def _complexity(state: Mapping[str, Any]) -> RenderableType | None:
    cx = state.get("complexity")
    if not isinstance(cx, Mapping) or cx.get("error"):
        return None
    table = Table(
        title=(
            f"Complexity (maintainability index {cx.get('maintainability_index')}, "
            f"rank {cx.get('maintainability_rank')})"
        ),
        title_justify="left",
        show_edge=False,
    )
    table.add_column("function")
    table.add_column("line", justify="right")
    table.add_column("complexity", justify="right")
    table.add_column("rank", justify="center")
    for row in cx.get("functions") or []:
        table.add_row(
            str(row.get("qualname")),
            str(row.get("line")),
            str(row.get("complexity")),
            str(row.get("rank")),
        )
    return table


def _diff(state: Mapping[str, Any]) -> RenderableType:
    diff = state.get("diff")
    if not diff:
        return Text("The code was not changed.", style="dim")
    return Group(
        Text("Diff of the improved code", style="bold"),
        Syntax(str(diff), "diff", theme="ansi_dark", background_color="default"),
    )


def render_report(state: Mapping[str, Any], console: Console, *, source: str) -> None:
    """Print the report of a finished review of ``source`` to ``console``."""
    console.print(_summary(state, source))
    error = state.get("syntax_error")
    if isinstance(error, Mapping):
        console.print(
            Text(
                f"Syntax error at line {error.get('line')}, column {error.get('column')}: "
                f"{error.get('message')}",
                style="bold red",
            )
        )
    console.print(_history_table(state))
    console.print()
    console.print(_findings(state))
    complexity = _complexity(state)
    if complexity is not None:
        console.print()
        console.print(complexity)
    console.print()
    console.print(_diff(state))
