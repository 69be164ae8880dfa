"""Cyclomatic complexity per function and the module's maintainability index (radon).

The normalized ``score`` (0..1, higher is simpler) is computed from each function's
cyclomatic complexity ``cc``: a function scores ``1`` up to ``cc`` 5 (radon's rank A) and
falls linearly to ``0`` at ``cc`` 30, ``f(cc) = clamp(1 - (cc - 5) / 25, 0, 1)``. The module
scores the mean of its functions' ``f`` averaged with the worst one, so one tangled
function counts even among many simple ones: ``score = (mean(f) + min(f)) / 2``. A module
without functions scores 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from radon.complexity import cc_rank, cc_visit
from radon.metrics import mi_rank, mi_visit

from graphrun.agents.code_review._parse import parse, quietly
from graphrun.agents.code_review.extract import functions_in

SIMPLE_UP_TO = 5
ZERO_AT = 30


def function_score(cc: int) -> float:
    """``f(cc)``: 1 for simple functions, 0 from complexity :data:`ZERO_AT` up."""
    return min(1.0, max(0.0, 1 - (cc - SIMPLE_UP_TO) / (ZERO_AT - SIMPLE_UP_TO)))


def _flatten(blocks: Iterable[Any]) -> Iterator[Any]:
    # radon nests methods in classes and closures in functions; walk all of them.
    for block in blocks:
        if hasattr(block, "methods"):
            yield from _flatten(block.methods)
            yield from _flatten(getattr(block, "inner_classes", []))
        else:
            yield block
            yield from _flatten(getattr(block, "closures", []))


def complexity_score(values: list[int]) -> float:
    """The module's normalized score from its functions' complexities."""
    if not values:
        return 1.0
    scores = [function_score(v) for v in values]
    return round((sum(scores) / len(scores) + min(scores)) / 2, 4)


def analyse_complexity(code: str) -> dict[str, Any]:
    """Complexity of every function and the module's maintainability.

    Returns ``functions`` (qualname, name, line, end_line, complexity, rank), ``average``,
    ``max``, ``maintainability_index`` (0..100), ``maintainability_rank`` (A, B, C),
    ``score`` (see the module docstring) and ``error`` (why the code could not be
    measured, else None). Unparsable code gets no numbers.
    """
    tree, syntax = parse(code)
    if tree is None:
        assert syntax is not None
        return {
            "functions": [],
            "average": None,
            "max": None,
            "maintainability_index": None,
            "maintainability_rank": None,
            "score": None,
            "error": f"cannot measure code that does not parse (line {syntax['line']})",
        }
    names = {f["line"]: f["qualname"] for f in functions_in(tree, code)}
    rows = []
    seen: set[tuple[int, int]] = set()
    for block in _flatten(quietly(cc_visit, code)):
        # radon lists methods both inside their class and on their own.
        if (block.lineno, block.col_offset) in seen:
            continue
        seen.add((block.lineno, block.col_offset))
        rows.append(
            {
                "qualname": names.get(block.lineno, block.name),
                "name": block.name,
                "line": block.lineno,
                "end_line": block.endline,
                "complexity": int(block.complexity),
                "rank": cc_rank(block.complexity),
            }
        )
    rows.sort(key=lambda r: r["line"])
    values = [r["complexity"] for r in rows]
    mi = round(float(quietly(mi_visit, code, True)), 2)
    return {
        "functions": rows,
        "average": round(sum(values) / len(values), 2) if values else 0.0,
        "max": max(values, default=0),
        "maintainability_index": mi,
        "maintainability_rank": mi_rank(mi),
        "score": complexity_score(values),
        "error": None,
    }
