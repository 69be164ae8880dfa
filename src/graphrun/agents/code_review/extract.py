"""Every function and method in a module, described from its syntax tree.

Qualified names follow Python's ``__qualname__``: ``Cart.total`` for a method,
``outer.<locals>.inner`` for a nested function.
"""

from __future__ import annotations

import ast
from typing import Any

from graphrun.agents.code_review._parse import parse

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def _params(args: ast.arguments) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    positional = [*args.posonlyargs, *args.args]
    # Defaults belong to the last positional parameters.
    first_default = len(positional) - len(args.defaults)
    for i, arg in enumerate(positional):
        kind = "positional_only" if i < len(args.posonlyargs) else "positional_or_keyword"
        out.append(_param(arg, kind, has_default=i >= first_default))
    if args.vararg is not None:
        out.append(_param(args.vararg, "var_positional", has_default=False))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        out.append(_param(arg, "keyword_only", has_default=default is not None))
    if args.kwarg is not None:
        out.append(_param(args.kwarg, "var_keyword", has_default=False))
    return out


def _param(arg: ast.arg, kind: str, *, has_default: bool) -> dict[str, Any]:
    return {
        "name": arg.arg,
        "kind": kind,
        "annotation": ast.unparse(arg.annotation) if arg.annotation is not None else None,
        "has_default": has_default,
    }


def _end_line(node: FunctionNode, lines: list[str]) -> int:
    """The last line of ``node``, counting comments indented inside its body after its
    last statement (they belong to the function as the reader sees it)."""
    end = node.end_lineno or node.lineno
    while end < len(lines):
        text = lines[end]  # the line after ``end`` (lines are 1-based)
        stripped = text.lstrip()
        if not stripped.startswith("#") or len(text) - len(stripped) <= node.col_offset:
            break
        end += 1
    return end


def _describe(
    node: FunctionNode, qualname: str, kind: str, cls: str | None, lines: list[str]
) -> dict[str, Any]:
    end = _end_line(node, lines)
    start = min([d.lineno for d in node.decorator_list] + [node.lineno])
    return {
        "name": node.name,
        "qualname": qualname,
        "kind": kind,
        "class": cls,
        "line": node.lineno,
        "start_line": start,
        "end_line": end,
        "length": end - node.lineno + 1,
        "params": _params(node.args),
        "decorators": [ast.unparse(d) for d in node.decorator_list],
        "is_async": isinstance(node, ast.AsyncFunctionDef),
        "has_docstring": ast.get_docstring(node, clean=False) is not None,
    }


class _Collector(ast.NodeVisitor):
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.found: list[dict[str, Any]] = []
        # (prefix for children, enclosing class name or None, inside a function?)
        self._scope: list[tuple[str, str | None, bool]] = [("", None, False)]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        prefix, _, in_function = self._scope[-1]
        self._scope.append((f"{prefix}{node.name}.", node.name, in_function))
        self.generic_visit(node)
        self._scope.pop()

    def _function(self, node: FunctionNode) -> None:
        prefix, cls, in_function = self._scope[-1]
        qualname = f"{prefix}{node.name}"
        if cls is not None:
            kind = "method"
        elif in_function:
            kind = "nested_function"
        else:
            kind = "function"
        self.found.append(_describe(node, qualname, kind, cls, self.lines))
        self._scope.append((f"{qualname}.<locals>.", None, True))
        self.generic_visit(node)
        self._scope.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._function(node)


def functions_in(tree: ast.AST, code: str) -> list[dict[str, Any]]:
    """Describe every function and method under ``tree`` (parsed from ``code``), in
    source order."""
    # Only the line breaks Python counts: str.splitlines also splits on form feeds.
    collector = _Collector(code.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    collector.visit(tree)
    return sorted(collector.found, key=lambda f: (f["line"], f["qualname"]))


def extract_functions(code: str) -> dict[str, Any]:
    """``{"functions": [...], "syntax_error": issue | None}`` for ``code``.

    Each function: name, qualname, kind (function, method, nested_function), class,
    line (of ``def``), start_line (of the first decorator), end_line (including comments
    indented in the body after the last statement), length,
    params (name, kind, annotation, has_default), decorators, is_async, has_docstring.
    """
    tree, error = parse(code)
    if tree is None:
        return {"functions": [], "syntax_error": error}
    return {"functions": functions_in(tree, code), "syntax_error": None}


def innermost_function(functions: list[dict[str, Any]], line: int) -> str | None:
    """The qualname of the innermost function whose span holds ``line``."""
    best: dict[str, Any] | None = None
    for fn in functions:
        if fn["start_line"] <= line <= fn["end_line"] and (
            best is None or fn["start_line"] >= best["start_line"]
        ):
            best = fn
    return None if best is None else str(best["qualname"])
