from __future__ import annotations

from typing import Any

from graphrun.agents.code_review.extract import extract_functions, innermost_function

from ._corpus import snippet


def test_corpus_functions(case: tuple[str, str, dict[str, Any]]) -> None:
    _, code, expected = case
    result = extract_functions(code)
    assert [f["qualname"] for f in result["functions"]] == expected["functions"]


def test_corpus_syntax_errors_are_reported_with_line_and_column(
    case: tuple[str, str, dict[str, Any]],
) -> None:
    _, code, expected = case
    error = extract_functions(code)["syntax_error"]
    if "syntax_error" in expected:
        assert error is not None
        assert {"line": error["line"], "column": error["column"]} == expected["syntax_error"]
        assert error["rule"] == "E999"
    else:
        assert error is None


def _by_name(qualname: str) -> dict[str, Any]:
    functions = extract_functions(snippet("methods"))["functions"]
    return next(f for f in functions if f["qualname"] == qualname)


def test_methods_nested_functions_and_classes_get_their_kind_and_class() -> None:
    assert _by_name("Shape.label")["kind"] == "method"
    assert _by_name("Shape.label")["class"] == "Shape"
    assert _by_name("Shape.Meta.describe")["class"] == "Meta"
    merge = _by_name("Shape.refresh.<locals>.merge")
    assert merge["kind"] == "nested_function"
    assert merge["class"] is None
    assert _by_name("area")["kind"] == "function"


def test_parameters_keep_their_kind_default_and_annotation() -> None:
    refresh = _by_name("Shape.refresh")
    assert [(p["name"], p["kind"], p["has_default"]) for p in refresh["params"]] == [
        ("self", "positional_or_keyword", False),
        ("force", "keyword_only", True),
        ("options", "var_keyword", False),
    ]
    describe = _by_name("Shape.Meta.describe")
    assert [(p["name"], p["kind"], p["has_default"]) for p in describe["params"]] == [
        ("self", "positional_only", False),
        ("verbose", "positional_or_keyword", True),
        ("parts", "var_positional", False),
    ]
    area = _by_name("area")
    assert [(p["name"], p["annotation"], p["has_default"]) for p in area["params"]] == [
        ("width", "float", False),
        ("height", "float", True),
    ]


def test_decorators_async_docstrings_and_spans() -> None:
    area = _by_name("area")
    assert area["decorators"] == ["functools.lru_cache(maxsize=None)"]
    assert (area["start_line"], area["line"], area["end_line"]) == (36, 37, 39)
    assert area["length"] == 3
    assert _by_name("Shape.refresh")["is_async"] is True
    assert _by_name("area")["is_async"] is False
    assert _by_name("Shape.unit")["has_docstring"] is False
    assert _by_name("Shape.label")["has_docstring"] is True
    assert _by_name("Shape.label")["decorators"] == ["property"]


def test_innermost_function_holding_a_line() -> None:
    functions = extract_functions(snippet("methods"))["functions"]
    assert innermost_function(functions, 26) == "Shape.refresh.<locals>.merge"
    assert innermost_function(functions, 28) == "Shape.refresh"
    assert innermost_function(functions, 36) == "area"  # the decorator line
    assert innermost_function(functions, 1) is None


def test_comments_indented_in_the_body_belong_to_the_function() -> None:
    code = "def foo():\n    print('debug')\n    # TODO: fix\n# module comment\nX = 1\n"
    [foo] = extract_functions(code)["functions"]
    assert foo["end_line"] == 3
    assert innermost_function([foo], 3) == "foo"
    assert innermost_function([foo], 4) is None


def test_line_numbers_count_only_python_line_breaks() -> None:
    code = "X = 1\f\ndef f():\r\n    # note\r\n    return 1\r\n\r\ndef g():\n    pass\n"
    spans = [
        (f["qualname"], f["line"], f["end_line"]) for f in extract_functions(code)["functions"]
    ]
    assert spans == [("f", 2, 4), ("g", 6, 7)]
