"""Safe condition expressions for conditional edges, and named conditions.

Expressions such as ``quality_score >= 0.9 or iteration >= 5`` are parsed once, checked
against an allow-list of syntax when the graph is built, and evaluated with simpleeval.
Names are state keys (``state`` is the whole state); ``a.b`` reads key ``b`` of object
``a``. Nothing is ever passed to Python's ``eval``.

Every operation that could make a value grow (``**``, ``*``, ``+``, ``round``, ``sum``,
list literals) is bounded, so evaluating a condition takes bounded time and memory; the
parts of an expression that read no state key are evaluated once when the graph is built,
so ``9**9**9`` or ``'a'*10**10`` is refused there, not at run time.
"""

from __future__ import annotations

import ast
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import simpleeval

from graphrun.engine.errors import ConditionError

MAX_LENGTH = 1_000
MAX_DEPTH = 32
MAX_EXPONENT = 100
MAX_INT_BITS = 10_000
"""Largest integer (in bits) that ``*`` and ``**`` may produce."""
MAX_SIZE = 100_000
"""Largest string, or list counted with its nested items, that an operation may produce."""
MAX_ROUND_DIGITS = 100
_MAX_MESSAGE = 200


class _LimitError(simpleeval.InvalidExpression):  # type: ignore[misc]
    """An operation would exceed one of the limits above, or is refused outright."""


def _show(value: Any) -> str:
    if isinstance(value, int) and value.bit_length() > 64:
        return f"a {value.bit_length()}-bit number"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _size(value: Any) -> int:
    """Characters of a string, or items of a list/tuple/object counted with everything
    nested in them; stops counting once past :data:`MAX_SIZE`."""
    if isinstance(value, str | bytes):
        return len(value)
    if not isinstance(value, list | tuple | Mapping):
        return 1
    total = 0
    stack: list[Any] = [value]
    while stack and total <= MAX_SIZE:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, list | tuple):
            total += len(item)
            if total <= MAX_SIZE:
                stack.extend(item)
        elif isinstance(item, Mapping):
            total += len(item)
            if total <= MAX_SIZE:
                stack.extend(item.values())
        else:
            total += 1
    return total


def _is_int(value: Any) -> bool:
    return isinstance(value, int)


def _power(base: Any, exp: Any) -> Any:
    if isinstance(exp, int | float) and abs(exp) > MAX_EXPONENT:
        raise _LimitError(f"exponent {_show(exp)} is larger than the limit of {MAX_EXPONENT}")
    if _is_int(base) and _is_int(exp) and exp > 0 and base.bit_length() * exp > MAX_INT_BITS:
        raise _LimitError(
            f"{_show(base)} ** {exp} would be larger than the limit of {MAX_INT_BITS} bits"
        )
    return base**exp


def _mult(a: Any, b: Any) -> Any:
    if _is_int(a) and _is_int(b):
        if a.bit_length() + b.bit_length() > MAX_INT_BITS:
            raise _LimitError(f"the product would be larger than the limit of {MAX_INT_BITS} bits")
    else:
        for seq, times in ((a, b), (b, a)):
            if (
                isinstance(seq, str | bytes | list | tuple)
                and _is_int(times)
                and times > 0
                and _size(seq) * times > MAX_SIZE
            ):
                raise _LimitError(f"repeating that would exceed the size limit of {MAX_SIZE}")
    return a * b


def _add(a: Any, b: Any) -> Any:
    if (
        isinstance(a, str | bytes | list | tuple)
        and isinstance(b, str | bytes | list | tuple)
        and _size(a) + _size(b) > MAX_SIZE
    ):
        raise _LimitError(f"joining those would exceed the size limit of {MAX_SIZE}")
    return a + b


def _mod(a: Any, b: Any) -> Any:
    if isinstance(a, str | bytes):
        # printf-style formatting can ask for a gigabyte of padding ('%0999999999d').
        raise _LimitError("formatting strings with % is not allowed in conditions")
    return a % b


def _round(number: Any, ndigits: Any = None) -> Any:
    # round(1, -10**100) would compute 10**(10**100).
    if _is_int(ndigits) and abs(ndigits) > MAX_ROUND_DIGITS:
        raise _LimitError(f"round() to {_show(ndigits)} digits is beyond {MAX_ROUND_DIGITS}")
    return round(number, ndigits)


def _sum(values: Iterable[Any], start: Any = 0) -> Any:
    items = list(values)
    for item in [start, *items]:
        if not isinstance(item, int | float):
            raise _LimitError(f"sum() adds numbers only, not {type(item).__name__}")
    return sum(items, start)


ALLOWED_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len,
    "min": min,
    "max": max,
    "abs": abs,
    "round": _round,
    "any": any,
    "all": all,
    "sum": _sum,
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

_OPERATORS = dict(simpleeval.DEFAULT_OPERATORS)
_OPERATORS.update({ast.Pow: _power, ast.Mult: _mult, ast.Add: _add, ast.Mod: _mod})


class _MissingKeyError(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a chain of names and attributes, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        parent = _dotted(node.value)
        return None if parent is None else f"{parent}.{node.attr}"
    return None


class _StateEvaluator(simpleeval.EvalWithCompoundTypes):  # type: ignore[misc]
    """simpleeval with names read from the state and attribute access meaning key access."""

    def __init__(self) -> None:
        super().__init__(operators=_OPERATORS, functions=dict(ALLOWED_FUNCTIONS), names={})
        # The base class adds list/dict/set/tuple; conditions get the allow-list only.
        self.functions = dict(ALLOWED_FUNCTIONS)
        self.state: Mapping[str, Any] = {}

    def _check_disallowed_items(self, item: Any) -> None:
        # The base class walks every value (recursively) looking for forbidden callables.
        # Here nothing but the allow-list can ever be called (checked when compiled), and
        # the walk costs O(size) per name lookup and overflows the stack on deep values.
        return

    def _eval_name(self, node: ast.Name) -> Any:
        try:
            return self.state[node.id]
        except KeyError:
            pass
        if node.id == "state":
            return self.state
        if node.id in ALLOWED_FUNCTIONS:
            return ALLOWED_FUNCTIONS[node.id]
        raise _MissingKeyError(node.id)

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        # Attribute syntax reads a key of a JSON object; it never reaches getattr.
        container = self._eval(node.value)
        if isinstance(container, Mapping):
            try:
                return container[node.attr]
            except KeyError:
                raise _MissingKeyError(_dotted(node) or node.attr) from None
        raise _LimitError(
            f"cannot read .{node.attr} of a {type(container).__name__}; only objects have keys"
        )

    def _eval_subscript(self, node: ast.Subscript) -> Any:
        container = self._eval(node.value)
        key = self._eval(node.slice)
        if isinstance(key, str) and key.startswith("_"):
            raise _LimitError(f"keys may not start with '_' (got {_show(key)})")
        return container[key]

    def _eval_list(self, node: ast.List) -> Any:
        return self._bounded(super()._eval_list(node))

    def _eval_tuple(self, node: ast.Tuple) -> Any:
        return self._bounded(super()._eval_tuple(node))

    @staticmethod
    def _bounded(value: Any) -> Any:
        if _size(value) > MAX_SIZE:
            raise _LimitError(f"that list would exceed the size limit of {MAX_SIZE}")
        return value


_local = threading.local()


def _evaluator() -> _StateEvaluator:
    # One evaluator per thread: a compiled graph may be shared by runs in several threads.
    ev: _StateEvaluator | None = getattr(_local, "evaluator", None)
    if ev is None:
        ev = _local.evaluator = _StateEvaluator()
    return ev


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
        if (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Mod)
            and isinstance(node.left, ast.Constant)
            and isinstance(node.left.value, str | bytes)
        ):
            raise ConditionError(
                f"condition {source!r}: formatting strings with % is not allowed in conditions"
            )
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


def _reads_state(node: ast.AST, memo: dict[int, bool]) -> bool:
    """Whether ``node`` reads a name (a state key); fills ``memo`` for every sub-node.
    The callee of a call is a function name, not a read. Recursion is bounded by
    :data:`MAX_DEPTH`, checked before."""
    reads = isinstance(node, ast.Name)
    for child in ast.iter_child_nodes(node):
        if isinstance(node, ast.Call) and child is node.func:
            continue
        reads = _reads_state(child, memo) or reads
    memo[id(node)] = reads
    return reads


def _constant_parts(tree: ast.expr) -> list[ast.expr]:
    """The largest sub-expressions that read no state key (literals left out)."""
    memo: dict[int, bool] = {}
    _reads_state(tree, memo)
    out: list[ast.expr] = []
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.expr) and not memo.get(id(node), True):
            if not isinstance(node, ast.Constant):
                out.append(node)
            continue
        for child in ast.iter_child_nodes(node):
            if not (isinstance(node, ast.Call) and child is node.func):
                todo.append(child)
    return out


def _check_constants(tree: ast.expr, source: str) -> None:
    """Evaluate the parts that read no state once, now: one that fails would fail on
    every run. The operators' limits keep this fast whatever the expression."""
    ev = _evaluator()
    for part in _constant_parts(tree):
        try:
            ev._eval(part)
        except Exception as exc:
            text = ast.get_source_segment(source, part) or ast.unparse(part)
            raise ConditionError(
                f"condition {source!r}: {text!r} can never be evaluated: {_message(exc)}"
            ) from None


def _message(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


@dataclass(frozen=True, slots=True)
class ExpressionCondition:
    """A compiled, checked expression. Evaluating it never executes code."""

    source: str
    tree: ast.expr
    names: frozenset[str]

    def __call__(self, state: Mapping[str, Any]) -> bool:
        ev = _evaluator()
        previous, ev.state = ev.state, state
        try:
            return bool(ev._eval(self.tree))
        except _MissingKeyError as exc:
            raise ConditionError(
                f"condition {self.source!r} reads state key {exc.key!r}, which is not set"
            ) from None
        except ConditionError:
            raise
        except (IndexError, KeyError) as exc:
            raise ConditionError(
                f"condition {self.source!r} failed: no item {_message(exc)} in the state"
            ) from None
        except RecursionError:
            raise ConditionError(
                f"condition {self.source!r} failed: a state value is nested too deeply"
            ) from None
        except Exception as exc:
            raise ConditionError(f"condition {self.source!r} failed: {_message(exc)}") from None
        finally:
            ev.state = previous


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
        raise ConditionError(f"condition {text!r} cannot be parsed: {_message(exc)}") from None
    _check_tree(module, text)
    _check_constants(module.body, text)
    names = frozenset(
        n.id
        for n in ast.walk(module)
        if isinstance(n, ast.Name) and n.id not in ALLOWED_FUNCTIONS and n.id != "state"
    )
    return ExpressionCondition(text, module.body, names)


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
    """Named conditions, like tools. ``loader`` runs once before the first lookup (the
    default registry imports the ``graphrun.tools`` entry points there, since a package's
    module registers its conditions along with its tools)."""

    def __init__(self, loader: Callable[[], None] | None = None) -> None:
        self._items: dict[str, NamedCondition] = {}
        self._loader = loader

    def _load(self) -> None:
        if self._loader is not None:
            loader, self._loader = self._loader, None
            loader()

    def add(
        self, name: str, fn: Callable[[Mapping[str, Any]], Any], description: str = ""
    ) -> NamedCondition:
        doc = description or (fn.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        cond = NamedCondition(name, fn, doc)
        self._items[name] = cond
        return cond

    def get(self, name: str) -> NamedCondition:
        self._load()
        try:
            return self._items[name]
        except KeyError:
            raise ConditionError(f"unknown named condition {name!r}") from None

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def __iter__(self) -> Iterator[NamedCondition]:
        self._load()
        return iter(sorted(self._items.values(), key=lambda c: c.source))


def _load_tool_entry_points() -> None:
    from graphrun.engine.tools import default_registry

    default_registry.load_entry_points()


default_conditions = ConditionRegistry(loader=_load_tool_entry_points)


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
