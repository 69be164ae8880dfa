"""The code review graph written in the two older spec forms, and the sample code that
came with them: the request bodies several test modules send."""

from __future__ import annotations

from typing import Any

DEBUG_CODE = "def foo():\n    print('debug')\n    # TODO: fix"

CALCULATE_TOTAL = """
def calculate_total(items):
    total = 0
    for item in items:
        total = total + item
    return total
"""

# The edge-map form: a nodes list of tool names, an edges map, a named condition.
EDGE_MAP_REVIEW: dict[str, Any] = {
    "graph_id": "code_review_graph",
    "start_node": "extract_functions",
    "nodes": [
        "extract_functions",
        "check_complexity",
        "detect_issues",
        "suggest_improvements",
        "evaluate_quality",
    ],
    "edges": {
        "extract_functions": {"default_next": "check_complexity", "branches": []},
        "check_complexity": {"default_next": "detect_issues", "branches": []},
        "detect_issues": {"default_next": "suggest_improvements", "branches": []},
        "suggest_improvements": {"default_next": "evaluate_quality", "branches": []},
        "evaluate_quality": {
            "default_next": None,
            "branches": [{"condition": "quality_below_threshold", "target": "detect_issues"}],
        },
    },
}


def next_map_review(condition: str = "quality_score >= 7 or iteration >= 5") -> dict[str, Any]:
    """The next-map form: a nodes map of {tool, next}, looping on ``condition``."""
    return {
        "name": "code_review_workflow",
        "nodes": {
            "extract": {"tool": "extract_functions", "next": "check_complexity"},
            "check_complexity": {"tool": "check_complexity", "next": "detect_issues"},
            "detect_issues": {"tool": "detect_issues", "next": "suggest_improvements"},
            "suggest_improvements": {"tool": "suggest_improvements", "next": "evaluate_quality"},
            "evaluate_quality": {
                "tool": "evaluate_quality",
                "next": {"condition": condition, "if_true": "end", "if_false": "check_complexity"},
            },
        },
        "start_node": "extract",
    }
