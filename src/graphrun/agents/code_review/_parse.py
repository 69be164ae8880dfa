"""Parsing submitted code with ``ast`` (never compiling or running it).

A parse failure becomes a located issue instead of an exception, so a review of broken
code still completes and says where it is broken.
"""

from __future__ import annotations

import ast
import threading
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

SYNTAX_RULE = "E999"
MAX_TREE_DEPTH = 200
"""Deepest syntax tree analysed. Real modules stay far below (around 60 at most); deeper
trees would exhaust the recursion of the tree walkers (ours and radon's)."""

T = TypeVar("T")

# catch_warnings swaps the process-wide filter list; tools run in worker threads, and two
# overlapping swaps could leave the filters silenced for good. The work done under the
# lock is pure Python, which the interpreter runs one thread at a time anyway.
_WARNINGS_LOCK = threading.Lock()


def quietly(fn: Callable[..., T], *args: Any) -> T:
    """Call ``fn`` with Python's warnings silenced.

    Parsing reports questionable source (such as ``"\\d"`` escapes) as warnings; for
    a reviewer they are properties of the input, not problems of this process.
    """
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args)


def syntax_issue(
    message: str, line: int, column: int, name: str = "syntax-error"
) -> dict[str, Any]:
    """The issue that reports code which does not parse (or cannot be analysed)."""
    return {
        "rule": SYNTAX_RULE,
        "name": name,
        "message": message,
        "line": max(1, line),
        "column": max(1, column),
        "end_line": max(1, line),
        "end_column": max(1, column),
        "severity": "error",
        "auto_fixable": False,
        "fix": None,
        "source": "ast",
        "function": None,
    }


def _position_of(code: str, char: str) -> tuple[int, int]:
    index = code.find(char)
    if index < 0:
        return 1, 1
    line = code.count("\n", 0, index) + 1
    column = index - (code.rfind("\n", 0, index) + 1) + 1
    return line, column


def _too_deep(tree: ast.AST) -> tuple[int, int] | None:
    """``(line, column)`` where the tree gets deeper than :data:`MAX_TREE_DEPTH`, if it does."""
    # Each entry carries the nearest node with a position (operators have none).
    stack: list[tuple[ast.AST, int, ast.AST]] = [(tree, 1, tree)]
    while stack:
        node, depth, located = stack.pop()
        if hasattr(node, "lineno"):
            located = node
        if depth > MAX_TREE_DEPTH:
            return getattr(located, "lineno", 1), getattr(located, "col_offset", 0) + 1
        stack.extend((child, depth + 1, located) for child in ast.iter_child_nodes(node))
    return None


def parse(code: str) -> tuple[ast.Module | None, dict[str, Any] | None]:
    """``(tree, None)`` for valid code, ``(None, issue)`` when it does not parse or is
    nested too deeply to be analysed."""
    try:
        tree = quietly(ast.parse, code)
    except SyntaxError as exc:
        line, column = exc.lineno, exc.offset
        if line is None:  # a NUL byte is reported without a position
            line, column = _position_of(code, "\x00")
        return None, syntax_issue(f"SyntaxError: {exc.msg}", line, column or 1)
    except ValueError as exc:  # a NUL byte, in older Pythons
        line, column = _position_of(code, "\x00")
        return None, syntax_issue(f"SyntaxError: {exc}", line, column)
    except (RecursionError, MemoryError):
        return None, syntax_issue(
            "the code is nested too deeply to be parsed", 1, 1, "too-deeply-nested"
        )
    deep = _too_deep(tree)
    if deep is not None:
        message = (
            f"the code is nested more than {MAX_TREE_DEPTH} levels deep; the review "
            "analyses code up to that depth"
        )
        return None, syntax_issue(message, *deep, "too-deeply-nested")
    return tree, None
