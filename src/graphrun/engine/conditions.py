"""Safe condition expressions for conditional edges, and named conditions.

Expressions such as ``quality_score >= 0.9 or iteration >= 5`` are parsed once, checked
against an allow-list of syntax when the graph is built, and evaluated with simpleeval.
Names are state keys (``state`` is the whole state); ``a.b`` reads key ``b`` of object
``a``. Nothing is ever passed to Python's ``eval``.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import simpleeval

from graphrun.engine.errors import ConditionError

MAX_LENGTH = 1_000
MAX_DEPTH = 32
MAX_EXPONENT = 100

ALLOWED_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len,
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
    "any": any,
    "all": all,
    "sum": sum,
}

_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Pow,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
    ast.IfExp,
    ast.Call,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.Attribute,
    ast.Subscript,
    ast.List,
    ast.Tuple,
)


def _power(base: Any, exp: Any) -> Any:
    if isinstance(exp, int | float) and abs(exp) > MAX_EXPONENT:
        raise simpleeval.NumberTooHigh(f"exponent {exp} is larger than the limit of {MAX_EXPONENT}")
    return base**exp


_OPERATORS = dict(simpleeval.DEFAULT_OPERATORS)
_OPERATORS[ast.Pow] = _power


class _StateEvaluator(simpleeval.EvalWithCompoundTypes):  # type: ignore[misc]
    """simpleeval with names read from the state and attribute access meaning key access."""

    def __init__(self) -> None:
        super().__init__(operators=_OPERATORS, functions=dict(ALLOWED_FUNCTIONS), names={})
        self.state: Mapping[str, Any] = {}

    def _eval_name(self, node: ast.Name) -> Any:
        try:
            return self.state[node.id]
        except KeyError:
            pass
        if node.id == "state":
            return self.state
        if node.id in self.functions:
            return self.functions[node.id]
        raise _MissingKeyError(node.id)

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        # Attribute syntax reads a key of a JSON object; it never reaches getattr.
        container = self._eval(node.value)
        if isinstance(container, Mapping):
            try:
                return container[node.attr]
            except KeyError:
                raise _MissingKeyError(node.attr) from None
        raise ConditionError(
            f"cannot read .{node.attr} of a {type(container).__name__}; only objects have keys"
        )


class _MissingKeyError(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


class Condition(Protocol):
    """Anything that can decide a branch from the state."""

    source: str

    def __call__(self, state: Mapping[str, Any]) -> bool: ...


def _check_tree(tree: ast.AST, source: str) -> None:
    # Depth is checked iteratively so a pathological tree cannot exhaust the stack here.
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ConditionError(
                f"condition {source!r} is nested deeper than the limit of {MAX_DEPTH}"
            )
        if not isinstance(node, _ALLOWED_NODES):
            raise ConditionError(
                f"condition {source!r} uses {type(node).__name__}, which conditions do not allow"
            )
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise ConditionError(f"condition {source!r}: names may not start with '_'")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ConditionError(f"condition {source!r}: keys may not start with '_'")
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
            and node.slice.value.startswith("_")
        ):
            raise ConditionError(f"condition {source!r}: keys may not start with '_'")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in ALLOWED_FUNCTIONS:
                allowed = ", ".join(sorted(ALLOWED_FUNCTIONS))
                raise ConditionError(
                    f"condition {source!r} calls something other than the allowed "
                    f"functions ({allowed})"
                )
            if node.keywords:
                raise ConditionError(f"condition {source!r}: keyword arguments are not allowed")
        for child in ast.iter_child_nodes(node):
            stack.append((child, depth + 1))


@dataclass(slots=True)
class ExpressionCondition:
    """A compiled, checked expression. Evaluating it never executes code."""

    source: str
    tree: ast.expr
    names: frozenset[str]
    _evaluator: _StateEvaluator

    def __call__(self, state: Mapping[str, Any]) -> bool:
        ev = self._evaluator
        ev.state = state
        try:
            return bool(ev._eval(self.tree))
        except _MissingKeyError as exc:
            raise ConditionError(
                f"condition {self.source!r} reads state key {exc.key!r}, which is not set"
            ) from None
        except ConditionError:
            raise
        except (simpleeval.InvalidExpression, ArithmeticError, TypeError, ValueError) as exc:
            raise ConditionError(f"condition {self.source!r} failed: {exc}") from None
        except (IndexError, KeyError) as exc:
            raise ConditionError(
                f"condition {self.source!r} failed: no item {exc} in the state"
            ) from None
        finally:
            ev.state = {}


def compile_expression(source: str) -> ExpressionCondition:
    """Parse and check ``source``; raise :class:`ConditionError` naming what is wrong."""
    if not isinstance(source, str):
        raise ConditionError(f"a condition must be a string, got {type(source).__name__}")
    text = source.strip()
    if not text:
        raise ConditionError("a condition must not be empty")
    if len(text) > MAX_LENGTH:
        raise ConditionError(f"condition is {len(text)} characters long; the limit is {MAX_LENGTH}")
    try:
        module = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ConditionError(f"condition {text!r} is not a valid expression: {exc.msg}") from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise ConditionError(f"condition {text!r} cannot be parsed: {exc}") from None
    _check_tree(module, text)
    names = frozenset(
        n.id
        for n in ast.walk(module)
        if isinstance(n, ast.Name) and n.id not in ALLOWED_FUNCTIONS and n.id != "state"
    )
    return ExpressionCondition(text, module.body, names, _StateEvaluator())


@dataclass(frozen=True, slots=True)
class NamedCondition:
    """A registered Python predicate, referred to by name from specs (seed 003)."""

    source: str
    fn: Callable[[Mapping[str, Any]], Any]
    description: str = ""

    def __call__(self, state: Mapping[str, Any]) -> bool:
        try:
            return bool(self.fn(state))
        except Exception as exc:
            raise ConditionError(f"named condition {self.source!r} failed: {exc}") from exc


class ConditionRegistry:
    """Named conditions, like tools."""

    def __init__(self) -> None:
        self._items: dict[str, NamedCondition] = {}

    def add(
        self, name: str, fn: Callable[[Mapping[str, Any]], Any], description: str = ""
    ) -> NamedCondition:
        doc = description or (fn.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        cond = NamedCondition(name, fn, doc)
        self._items[name] = cond
        return cond

    def get(self, name: str) -> NamedCondition:
        try:
            return self._items[name]
        except KeyError:
            raise ConditionError(f"unknown named condition {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[NamedCondition]:
        return iter(sorted(self._items.values(), key=lambda c: c.source))


default_conditions = ConditionRegistry()


def condition(
    name: str | None = None, *, registry: ConditionRegistry | None = None
) -> Callable[[Callable[[Mapping[str, Any]], Any]], Callable[[Mapping[str, Any]], Any]]:
    """Register a predicate ``fn(state) -> bool`` as a named condition."""

    def decorate(fn: Callable[[Mapping[str, Any]], Any]) -> Callable[[Mapping[str, Any]], Any]:
        (registry or default_conditions).add(name or fn.__name__, fn)
        return fn

    return decorate


def resolve_condition(
    text: str, registry: ConditionRegistry | None = None
) -> ExpressionCondition | NamedCondition:
    """A registered name wins over an expression of the same text."""
    reg = registry or default_conditions
    if text in reg:
        return reg.get(text)
    return compile_expression(text)
