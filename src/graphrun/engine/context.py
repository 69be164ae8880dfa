"""What a node sees besides the state: ``ctx``."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from graphrun.engine.events import Event, EventType
from graphrun.engine.tools import ToolRegistry

current_node: ContextVar[tuple[dict[str, Any], str, int] | None] = ContextVar(
    "graphrun_current_node", default=None
)
"""Where the code running now is: ``(labels, node, step)``, where ``labels`` holds
``run_id`` and the executor's labels (e.g. ``graph_id``). Set while a node runs (threads
included), so log lines can carry it. A tuple because it is set for every node."""


def where_now() -> dict[str, Any]:
    """The current node's ``run_id``, labels, ``node`` and ``step``; empty outside nodes."""
    where = current_node.get()
    if where is None:
        return {}
    labels, node, step = where
    return {**labels, "node": node, "step": step}


class NodeContext:
    """Passed to nodes that take a second parameter (``def node(state, ctx)``).

    ``ctx.log(...)`` adds a ``log`` event to the run's event log; it is safe to call from
    a sync node running in a worker thread.
    """

    __slots__ = ("_emit", "attempt", "graph", "node", "run_id", "step", "tools")

    def __init__(
        self,
        *,
        run_id: str,
        graph: str,
        step: int,
        node: str,
        attempt: int,
        tools: ToolRegistry,
        emit: Callable[[Event], None] | None,
    ) -> None:
        self.run_id = run_id
        self.graph = graph
        self.step = step
        self.node = node
        self.attempt = attempt
        self.tools = tools
        self._emit = emit

    def log(self, message: str, level: str = "info", **fields: Any) -> None:
        """Record a log event from inside the node."""
        if self._emit is None:
            return
        self._emit(
            Event(
                seq=0,  # numbered when the step's events are committed
                type=EventType.LOG,
                run_id=self.run_id,
                node=self.node,
                step=self.step,
                data={"message": str(message), "level": level, **fields},
                ts=time.time(),
            )
        )
