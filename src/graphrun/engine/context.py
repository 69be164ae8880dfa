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


class NodeInterrupt(Exception):  # noqa: N818 - a signal, not an error
    """Raised by :meth:`NodeContext.interrupt` to pause the run until input arrives."""

    def __init__(self, node: str, payload: Any, index: int) -> None:
        super().__init__(f"node {node!r} is waiting for input")
        self.node = node
        self.payload = payload
        self.index = index


class Journal:
    """What a node did through ``ctx`` in a step that was interrupted: log events
    already written, ``once`` results and resume values. When the step runs again
    after a resume, it replays from here instead of repeating the side effects."""

    __slots__ = ("logs", "once", "resumes")

    def __init__(
        self,
        logs: int = 0,
        once: dict[str, Any] | None = None,
        resumes: list[Any] | None = None,
    ) -> None:
        self.logs = logs
        self.once: dict[str, Any] = dict(once or {})
        self.resumes: list[Any] = list(resumes or [])

    def to_dict(self) -> dict[str, Any]:
        return {"logs": self.logs, "once": self.once, "resumes": self.resumes}

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> Journal:
        raw = raw or {}
        return cls(int(raw.get("logs", 0)), raw.get("once"), raw.get("resumes"))


class NodeContext:
    """Passed to nodes that take a second parameter (``def node(state, ctx)``).

    ``ctx.log(...)`` adds a ``log`` event to the run's event log; it is safe to call from
    a sync node running in a worker thread. ``ctx.interrupt(payload)`` pauses the run
    until someone resumes it with input, and then returns that input. ``ctx.once(key,
    fn)`` runs a side effect at most once per node and step, even when an interrupt
    makes the step run again.
    """

    __slots__ = (
        "_emit",
        "_interrupts",
        "_logged",
        "_prior",
        "attempt",
        "graph",
        "journal",
        "node",
        "run_id",
        "step",
        "tools",
    )

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
        prior: Journal | None = None,
    ) -> None:
        self.run_id = run_id
        self.graph = graph
        self.step = step
        self.node = node
        self.attempt = attempt
        self.tools = tools
        self._emit = emit
        self._prior = prior or Journal()
        # What this attempt did; becomes the journal if the step is interrupted.
        self.journal = Journal(self._prior.logs, self._prior.once, self._prior.resumes)
        self._logged = 0
        self._interrupts = 0

    def interrupt(self, payload: Any = None) -> Any:
        """Pause the run (status ``interrupted``, ``payload`` shown to whoever resumes
        it). When the run is resumed, the step runs again and this call returns the
        input given to the resume. A node may ask several times; each call gets the
        input of its own resume, in order."""
        index = self._interrupts
        self._interrupts += 1
        if index < len(self.journal.resumes):
            return self.journal.resumes[index]
        raise NodeInterrupt(self.node, payload, index)

    def once(self, key: str, effect: Callable[[], Any]) -> Any:
        """Run ``effect()`` once for this node and step and remember its (JSON) result;
        when the step runs again after a resume, return the remembered result."""
        if key in self.journal.once:
            return self.journal.once[key]
        value = effect()
        self.journal.once[key] = value
        return value

    def log(self, message: str, level: str = "info", **fields: Any) -> None:
        """Record a log event from inside the node (not again when a resumed step
        repeats the call)."""
        self._logged += 1
        if self._logged <= self._prior.logs:
            return
        self.journal.logs = self._logged
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
