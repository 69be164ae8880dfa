"""How a run ends: its result, and the signals that end the step loop."""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any

from graphrun.engine.errors import GraphrunError
from graphrun.engine.state import State
from graphrun.engine.status import RunStatus


@dataclass(slots=True)
class RunResult:
    """Where a run ended up (or paused)."""

    run_id: str
    status: RunStatus
    state: State
    step: int
    pending: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None
    message: str | None = None


class NodeFailedError(GraphrunError):
    """A node raised (after its retries); carries what the run records."""

    def __init__(self, node: str, exc: BaseException, attempts: int) -> None:
        self.node = node
        self.attempts = attempts
        self.info = {
            "node": node,
            "type": type(exc).__name__,
            "message": str(exc),
            "traceback": "".join(traceback.format_exception(exc)),
            "attempts": attempts,
        }
        super().__init__(f"node {node!r} failed: {type(exc).__name__}: {exc}")


class PauseRunError(Exception):
    """Ends the step loop with status ``interrupted``."""

    def __init__(self, info: dict[str, Any], pending: list[str], step: int) -> None:
        self.info = info
        self.pending = pending
        self.step = step


class StopRunError(Exception):
    """Ends the step loop with a final status."""

    def __init__(self, status: RunStatus, error: dict[str, Any] | None, message: str) -> None:
        self.status = status
        self.error = error
        self.message = message
