"""The run event log: one ordered, gap-free sequence of events per run."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class EventType(StrEnum):
    RUN_QUEUED = "run_queued"
    RUN_STARTED = "run_started"
    NODE_STARTED = "node_started"
    NODE_COMPLETED = "node_completed"
    NODE_RETRYING = "node_retrying"
    NODE_FAILED = "node_failed"
    LOG = "log"
    RUN_INTERRUPTED = "run_interrupted"
    RUN_RESUMED = "run_resumed"
    RUN_COMPLETED = "run_completed"
    RUN_FAILED = "run_failed"
    RUN_CANCELLED = "run_cancelled"
    RUN_STOPPED = "run_stopped"


TERMINAL_EVENTS = frozenset(
    {
        EventType.RUN_COMPLETED,
        EventType.RUN_FAILED,
        EventType.RUN_CANCELLED,
        EventType.RUN_STOPPED,
    }
)


@dataclass(slots=True)
class Event:
    """One entry of a run's event log.

    ``seq`` starts at 1 and has no gaps; ``ts`` is seconds since the epoch.
    """

    seq: int
    type: EventType
    run_id: str
    node: str | None = None
    step: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    ts: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "type": str(self.type),
            "run_id": self.run_id,
            "node": self.node,
            "step": self.step,
            "ts": self.ts,
            "data": self.data,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Event:
        return cls(
            seq=int(raw["seq"]),
            type=EventType(raw["type"]),
            run_id=str(raw["run_id"]),
            node=raw.get("node"),
            step=raw.get("step"),
            data=dict(raw.get("data") or {}),
            ts=float(raw.get("ts") or 0.0),
        )

    @property
    def is_terminal(self) -> bool:
        return self.type in TERMINAL_EVENTS


class EventSink(Protocol):
    """Receives a run's events after they are durable, in seq order."""

    def publish(self, events: Sequence[Event]) -> None: ...


class MemoryEventSink:
    """Keeps every published event in a list; for tests and in-process use."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish(self, events: Sequence[Event]) -> None:
        self.events.extend(events)

    def for_run(self, run_id: str) -> list[Event]:
        return [e for e in self.events if e.run_id == run_id]
