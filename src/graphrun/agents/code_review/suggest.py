"""A concrete, located suggestion for every issue, grouped by function."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from graphrun.agents.code_review.extract import innermost_function

MODULE = "<module>"

_QUOTED = re.compile(r"`([^`]+)`")
_TOO_COMPLEX = re.compile(r"\((\d+) > (\d+)\)")

Template = Callable[[Mapping[str, Any]], str]


def _quoted(issue: Mapping[str, Any], default: str = "it") -> str:
    found = _QUOTED.search(str(issue.get("message", "")))
    return f"`{found.group(1)}`" if found else default


def _where(issue: Mapping[str, Any]) -> str:
    return f"line {issue.get('line') or 1}"


def _marker(issue: Mapping[str, Any]) -> str:
    return {"FIX001": "FIXME", "FIX002": "TODO", "FIX003": "XXX", "FIX004": "HACK"}.get(
        str(issue["rule"]), "marker"
    )


def _too_complex(issue: Mapping[str, Any]) -> str:
    found = _TOO_COMPLEX.search(str(issue.get("message", "")))
    numbers = f" (complexity {found.group(1)}, limit {found.group(2)})" if found else ""
    return (
        f"Split {_quoted(issue)} into smaller functions{numbers}: move each branch of its "
        "decisions into a well-named helper or replace if/elif chains with a lookup table."
    )


TEMPLATES: dict[str, Template] = {
    "E999": lambda i: (
        f"Fix the syntax error at line {i['line']}, column {i['column']} ({i['message']}); "
        "nothing else can be checked or fixed until the code parses."
    ),
    "F401": lambda i: f"Remove the unused import {_quoted(i)} ({_where(i)}).",
    "F811": lambda i: f"Remove or rename the redefinition of {_quoted(i)} on {_where(i)}.",
    "F821": lambda i: (
        f"Define or import {_quoted(i)} before {_where(i)}; as written it raises NameError."
    ),
    "F841": lambda i: f"Remove the unused variable {_quoted(i)} on {_where(i)}, or use the value.",
    "T201": lambda i: (
        f"Remove the debug print on {_where(i)}; use the logging module if the output is needed."
    ),
    "T203": lambda i: f"Remove the debug pprint on {_where(i)}.",
    "T100": lambda i: (
        f"Remove the debugger call on {_where(i)}; it stops the program waiting for a debugger."
    ),
    "FIX001": lambda i: f"Resolve the {_marker(i)} on {_where(i)} or track it as an issue.",
    "FIX002": lambda i: f"Resolve the {_marker(i)} on {_where(i)} or track it as an issue.",
    "FIX003": lambda i: f"Resolve the {_marker(i)} on {_where(i)} or track it as an issue.",
    "FIX004": lambda i: f"Resolve the {_marker(i)} on {_where(i)} or track it as an issue.",
    "E722": lambda i: (
        f"Catch the exceptions you expect on {_where(i)} (for example `except ValueError:`);"
        " a bare `except:` also swallows KeyboardInterrupt and SystemExit."
    ),
    "B006": lambda i: (
        f"Use `None` as the default on {_where(i)} and create the list/dict/set inside the "
        "function; a mutable default is shared between calls."
    ),
    "B008": lambda i: (
        f"Move the call out of the default on {_where(i)}; defaults are evaluated once, "
        "when the function is defined."
    ),
    "E711": lambda i: f"Compare with `is None` / `is not None` on {_where(i)}.",
    "E712": lambda i: f"Test the value's truth directly on {_where(i)} instead of `== True`.",
    "C901": _too_complex,
    "S110": lambda i: f"Log or handle the exception on {_where(i)} instead of silently passing.",
    "S307": lambda i: (
        f"Replace `eval` on {_where(i)} with `ast.literal_eval` or a real parser; `eval` "
        "runs arbitrary code."
    ),
    "S102": lambda i: f"Remove `exec` on {_where(i)}; it runs arbitrary code.",
    "E501": lambda i: f"Break up the long line {i['line']} ({i['message']}).",
    "GR101": lambda i: (
        f"Split {_quoted(i)} into smaller functions that each do one thing ({i['message']})."
    ),
    "GR102": lambda i: (
        f"Reduce the parameters of {_quoted(i)}: group related ones into a dataclass, or "
        f"split the function ({i['message']})."
    ),
    "GR103": lambda i: (
        f"Flatten the nesting at {_where(i)} with early returns (guard clauses) or a helper "
        f"function ({i['message']})."
    ),
    "GR104": lambda i: (
        f"Add a docstring to {_quoted(i)} saying what it does, what it takes and what it returns."
    ),
    "GR105": lambda i: f"Use the augmented assignment on {_where(i)}: {i['message']}.",
    "GR106": lambda i: f"Replace the loop on {_where(i)}: {i['message']}.",
}


def suggestion_for(issue: Mapping[str, Any]) -> str:
    """The text of the suggestion for one issue."""
    rule = str(issue.get("rule", ""))
    template = TEMPLATES.get(rule)
    if template is None and rule.startswith("N8"):
        return f"Rename to follow PEP 8 naming on {_where(issue)}: {issue['message']}."
    if template is not None:
        return template(issue)
    if issue.get("fix"):
        return f"{issue['fix']} ({_where(issue)})."
    return f"Address {rule} on {_where(issue)}: {issue.get('message', '')}."


def suggest_improvements(
    issues: list[dict[str, Any]],
    functions: list[dict[str, Any]],
    complexity: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Suggestions grouped by function, in source order; module-level ones first.

    Each group: ``function`` (qualname, or ``<module>``), ``line``, ``end_line`` and
    ``items``; each item: ``rule``, ``line``, ``column``, ``severity``, ``auto_fixable``,
    ``issue`` (the finding) and ``suggestion`` (what to do). A module whose maintainability
    rank is below A gets a module-level suggestion too.
    """
    spans = {f["qualname"]: f for f in functions}
    groups: dict[str, dict[str, Any]] = {}
    for issue in issues:
        name = issue.get("function") or innermost_function(functions, int(issue.get("line") or 1))
        key: str = name if isinstance(name, str) and name in spans else MODULE
        group = groups.get(key)
        if group is None:
            span = spans.get(key)
            group = {
                "function": key,
                "line": span["line"] if span else None,
                "end_line": span["end_line"] if span else None,
                "items": [],
            }
            groups[key] = group
        group["items"].append(
            {
                "rule": issue.get("rule", ""),
                "line": issue.get("line") or 1,
                "column": issue.get("column", 1),
                "severity": issue.get("severity", "warning"),
                "auto_fixable": bool(issue.get("auto_fixable")),
                "issue": issue.get("message", ""),
                "suggestion": suggestion_for(issue),
            }
        )
    rank = (complexity or {}).get("maintainability_rank")
    if rank in ("B", "C"):
        group = groups.setdefault(
            MODULE, {"function": MODULE, "line": None, "end_line": None, "items": []}
        )
        mi = (complexity or {}).get("maintainability_index")
        group["items"].append(
            {
                "rule": "MI",
                "line": 1,
                "column": 1,
                "severity": "warning" if rank == "C" else "info",
                "auto_fixable": False,
                "issue": f"maintainability index {mi} (rank {rank})",
                "suggestion": (
                    "Improve the module's maintainability: shorten long functions, reduce "
                    "branching and split the module by responsibility."
                ),
            }
        )
    for group in groups.values():
        group["items"].sort(key=lambda item: (item["line"], item["column"], item["rule"]))
    return sorted(groups.values(), key=lambda g: (g["line"] is not None, g["line"] or 0))
