"""Checkpoints: what the executor hands to persistence after every step.

A checkpoint holds the step's *delta* (the keys it wrote) and the next pending set; every
``snapshot_every`` steps it also holds the full state, so loading replays at most that
many deltas. The ``(run_id, step)`` pair is unique: a second executor that ran the same
step loses the insert and must stop (fencing).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from graphrun.engine.errors import CheckpointConflictError
from graphrun.engine.events import Event
from graphrun.engine.state import State
from graphrun.engine.status import RunStatus

RecordKind = Literal["checkpoint", "events"]


@dataclass(slots=True)
class StepRecord:
    """Everything one commit writes, in one transaction.

    ``kind="events"`` records carry only events (written before a slow step starts, so
    watchers see ``node_started`` live); they have no checkpoint row.
    """

    run_id: str
    step: int
    kind: RecordKind
    status: RunStatus
    events: list[Event]
    delta: State | None = None
    snapshot: State | None = None
    pending: list[str] = field(default_factory=list)
    barriers: dict[str, list[str]] = field(default_factory=dict)
    nodes: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None
    interrupt: Any = None
    # The executor waits for this record before going on: a store may commit it at
    # once instead of batching it with others (it need not).
    urgent: bool = False


@dataclass(slots=True)
class RunCheckpoint:
    """A run as it stands after its last recorded step: what resuming needs."""

    run_id: str
    step: int
    state: State
    pending: list[str]
    barriers: dict[str, list[str]]
    last_seq: int
    status: RunStatus
    error: dict[str, Any] | None = None
    interrupt: Any = None


@dataclass(slots=True)
class CheckpointRow:
    """One stored checkpoint (what the history and time-travel views list)."""

    step: int
    nodes: list[str]
    delta: State
    snapshot: State | None
    pending: list[str]
    barriers: dict[str, list[str]]
    status: RunStatus
    interrupt: Any = None


class Checkpointer(Protocol):
    """Persistence as the executor sees it.

    ``save`` must take what it needs from the record before it returns (the executor goes
    on and may reuse objects) and return an awaitable that completes once the record is
    durable. Records of one run are committed in the order ``save`` was called.
    A record that cannot be serialized (not JSON) makes ``save`` itself raise
    ``TypeError`` or ``ValueError``, with nothing written; every other failure
    (e.g. :class:`CheckpointConflictError`) comes through the awaitable.
    """

    def save(self, record: StepRecord) -> Awaitable[None]: ...

    async def load(self, run_id: str) -> RunCheckpoint | None: ...


def rebuild_state(rows: Sequence[CheckpointRow], upto: int | None = None) -> State:
    """The full state after step ``upto`` (the last row when None) from the newest
    snapshot at or before it and the deltas after that snapshot."""
    chosen = [r for r in rows if upto is None or r.step <= upto]
    if not chosen:
        raise LookupError(f"no checkpoint at or before step {upto}")
    start = max(i for i, r in enumerate(chosen) if r.snapshot is not None or i == 0)
    state: State = dict(chosen[start].snapshot or {})
    if chosen[start].snapshot is None:
        state.update(chosen[start].delta)
    for row in chosen[start + 1 :]:
        state.update(row.delta)
    return state


def json_copy(value: Any) -> Any:
    """A deep copy through JSON: what a real store would give back."""
    return json.loads(json.dumps(value))


class MemoryCheckpointer:
    """Keeps checkpoints and events in memory. Same contract as the SQL store."""

    def __init__(self) -> None:
        self.rows: dict[str, list[CheckpointRow]] = {}
        self.events: dict[str, list[Event]] = {}
        self.status: dict[str, RunStatus] = {}
        self.errors: dict[str, dict[str, Any] | None] = {}
        self.interrupts: dict[str, Any] = {}
        self._steps: dict[str, set[int]] = {}  # checkpointed steps per run, for fencing

    def save(self, record: StepRecord) -> Awaitable[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        json.dumps([record.delta, record.snapshot, record.interrupt, record.error])
        json.dumps([e.data for e in record.events])  # unstorable: raise now, write nothing
        try:
            self._apply(record)
        except Exception as exc:  # the awaitable carries the failure, as a real store's would
            done.set_exception(exc)
        else:
            done.set_result(None)
        return done

    def _apply(self, record: StepRecord) -> None:
        # Everything is copied and checked first, so a failed save changes nothing.
        events = self.events.get(record.run_id, [])
        steps = self._steps.setdefault(record.run_id, set())
        if record.kind == "checkpoint" and record.step in steps:
            raise CheckpointConflictError(
                f"run {record.run_id!r} already has a checkpoint for step {record.step}"
            )
        expected = (events[-1].seq if events else 0) + 1
        for offset, event in enumerate(record.events):
            if event.seq != expected + offset:
                raise CheckpointConflictError(
                    f"run {record.run_id!r}: event seq {event.seq} does not follow "
                    f"{expected + offset - 1}"
                )
        row = None
        if record.kind == "checkpoint":
            row = CheckpointRow(
                step=record.step,
                nodes=list(record.nodes),
                delta=json_copy(record.delta or {}),
                snapshot=None if record.snapshot is None else json_copy(record.snapshot),
                pending=list(record.pending),
                barriers={k: list(v) for k, v in record.barriers.items()},
                status=record.status,
                interrupt=json_copy(record.interrupt),
            )
        new_events = [Event.from_dict(json_copy(e.to_dict())) for e in record.events]
        stored = self.rows.setdefault(record.run_id, [])
        if row is not None:
            stored.append(row)
            steps.add(row.step)
        self.events.setdefault(record.run_id, []).extend(new_events)
        self.status[record.run_id] = record.status
        self.errors[record.run_id] = json_copy(record.error)
        # The open interrupt belongs to the run, whatever kind of record set it.
        self.interrupts[record.run_id] = json_copy(record.interrupt)

    async def load(self, run_id: str) -> RunCheckpoint | None:
        rows = self.rows.get(run_id)
        if not rows:
            return None
        last = rows[-1]
        events = self.events.get(run_id, [])
        return RunCheckpoint(
            run_id=run_id,
            step=last.step,
            state=rebuild_state(rows),
            pending=list(last.pending),
            barriers={k: list(v) for k, v in last.barriers.items()},
            last_seq=events[-1].seq if events else 0,
            status=self.status[run_id],
            error=self.errors.get(run_id),
            interrupt=self.interrupts.get(run_id),
        )

    def history(self, run_id: str) -> list[CheckpointRow]:
        return list(self.rows.get(run_id, []))

    def run_ids(self) -> Iterable[str]:
        return self.rows.keys()
