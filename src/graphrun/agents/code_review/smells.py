"""Code smells ruff does not report, found on the syntax tree.

Rules (all prefixed ``GR``):

- GR101 long-function: a function longer than :data:`MAX_FUNCTION_LINES` lines.
- GR102 too-many-parameters: more than :data:`MAX_PARAMETERS` parameters (``self``/``cls``
  of methods not counted).
- GR103 deep-nesting: blocks nested deeper than :data:`MAX_NESTING` inside a function.
- GR104 missing-docstring: a public function or method without a docstring (dunder
  methods, nested functions and ``@overload`` stubs are exempt).
- GR105 non-augmented-assignment: ``x = x + y`` where ``x += y`` says the same.
- GR106 manual-sum: a loop whose only statement adds to an accumulator, which ``sum``
  expresses directly.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

MAX_FUNCTION_LINES = 50
MAX_PARAMETERS = 5
MAX_NESTING = 4

_BLOCKS = (
    ast.If,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.With,
    ast.AsyncWith,
    ast.Try,
    ast.TryStar,
    ast.Match,
)
_OPERATORS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.MatMult: "@",
    ast.BitOr: "|",
    ast.BitAnd: "&",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
}

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def _issue(
    rule: str, name: str, message: str, node: ast.AST, severity: str = "info"
) -> dict[str, Any]:
    line = getattr(node, "lineno", 1)
    column = getattr(node, "col_offset", 0) + 1
    return {
        "rule": rule,
        "name": name,
        "message": message,
        "line": line,
        "column": column,
        "end_line": getattr(node, "end_lineno", None) or line,
        "end_column": (getattr(node, "end_col_offset", None) or 0) + 1,
        "severity": severity,
        "auto_fixable": False,
        "fix": None,
        "source": "ast",
        "function": None,
    }


def _own_scope(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """The nodes under ``body``, not descending into nested functions or classes."""
    todo: list[ast.AST] = list(reversed(body))
    while todo:
        node = todo.pop()
        if isinstance(node, FunctionNode | ast.ClassDef | ast.Lambda):
            continue
        yield node
        todo.extend(reversed(list(ast.iter_child_nodes(node))))


def _is_elif(stmt: ast.stmt, body: list[ast.stmt]) -> bool:
    # An ``elif`` is an If alone in the orelse of an If: it sits at the depth of its ``if``.
    return (
        isinstance(stmt, ast.If)
        and body is stmt.orelse
        and len(body) == 1
        and isinstance(body[0], ast.If)
    )


def _deepest_block(body: list[ast.stmt], depth: int) -> tuple[int, ast.stmt | None]:
    """``(depth, block)`` of the most deeply nested block under ``body``."""
    best: tuple[int, ast.stmt | None] = (depth, None)
    for stmt in body:
        if isinstance(stmt, FunctionNode | ast.ClassDef):
            continue
        is_block = isinstance(stmt, _BLOCKS)
        inner = depth + 1 if is_block else depth
        if is_block and inner > best[0]:
            best = (inner, stmt)
        for child_body in _child_bodies(stmt):
            found = _deepest_block(child_body, depth if _is_elif(stmt, child_body) else inner)
            if found[1] is not None and found[0] > best[0]:
                best = found
    return best


def _child_bodies(stmt: ast.stmt) -> list[list[ast.stmt]]:
    bodies: list[list[ast.stmt]] = []
    for field in ("body", "orelse", "finalbody"):
        value = getattr(stmt, field, None)
        if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
            bodies.append(value)
    for handler in getattr(stmt, "handlers", []) or []:
        bodies.append(handler.body)
    for case in getattr(stmt, "cases", []) or []:
        bodies.append(case.body)
    return bodies


def _is_overload(fn: FunctionNode) -> bool:
    for d in fn.decorator_list:
        if (isinstance(d, ast.Name) and d.id == "overload") or (
            isinstance(d, ast.Attribute) and d.attr == "overload"
        ):
            return True
    return False


def _counted_params(fn: FunctionNode, is_method: bool) -> int:
    a = fn.args
    names = [*a.posonlyargs, *a.args]
    is_static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in fn.decorator_list)
    if is_method and not is_static and names and names[0].arg in ("self", "cls", "mcs"):
        names = names[1:]
    return len(names) + len(a.kwonlyargs) + (a.vararg is not None) + (a.kwarg is not None)


def _accumulation(stmt: ast.stmt) -> tuple[str, ast.expr] | None:
    """``(name, added)`` when ``stmt`` is ``name += added`` or ``name = name + added``."""
    if (
        isinstance(stmt, ast.AugAssign)
        and isinstance(stmt.op, ast.Add)
        and isinstance(stmt.target, ast.Name)
    ):
        return stmt.target.id, stmt.value
    if (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
        and isinstance(stmt.value, ast.BinOp)
        and isinstance(stmt.value.op, ast.Add)
        and isinstance(stmt.value.left, ast.Name)
        and stmt.value.left.id == stmt.targets[0].id
    ):
        return stmt.targets[0].id, stmt.value.right
    return None


def _manual_sum(node: ast.For) -> tuple[dict[str, Any], ast.stmt] | None:
    if len(node.body) != 1 or node.orelse:
        return None
    found = _accumulation(node.body[0])
    if found is None:
        return None
    name, added = found
    if any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(added)):
        return None
    target = ast.unparse(node.target)
    iterable = ast.unparse(node.iter)
    value = ast.unparse(added)
    summed = f"sum({iterable})" if value == target else f"sum({value} for {target} in {iterable})"
    message = f"the loop only adds up values into `{name}`; write `{name} += {summed}`"
    return _issue("GR106", "manual-sum", message, node), node.body[0]


def _non_augmented(node: ast.Assign) -> dict[str, Any] | None:
    if not (
        len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.BinOp)
        and isinstance(node.value.left, ast.Name)
        and node.value.left.id == node.targets[0].id
        and type(node.value.op) in _OPERATORS
    ):
        return None
    name = node.targets[0].id
    op = _OPERATORS[type(node.value.op)]
    right = ast.unparse(node.value.right)
    message = f"`{name} = {name} {op} {right}` can be written `{name} {op}= {right}`"
    return _issue("GR105", "non-augmented-assignment", message, node)


def _function_smells(
    fn: FunctionNode, qualname: str, kind: str, public: bool
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    end = fn.end_lineno or fn.lineno
    length = end - fn.lineno + 1
    if length > MAX_FUNCTION_LINES:
        found.append(
            _issue(
                "GR101",
                "long-function",
                f"`{qualname}` is {length} lines long (limit {MAX_FUNCTION_LINES})",
                fn,
                "warning",
            )
        )
    count = _counted_params(fn, kind == "method")
    if count > MAX_PARAMETERS:
        found.append(
            _issue(
                "GR102",
                "too-many-parameters",
                f"`{qualname}` takes {count} parameters (limit {MAX_PARAMETERS})",
                fn,
                "warning",
            )
        )
    depth, block = _deepest_block(fn.body, 0)
    if depth > MAX_NESTING and block is not None:
        found.append(
            _issue(
                "GR103",
                "deep-nesting",
                f"`{qualname}` nests blocks {depth} deep (limit {MAX_NESTING})",
                block,
                "warning",
            )
        )
    if (
        public
        and kind != "nested_function"
        and not (fn.name.startswith("__") and fn.name.endswith("__"))
        and not _is_overload(fn)
        and ast.get_docstring(fn, clean=False) is None
    ):
        what = "method" if kind == "method" else "function"
        found.append(
            _issue(
                "GR104",
                "missing-docstring",
                f"public {what} `{qualname}` has no docstring",
                fn,
            )
        )
    return found


def _statement_smells(nodes: list[ast.AST]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    covered: set[int] = set()
    for node in nodes:
        if isinstance(node, ast.For):
            hit = _manual_sum(node)
            if hit is not None:
                found.append(hit[0])
                covered.add(id(hit[1]))
    for node in nodes:
        if isinstance(node, ast.Assign) and id(node) not in covered:
            issue = _non_augmented(node)
            if issue is not None:
                found.append(issue)
    return found


class _SmellFinder(ast.NodeVisitor):
    def __init__(self) -> None:
        self.found: list[dict[str, Any]] = []
        # (qualname prefix, in a class?, in a function?, public?)
        self._scope: list[tuple[str, bool, bool, bool]] = [("", False, False, True)]

    def visit_Module(self, node: ast.Module) -> None:
        self.found.extend(_statement_smells(list(_own_scope(node.body))))
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        prefix, _, in_fn, public = self._scope[-1]
        is_public = public and not in_fn and not node.name.startswith("_")
        self._scope.append((f"{prefix}{node.name}.", True, in_fn, is_public))
        self.generic_visit(node)
        self._scope.pop()

    def _function(self, node: FunctionNode) -> None:
        prefix, in_class, in_fn, public = self._scope[-1]
        qualname = f"{prefix}{node.name}"
        kind = "method" if in_class else ("nested_function" if in_fn else "function")
        is_public = public and not node.name.startswith("_")
        self.found.extend(_function_smells(node, qualname, kind, is_public))
        self.found.extend(_statement_smells(list(_own_scope(node.body))))
        self._scope.append((f"{qualname}.<locals>.", False, True, False))
        self.generic_visit(node)
        self._scope.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._function(node)


def find_smells(tree: ast.Module) -> list[dict[str, Any]]:
    """Every GR issue in ``tree``, in no particular order."""
    finder = _SmellFinder()
    finder.visit(tree)
    return finder.found
