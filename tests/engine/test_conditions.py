"""Safe condition expressions: what they can do, and everything they refuse."""

from __future__ import annotations

import operator
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphrun.engine import ConditionError, ConditionRegistry, compile_expression, condition
from graphrun.engine.conditions import (
    ALLOWED_FUNCTIONS,
    MAX_DEPTH,
    MAX_EXPONENT,
    MAX_LENGTH,
    NamedCondition,
    resolve_condition,
)


def holds(source: str, state: Mapping[str, Any]) -> bool:
    return compile_expression(source)(state)


# -- what conditions can do ------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "state", "expected"),
    [
        ("quality_score >= 0.9 or iteration >= 5", {"quality_score": 0.5, "iteration": 5}, True),
        ("quality_score >= 0.9 or iteration >= 5", {"quality_score": 0.5, "iteration": 4}, False),
        ("a and not b", {"a": 1, "b": 0}, True),
        ("a and not b", {"a": 1, "b": 2}, False),
        ("1 < n <= 3", {"n": 3}, True),
        ("1 < n <= 3", {"n": 4}, False),
        ("status == 'done'", {"status": "done"}, True),
        ("status != 'done'", {"status": "done"}, False),
        ("'x' in tags", {"tags": ["x", "y"]}, True),
        ("'z' not in tags", {"tags": ["x", "y"]}, True),
        ("x is None", {"x": None}, True),
        ("x is not None", {"x": None}, False),
        ("(n * 2 + 1) % 4 == 3", {"n": 5}, True),
        ("n // 3 == 2 and n / 4 == 2", {"n": 8}, True),
        ("-n == abs(n) * -1", {"n": 7}, True),
        ("n ** 2 == 49", {"n": 7}, True),
        ("'big' if n > 10 else 'small'", {"n": 3}, True),  # non-empty string is truthy
        ("len(items) == 3", {"items": [1, 2, 3]}, True),
        ("min(items) == 1 and max(items) == 3", {"items": [3, 1, 2]}, True),
        ("sum(items) == 6", {"items": [1, 2, 3]}, True),
        ("sum(items, 10) == 16", {"items": [1, 2, 3]}, True),
        ("round(x) == 3 and round(x, 1) == 2.7", {"x": 2.66}, True),
        ("any(flags) and not all(flags)", {"flags": [True, False]}, True),
        ("doc.meta.lang == 'en'", {"doc": {"meta": {"lang": "en"}}}, True),
        ("doc['meta']['lang'] == 'en'", {"doc": {"meta": {"lang": "en"}}}, True),
        ("items[0] == 'a' and items[-1] == 'c'", {"items": ["a", "b", "c"]}, True),
        ("state['odd key'] == 1", {"odd key": 1}, True),
        ("len(state) == 2", {"a": 1, "b": 2}, True),
        ("[a, b] == [1, 2] and (a, b) == (1, 2)", {"a": 1, "b": 2}, True),
        ("True", {}, True),
        ("1 == 2", {}, False),
    ],
)
def test_expressions_evaluate_like_python(
    source: str, state: dict[str, Any], expected: bool
) -> None:
    assert holds(source, state) is expected


def test_a_state_key_wins_over_the_whole_state_name() -> None:
    assert holds("state == 3", {"state": 3})
    assert holds("len(state) == 1", {"x": 0})


def test_names_lists_the_state_keys_read() -> None:
    cond = compile_expression("a > 1 and len(b) > c.d or state['e']")
    assert cond.names == frozenset({"a", "b", "c"})
    assert cond.source == "a > 1 and len(b) > c.d or state['e']"


def test_surrounding_whitespace_is_ignored() -> None:
    assert compile_expression("  x == 1 \n").source == "x == 1"


def test_a_compiled_condition_is_reused_across_states() -> None:
    cond = compile_expression("n > 2")
    assert [cond({"n": n}) for n in range(5)] == [False, False, False, True, True]


# -- clear errors -------------------------------------------------------------------------


def test_a_missing_key_names_the_key() -> None:
    cond = compile_expression("score > 0.5")
    with pytest.raises(ConditionError, match=r"reads state key 'score', which is not set"):
        cond({"other": 1})


def test_a_missing_nested_key_names_its_path() -> None:
    cond = compile_expression("doc.meta.lang == 'en'")
    with pytest.raises(ConditionError, match=r"'doc\.meta\.lang'"):
        cond({"doc": {"meta": {}}})


def test_a_missing_item_is_a_condition_error() -> None:
    with pytest.raises(ConditionError, match="no item"):
        holds("items[5] == 1", {"items": [1]})
    with pytest.raises(ConditionError, match="no item"):
        holds("d['k'] == 1", {"d": {}})


def test_dot_access_on_a_non_object_is_refused() -> None:
    with pytest.raises(ConditionError, match=r"cannot read \.upper of a str"):
        holds("name.upper == 1", {"name": "x"})


def test_type_errors_become_condition_errors() -> None:
    with pytest.raises(ConditionError, match="failed"):
        holds("x < 'a'", {"x": 1})
    with pytest.raises(ConditionError, match="failed"):
        holds("len(x) > 0", {"x": 5})


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("x ==", "not a valid expression"),
        ("x = 1", "not a valid expression"),
        ("x == 1; y", "not a valid expression"),
        ("x\x00 == 1", "x"),
    ],
)
def test_malformed_expressions_are_rejected(source: str, message: str) -> None:
    with pytest.raises(ConditionError, match=message):
        compile_expression(source)


def test_a_condition_must_be_a_string() -> None:
    with pytest.raises(ConditionError, match="must be a string, got int"):
        compile_expression(3)  # type: ignore[arg-type]


def test_length_limit() -> None:
    at_limit = "x" + " " * (MAX_LENGTH - 5) + "== 1"
    assert len(at_limit) == MAX_LENGTH
    assert compile_expression(at_limit)({"x": 1})
    assert compile_expression(at_limit + "  ").source == at_limit  # outer spaces don't count
    too_long = "x" + " " * (MAX_LENGTH - 4) + "== 1"
    with pytest.raises(ConditionError, match=f"{MAX_LENGTH + 1} characters long; the limit is"):
        compile_expression(too_long)


def test_depth_limit() -> None:
    shallow = "not " * (MAX_DEPTH - 3) + "x"
    assert compile_expression(shallow)({"x": True}) is ((MAX_DEPTH - 3) % 2 == 0)
    deep = "not " * (MAX_DEPTH + 1) + "x"
    with pytest.raises(ConditionError, match=f"nested deeper than the limit of {MAX_DEPTH}"):
        compile_expression(deep)


def test_exponent_limit_at_run_time() -> None:
    cond = compile_expression("x ** e > 0")
    assert cond({"x": 2, "e": MAX_EXPONENT})
    with pytest.raises(ConditionError, match=f"larger than the limit of {MAX_EXPONENT}"):
        cond({"x": 2, "e": MAX_EXPONENT + 1})


def test_keyword_arguments_are_rejected() -> None:
    with pytest.raises(ConditionError, match="keyword arguments are not allowed"):
        compile_expression("max(items, key=abs) > 1")


def test_only_allowed_functions_may_be_called() -> None:
    assert set(ALLOWED_FUNCTIONS) == {"len", "min", "max", "abs", "round", "any", "all", "sum"}
    for source in ("int(x) == 1", "str(x) == '1'", "list(x) == []", "f(x)", "x.get('a')"):
        with pytest.raises(ConditionError, match="allowed functions"):
            compile_expression(source)


# -- adversarial input ---------------------------------------------------------------------

ADVERSARIAL = [
    "__import__('os').system('id')",
    "().__class__.__bases__[0].__subclasses__()",
    "().__class__.__mro__[1].__subclasses__()",
    "x.__class__",
    "x['__class__']",
    "state['__dict__']",
    "__builtins__",
    "_private == 1",
    "getattr(x, 'y')",
    "open('/etc/passwd')",
    "exec('1')",
    "eval('1')",
    "compile('1', 'f', 'eval')",
    "9**9**9",
    "'a'*10**10",
    "10**10*'a'",
    "[1]*10**10",
    "((10**100)**100)**100 > 0",
    "2**101 > 1",
    "round(1, -10**100) == 0",
    "'%0999999999d' % 1",
    "'%s' % x",
    "len([[1]*99999]*99999) > 0",
    "[[1]*99999]*99999 == [[1]*99998+[1]]*99999",
    "sum([[1]*99999]*99999, []) == []",
    "'a'*99999 + 'b'*99999",
    "1/0 == 1",
    "x > 1 and 1 % 0",
    "lambda: 0",
    "(lambda x: x)(1)",
    "[x for x in range(10**9)]",
    "[y for y in [1] for z in [1]]",
    "{k: k for k in [1]}",
    "{1, 2}",
    "{'a': 1}",
    "(y for y in [1])",
    "[*x]",
    "f'{x:>999999999}'",
    "f'{x}'",
    "(y := 1)",
    "x[::-1] == x",
    "await x",
    "yield x",
    "(" * 10_000 + "1" + ")" * 10_000,
    "(" * 300 + "1" + ")" * 300,
    "-" * 900 + "1",
    "not " * 200 + "x",
    "1" + "+1" * 400,
    "x" + ".y" * 100,
    "[" * 400 + "]" * 400,
]


@pytest.mark.parametrize("source", ADVERSARIAL)
def test_adversarial_expressions_are_rejected_when_compiled(source: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ConditionError):
        compile_expression(source)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("source", ["9**9**9", "'a'*10**10", "1/0 == 1"])
def test_a_constant_part_that_cannot_succeed_is_named(source: str) -> None:
    with pytest.raises(ConditionError, match="can never be evaluated"):
        compile_expression(source)


def test_constant_parts_that_succeed_are_kept() -> None:
    cond = compile_expression("x < 2**10 and name == 'ab' * 2 and len([1, 2] * 3) == 6")
    assert cond({"x": 1000, "name": "abab"})


class _Canary:
    """A state value that records any attempt to reach into it."""

    touched: list[str]

    def __init__(self) -> None:
        object.__setattr__(self, "touched", [])

    def __getattribute__(self, name: str) -> Any:
        if name != "touched" and not name.startswith("__"):  # isinstance() reads __class__
            object.__getattribute__(self, "touched").append(name)
        return object.__getattribute__(self, name)


def test_dot_access_never_reaches_getattr() -> None:
    canary = _Canary()
    with pytest.raises(ConditionError):
        holds("c.touched == []", {"c": canary})
    assert canary.touched == []


# State-dependent bombs cannot be refused when compiled; they must fail fast when run.
RUNTIME_BOMBS: list[tuple[str, dict[str, Any]]] = [
    ("x ** e > 0", {"x": 10**100, "e": 100}),
    ("x ** e > 0", {"x": 9, "e": 9**9}),
    ("s * n == ''", {"s": "a", "n": 10**10}),
    ("n * s == ''", {"s": ["a"], "n": 10**10}),
    ("s + s == ''", {"s": "a" * 60_000}),
    ("round(n, d) == 0", {"n": 1, "d": -(10**100)}),
    ("x * x * x * x > 0", {"x": 10**1000}),
    ("fmt % x == ''", {"fmt": "%0999999999d", "x": 1}),
    ("sum(x, []) == []", {"x": [[1]] * 10}),
    ("[x, x] == []", {"x": [1] * 60_000}),
    ("d[k] == 1", {"d": {"_secret": 1}, "k": "_secret"}),
]


@pytest.mark.parametrize(("source", "state"), RUNTIME_BOMBS)
def test_state_dependent_bombs_fail_fast(source: str, state: dict[str, Any]) -> None:
    cond = compile_expression(source)
    started = time.perf_counter()
    with pytest.raises(ConditionError):
        cond(state)
    assert time.perf_counter() - started < 1.0


def test_underscored_keys_are_refused_at_run_time_too() -> None:
    with pytest.raises(ConditionError, match="may not start with '_'"):
        holds("d[k] == 1", {"d": {"_secret": 1}, "k": "_secret"})
    assert holds("d[k] == 1", {"d": {"public": 1}, "k": "public"})


def test_deeply_nested_state_values_give_a_condition_error() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    assert holds("x != 1", {"x": deep})  # reading a deep value is fine
    other: list[Any] = []
    for _ in range(100_000):
        other = [other]
    with pytest.raises(ConditionError, match="nested too deeply"):
        holds("x == y", {"x": deep, "y": other})


def test_large_state_values_are_cheap_to_read() -> None:
    big = list(range(200_000))
    cond = compile_expression("len(items) > 10")
    started = time.perf_counter()
    for _ in range(200):
        assert cond({"items": big})
    assert time.perf_counter() - started < 0.5


def test_a_shared_condition_is_safe_across_threads() -> None:
    # A compiled graph (and its conditions) may serve runs in several threads.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    cond = compile_expression("x == expected")
    errors: list[str] = []

    def worker(value: int) -> None:
        for _ in range(5_000):
            try:
                ok = cond({"x": value, "expected": value})
            except ConditionError as exc:
                errors.append(str(exc))
                return
            if not ok:
                errors.append(f"thread {value} saw another thread's state")
                return

    try:
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(previous)
    assert errors == []


# -- property tests ---------------------------------------------------------------------------

EXPR_CHARS = "abxyz0123456789 +-*/%()<>=!.,[]'\"_:#@~^&|\\{}\n" + "andornotinifelseTrueFalseNone"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.text(alphabet=EXPR_CHARS, max_size=40), x=st.integers(-5, 5))
def test_any_text_compiles_or_fails_with_a_condition_error(source: str, x: int) -> None:
    try:
        cond = compile_expression(source)
    except ConditionError:
        return
    try:
        result = cond({"a": x, "b": [x, 1], "x": x, "y": "s", "z": {"a": x}})
    except ConditionError:
        return
    assert isinstance(result, bool)


Leaf = tuple[str, Callable[[Mapping[str, int]], Any]]


def _leaves() -> st.SearchStrategy[Leaf]:
    names = st.sampled_from(["a", "b", "c"]).map(
        lambda n: (n, lambda s, n=n: s[n])  # type: ignore[misc]
    )
    numbers = st.integers(-20, 20).map(lambda v: (f"({v})", lambda s, v=v: v))  # type: ignore[misc]
    return names | numbers


_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
}


def _extend(children: st.SearchStrategy[Leaf]) -> st.SearchStrategy[Leaf]:
    def arith(op: str, left: Leaf, right: Leaf) -> Leaf:
        f = _ARITH[op]
        return f"({left[0]} {op} {right[0]})", lambda s: f(left[1](s), right[1](s))

    def func(name: str, args: list[Leaf]) -> Leaf:
        impl: Callable[..., Any] = {"max": max, "min": min}[name]
        text = ", ".join(a[0] for a in args)
        return f"{name}({text})", lambda s: impl(*(a[1](s) for a in args))

    def absolute(arg: Leaf) -> Leaf:
        return f"abs({arg[0]})", lambda s: abs(arg[1](s))

    return st.one_of(
        st.builds(arith, st.sampled_from(sorted(_ARITH)), children, children),
        st.builds(
            func, st.sampled_from(["max", "min"]), st.lists(children, min_size=2, max_size=3)
        ),
        st.builds(absolute, children),
    )


def _predicates() -> st.SearchStrategy[Leaf]:
    terms = st.recursive(_leaves(), _extend, max_leaves=6)

    def compare(op: str, left: Leaf, right: Leaf) -> Leaf:
        f = _COMPARE[op]
        return f"{left[0]} {op} {right[0]}", lambda s: f(left[1](s), right[1](s))

    base = st.builds(compare, st.sampled_from(sorted(_COMPARE)), terms, terms)

    def combine(children: st.SearchStrategy[Leaf]) -> st.SearchStrategy[Leaf]:
        def both(op: str, left: Leaf, right: Leaf) -> Leaf:
            if op == "and":
                return f"({left[0]}) and ({right[0]})", lambda s: left[1](s) and right[1](s)
            return f"({left[0]}) or ({right[0]})", lambda s: left[1](s) or right[1](s)

        def negate(arg: Leaf) -> Leaf:
            return f"not ({arg[0]})", lambda s: not arg[1](s)

        return st.builds(both, st.sampled_from(["and", "or"]), children, children) | st.builds(
            negate, children
        )

    return st.recursive(base, combine, max_leaves=4)


@settings(max_examples=300, deadline=None)
@given(
    predicate=_predicates(),
    state=st.fixed_dictionaries({k: st.integers(-50, 50) for k in "abc"}),
)
def test_generated_expressions_agree_with_a_reference_evaluator(
    predicate: Leaf, state: dict[str, int]
) -> None:
    source, reference = predicate
    cond = compile_expression(source)
    assert cond(state) is bool(reference(state)), source


# -- named conditions ---------------------------------------------------------------------------


def test_named_conditions_register_and_resolve() -> None:
    registry = ConditionRegistry()

    @condition("needs_review", registry=registry)
    def needs_review(state: Mapping[str, Any]) -> bool:
        """Reviews are needed below a score of 0.8.

        More text that is not part of the description."""
        return bool(state["score"] < 0.8)

    assert "needs_review" in registry
    found = resolve_condition("needs_review", registry)
    assert isinstance(found, NamedCondition)
    assert found({"score": 0.5}) is True
    assert found({"score": 0.9}) is False
    assert found.description == "Reviews are needed below a score of 0.8."
    assert [c.source for c in registry] == ["needs_review"]
    assert needs_review({"score": 0.1}) is True  # the decorator returns the function


def test_decorator_defaults_to_the_function_name() -> None:
    registry = ConditionRegistry()

    @condition(registry=registry)
    def is_done(state: Mapping[str, Any]) -> bool:
        return bool(state.get("done"))

    assert registry.get("is_done")({"done": 1}) is True


def test_a_registered_name_wins_over_an_expression() -> None:
    registry = ConditionRegistry()
    registry.add("done", lambda state: True)
    assert resolve_condition("done", registry)({}) is True
    # without the registration the same text is an expression reading key 'done'
    with pytest.raises(ConditionError, match="'done'"):
        resolve_condition("done", ConditionRegistry())({})


def test_unknown_named_condition() -> None:
    with pytest.raises(ConditionError, match="unknown named condition 'nope'"):
        ConditionRegistry().get("nope")


def test_a_failing_named_condition_names_itself() -> None:
    registry = ConditionRegistry()
    registry.add("broken", lambda state: state["missing"])
    with pytest.raises(ConditionError, match="named condition 'broken' failed"):
        registry.get("broken")({})


def test_registries_are_sorted_by_name() -> None:
    registry = ConditionRegistry()
    for name in ("b", "c", "a"):
        registry.add(name, lambda state: True, description=f"cond {name}")
    assert [(c.source, c.description) for c in registry] == [
        ("a", "cond a"),
        ("b", "cond b"),
        ("c", "cond c"),
    ]


def test_the_engine_never_calls_eval_exec_or_compile() -> None:
    import ast as python_ast
    from pathlib import Path

    import graphrun.engine

    root = Path(graphrun.engine.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        tree = python_ast.parse(path.read_text(), filename=str(path))
        for node in python_ast.walk(tree):
            if (
                isinstance(node, python_ast.Call)
                and isinstance(node.func, python_ast.Name)
                and node.func.id in {"eval", "exec", "compile", "__import__"}
            ):
                offenders.append(f"{path.name}:{node.lineno} {node.func.id}()")
    assert offenders == []


def test_the_default_registry_finds_conditions_of_tool_entry_points() -> None:
    """A fresh process that never imported the code review package still finds its named
    condition, because looking one up loads the graphrun.tools entry points."""
    import subprocess
    import sys

    code = (
        "from graphrun.engine.conditions import default_conditions\n"
        "assert 'quality_below_threshold' in default_conditions\n"
        "print(default_conditions.get('quality_below_threshold').source)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "quality_below_threshold"
