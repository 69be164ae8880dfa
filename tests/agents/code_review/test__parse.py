from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor

from graphrun.agents.code_review._parse import MAX_TREE_DEPTH, SYNTAX_RULE, parse


def test_valid_code_gives_a_tree() -> None:
    tree, issue = parse("x = 1\n")
    assert tree is not None
    assert issue is None


def test_a_syntax_error_is_a_located_issue() -> None:
    tree, issue = parse("def f(:\n    pass\n")
    assert tree is None
    assert issue is not None
    assert issue["rule"] == SYNTAX_RULE
    assert issue["severity"] == "error"
    assert (issue["line"], issue["column"]) == (1, 7)
    assert issue["message"].startswith("SyntaxError: ")


def test_a_nul_byte_is_located_where_it_is() -> None:
    _, issue = parse("x = 1\ny = 2\x00\n")
    assert issue is not None
    assert (issue["line"], issue["column"]) == (2, 6)


def test_nesting_too_deep_for_the_parser_is_an_issue_not_a_crash() -> None:
    _, issue = parse("x = " + "(" * 5000 + ")" * 5000 + "\n")
    assert issue is not None
    assert issue["rule"] == SYNTAX_RULE


def test_questionable_source_does_not_raise_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tree, issue = parse('import re\nPATTERN = re.compile("\\d+")\n')
    assert tree is not None
    assert issue is None


def test_a_tree_too_deep_to_walk_safely_is_an_issue_at_its_position() -> None:
    code = 'def f():\n    """Doc."""\n    return ' + "-" * (MAX_TREE_DEPTH + 50) + "1\n"
    tree, issue = parse(code)
    assert tree is None
    assert issue is not None
    assert issue["name"] == "too-deeply-nested"
    assert f"more than {MAX_TREE_DEPTH} levels deep" in issue["message"]
    assert issue["line"] == 3
    # Real code is far shallower and parses normally.
    assert parse('def f():\n    """Doc."""\n    return ' + "-" * 100 + "1\n")[1] is None


def test_parsing_from_many_threads_leaves_the_warning_filters_as_they_were() -> None:
    before = list(warnings.filters)
    code = 'import re\nPATTERN = re.compile("\\d+")\n' * 50
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(parse, [code] * 32))
    assert all(tree is not None for tree, _ in results)
    assert warnings.filters == before
