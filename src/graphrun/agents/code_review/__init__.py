"""The code review agent: real analysis of Python code, and real fixes, in a loop.

Importing this package registers its tools (``extract_functions``, ``check_complexity``,
``detect_issues``, ``suggest_improvements``, ``apply_fixes``, ``evaluate_quality``) and the
named condition ``quality_below_threshold``; the ``graphrun.tools`` entry point imports it
whenever a graph names one of them. The submitted code is parsed and linted, never
imported or executed.
"""

from graphrun.agents.code_review import tools as _tools  # registers the tools
from graphrun.agents.code_review.agent import (
    GRAPH_ALIASES,
    GRAPH_ID,
    GRAPH_PATH,
    load_graph,
    load_spec,
    review,
)
from graphrun.agents.code_review.inputs import MAX_CODE_BYTES, ReviewInputError

del _tools

__all__ = [
    "GRAPH_ALIASES",
    "GRAPH_ID",
    "GRAPH_PATH",
    "MAX_CODE_BYTES",
    "ReviewInputError",
    "load_graph",
    "load_spec",
    "review",
]
