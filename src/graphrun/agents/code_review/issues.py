"""Finding issues: ruff's findings under a curated rule set, plus the AST smells.

Every issue is a plain dict: ``rule``, ``name``, ``message``, ``line``, ``column``,
``end_line``, ``end_column`` (1-based, like ruff), ``severity`` (``error``, ``warning`` or
``info``), ``auto_fixable`` (``apply_fixes`` will fix it), ``fix`` (ruff's description of
the fix, if any), ``source`` (``ruff`` or ``ast``), ``function`` (the qualname of the
innermost enclosing function, or None at module level) and, for ruff rules, ``url``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from graphrun.agents.code_review import _ruff
from graphrun.agents.code_review._parse import SYNTAX_RULE, parse
from graphrun.agents.code_review.extract import functions_in, innermost_function
from graphrun.agents.code_review.smells import find_smells

SEVERITIES = ("error", "warning", "info")

# Longest matching prefix wins. Errors break or endanger the program; warnings are likely
# bugs or real maintenance costs; infos are style and clean-up.
SEVERITY_BY_PREFIX: dict[str, str] = {
    "E9": "error",  # runtime-level errors (syntax, IO)
    "F63": "error",  # comparisons that are always true/false, `is` with literals
    "F7": "error",  # statements in the wrong place (break outside loop, ...)
    "F82": "error",  # undefined names
    "T10": "error",  # debugger calls stop the program
    "S102": "error",  # exec
    "S307": "error",  # eval
    "B006": "warning",
    "E722": "warning",
    "F": "warning",
    "E": "warning",
    "E5": "info",  # line length
    "W": "info",
    "W605": "warning",  # invalid escape sequences become errors in later Pythons
    "B": "warning",
    "C90": "warning",
    "S": "warning",
    "T20": "warning",
    "FIX": "info",
    "N": "info",
    "SIM": "info",
    "C4": "info",
    "UP": "info",
    "PIE": "info",
}
DEFAULT_SEVERITY = "warning"


def severity_of(rule: str) -> str:
    """The severity of a ruff rule code, by its longest known prefix."""
    if rule == SYNTAX_RULE:
        return "error"
    for end in range(len(rule), 0, -1):
        found = SEVERITY_BY_PREFIX.get(rule[:end])
        if found is not None:
            return found
    return DEFAULT_SEVERITY


def _is_syntax_finding(finding: dict[str, Any]) -> bool:
    code = finding.get("code")
    return code in (None, "", SYNTAX_RULE, "invalid-syntax")


def from_ruff(finding: dict[str, Any]) -> dict[str, Any]:
    """One of ruff's JSON findings as an issue."""
    rule = str(finding.get("code"))
    location = finding.get("location") or {}
    end = finding.get("end_location") or location
    fix = finding.get("fix") or None
    applicability = fix.get("applicability") if isinstance(fix, dict) else None
    auto = applicability == "safe" or (
        applicability == "unsafe" and rule in _ruff.UNSAFE_FIX_ALLOWLIST
    )
    return {
        "rule": rule,
        "name": finding.get("name") or rule,
        "message": str(finding.get("message", "")),
        "line": int(location.get("row") or 1),
        "column": int(location.get("column") or 1),
        "end_line": int(end.get("row") or 1),
        "end_column": int(end.get("column") or 1),
        "severity": severity_of(rule),
        "auto_fixable": auto,
        "fix": fix.get("message") if isinstance(fix, dict) else None,
        "source": "ruff",
        "function": None,
        "url": finding.get("url"),
    }


def detect_issues(code: str, filename: str = "snippet.py") -> list[dict[str, Any]]:
    """Every issue in ``code``, sorted by position.

    Code that does not parse yields one ``E999`` issue located by ``ast`` (ruff's own
    syntax reports are dropped in its favour), plus whatever ruff still finds.
    """
    tree, syntax = parse(code)
    issues = [from_ruff(f) for f in _ruff.lint(code, filename) if not _is_syntax_finding(f)]
    if tree is None:
        assert syntax is not None
        issues.append(syntax)
    else:
        issues.extend(find_smells(tree))
        functions = functions_in(tree, code)
        for issue in issues:
            issue["function"] = innermost_function(functions, issue["line"])
    issues.sort(key=lambda i: (i["line"], i["column"], i["rule"]))
    return issues


def count_by_severity(issues: list[dict[str, Any]]) -> dict[str, int]:
    """``{"error": n, "warning": n, "info": n}``."""
    counts = Counter(str(i.get("severity", DEFAULT_SEVERITY)) for i in issues)
    return {s: counts.get(s, 0) for s in SEVERITIES}
