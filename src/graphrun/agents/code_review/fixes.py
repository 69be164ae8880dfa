"""The improving step: ruff's fixes, then ruff format, and a unified diff of the change.

Safe fixes are applied, and unsafe ones only for the rules in
:data:`~graphrun.agents.code_review._ruff.UNSAFE_FIX_ALLOWLIST` (removing debug prints and
unused locals, comparing with None by identity). Code that does not parse is returned
unchanged: no fix can be trusted on it.
"""

from __future__ import annotations

import difflib
from collections import Counter
from typing import Any

from graphrun.agents.code_review import _ruff
from graphrun.agents.code_review._parse import parse

_NO_NEWLINE = "\\ No newline at end of file\n"


def unified_diff(before: str, after: str, filename: str = "snippet.py") -> str:
    """A ``git diff``-style unified diff from ``before`` to ``after`` ("" if equal)."""
    if before == after:
        return ""
    old = before.splitlines(keepends=True)
    new = after.splitlines(keepends=True)
    lines = []
    for line in difflib.unified_diff(old, new, f"a/{filename}", f"b/{filename}"):
        if line.endswith("\n"):
            lines.append(line)
        else:
            # The last line of a file without a final newline, marked as git does.
            lines.append(line + "\n" + _NO_NEWLINE)
    return "".join(lines)


def _rule_counts(findings: list[dict[str, Any]]) -> Counter[str]:
    return Counter(str(f.get("code")) for f in findings if f.get("code"))


def apply_fixes(code: str, filename: str = "snippet.py") -> dict[str, Any]:
    """Fix and format ``code`` once.

    Returns ``code`` (the new version), ``changed``, ``fixed`` (rule -> number of findings
    that the fixes removed), ``formatted`` (ruff format ran), ``diff`` (this change as a
    unified diff) and ``skipped`` (why nothing was attempted, else None).
    """
    tree, syntax = parse(code)
    if tree is None:
        assert syntax is not None
        return {
            "code": code,
            "changed": False,
            "fixed": {},
            "formatted": False,
            "diff": "",
            "skipped": (
                f"the code does not parse (line {syntax['line']}, column {syntax['column']}); "
                "fix the syntax error first"
            ),
        }
    outcome = _ruff.fix_and_format(code, filename)
    fixed = _rule_counts(outcome.before) - _rule_counts(outcome.after)
    return {
        "code": outcome.code,
        "changed": outcome.code != code,
        "fixed": dict(sorted(fixed.items())),
        "formatted": outcome.formatted,
        "diff": unified_diff(code, outcome.code, filename),
        "skipped": None,
    }
