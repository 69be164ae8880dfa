from __future__ import annotations

import ast
import textwrap
from typing import Any

from graphrun.agents.code_review.smells import (
    MAX_FUNCTION_LINES,
    MAX_NESTING,
    MAX_PARAMETERS,
    find_smells,
)


def smells(code: str) -> list[dict[str, Any]]:
    return sorted(find_smells(ast.parse(textwrap.dedent(code))), key=lambda i: i["line"])


def rules(code: str) -> list[str]:
    return [f"{i['rule']}:{i['line']}" for i in smells(code)]


def test_long_function() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    code = f'def long():\n    """Doc."""\n{body}\n'
    [issue] = smells(code)
    assert issue["rule"] == "GR101"
    assert issue["message"] == f"`long` is {MAX_FUNCTION_LINES + 2} lines long (limit 50)"
    assert issue["severity"] == "warning"
    short = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES - 2))
    assert rules(f'def short():\n    """Doc."""\n{short}\n') == []


def test_too_many_parameters_does_not_count_self_but_counts_static_methods() -> None:
    code = '''
        class Box:
            """Doc."""

            def fits(self, a, b, c, d, e):
                """Doc."""

            @staticmethod
            def make(a, b, c, d, e, f):
                """Doc."""

        def pack(a, b, c, *rest, key=None, **extra):
            """Doc."""
    '''
    found = smells(code)
    assert [(i["rule"], i["line"]) for i in found] == [("GR102", 9), ("GR102", 12)]
    assert found[0]["message"] == f"`Box.make` takes 6 parameters (limit {MAX_PARAMETERS})"
    assert "`pack` takes 6 parameters" in found[1]["message"]


def test_deep_nesting_counts_blocks_and_treats_elif_as_one_level() -> None:
    deep = '''
        def f(x):
            """Doc."""
            for a in x:
                if a:
                    while a:
                        with a:
                            try:
                                pass
                            except ValueError:
                                pass
    '''
    [issue] = smells(deep)
    assert issue["rule"] == "GR103"
    assert issue["line"] == 8  # the `try`, 5 blocks deep
    assert issue["message"] == f"`f` nests blocks 5 deep (limit {MAX_NESTING})"
    chain = '''
        def g(x):
            """Doc."""
            if x == 1:
                return 1
            elif x == 2:
                return 2
            elif x == 3:
                return 3
            elif x == 4:
                return 4
            elif x == 5:
                return 5
            return 0
    '''
    assert rules(chain) == []


def test_nesting_inside_a_nested_function_is_its_own() -> None:
    code = '''
        def outer():
            """Doc."""
            if True:
                if True:
                    def inner():
                        if True:
                            if True:
                                if True:
                                    pass
    '''
    assert rules(code) == []


def test_missing_docstrings_only_on_public_api() -> None:
    code = """
        def public():
            pass

        def _private():
            pass

        class Thing:
            def __init__(self):
                pass

            def method(self):
                def helper():
                    pass

            def _hidden(self):
                pass

        class _Internal:
            def method(self):
                pass

        from typing import overload

        @overload
        def conv(x: int) -> int: ...
    """
    found = smells(code)
    assert [(i["rule"], i["line"]) for i in found] == [("GR104", 2), ("GR104", 12)]
    assert found[0]["message"] == "public function `public` has no docstring"
    assert found[1]["message"] == "public method `Thing.method` has no docstring"
    assert {i["severity"] for i in found} == {"info"}


def test_non_augmented_assignment() -> None:
    code = '''
        count = 0
        count = count + 1
        other = count + 1
        def f(n):
            """Doc."""
            n = n * 2
            return n
    '''
    found = smells(code)
    assert [(i["rule"], i["line"]) for i in found] == [("GR105", 3), ("GR105", 7)]
    assert found[0]["message"] == "`count = count + 1` can be written `count += 1`"
    assert found[1]["message"] == "`n = n * 2` can be written `n *= 2`"


def test_manual_sum_replaces_the_augmented_assignment_finding() -> None:
    code = '''
        def total(items):
            """Doc."""
            result = 0
            for item in items:
                result = result + item
            return result

        def weight(parcels):
            """Doc."""
            kg = 0
            for p in parcels:
                kg += p.kg
            return kg

        def running(xs):
            """Not a sum: the accumulator feeds itself."""
            acc = 1
            for x in xs:
                acc += acc * x
            return acc
    '''
    found = smells(code)
    assert [(i["rule"], i["line"]) for i in found] == [("GR106", 5), ("GR106", 12)]
    assert found[0]["message"].endswith("write `result += sum(items)`")
    assert found[1]["message"].endswith("write `kg += sum(p.kg for p in parcels)`")
