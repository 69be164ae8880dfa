"""Exceptions raised by the engine. Every message names the thing at fault."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class GraphrunError(Exception):
    """Base class of every error graphrun raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found while checking a graph or a spec.

    ``location`` is a JSON-path-like address such as ``nodes.review.retry.max_attempts``.
    """

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class ProblemsError(GraphrunError):
    """An error that carries every problem found, not only the first."""

    title = "invalid"

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{self.title} ({len(self.problems)} problem(s)):\n{lines}")


class GraphValidationError(ProblemsError):
    """A graph built in Python failed validation."""

    title = "invalid graph"


class GraphSpecError(ProblemsError):
    """A JSON/YAML graph spec failed validation; locations are JSON paths."""

    title = "invalid graph spec"


class ConditionError(GraphrunError):
    """A condition expression was rejected when compiled or failed when evaluated."""


class ToolError(GraphrunError):
    """A tool could not be registered or found."""


class StateError(GraphrunError):
    """A state or a node's update broke the graph's state rules (schema, reducers)."""


class NodeTimeoutError(GraphrunError):
    """A node ran longer than its timeout policy allows."""


class CheckpointConflictError(GraphrunError):
    """Another executor already recorded this step: this executor must stop (fencing)."""
