"""How a run's events and checkpoints leave the executor.

Events are numbered (gap-free) when they are committed, committed together with the
step's checkpoint, and handed to the sink only once durable, in commit order. With
write-behind (``async`` durability) the step loop does not wait for commits; a failed
write surfaces at the next step.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Awaitable
from typing import Any

from graphrun.engine.checkpoint import Checkpointer, StepRecord
from graphrun.engine.errors import CheckpointConflictError, GraphrunError
from graphrun.engine.events import Event, EventSink, EventType
from graphrun.engine.state import State
from graphrun.engine.status import RunStatus

DURABILITY_MODES = ("sync", "async", "exit")


class UnstorableError(GraphrunError):
    """A record could not be stored because part of it is not JSON; nothing was written."""


def json_safe(value: Any) -> Any:
    """``value`` as JSON would give it back; what JSON cannot hold becomes its repr."""
    return json.loads(json.dumps(value, default=repr))


def _done(fut: asyncio.Future[None]) -> asyncio.Future[None]:
    """A future that completes when ``fut`` does. Awaiting the store's future directly
    would cancel it if this task were cancelled meanwhile, losing the write's outcome;
    ``asyncio.wait`` avoids that too but costs three times as much per step."""
    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def wake(_: asyncio.Future[None]) -> None:
        if not waiter.done():
            waiter.set_result(None)

    fut.add_done_callback(wake)
    return waiter


class RunRecorder:
    """Buffers, numbers, commits and publishes one run's events and checkpoints."""

    def __init__(
        self,
        checkpointer: Checkpointer | None,
        sink: EventSink | None,
        durability: str,
        snapshot_every: int,
    ) -> None:
        self.checkpointer = checkpointer
        self.sink = sink
        self.durability = durability
        self.snapshot_every = max(1, snapshot_every)
        # Without a checkpointer or sink nobody reads events: do not build them.
        self.active = checkpointer is not None or sink is not None
        self.run_id = ""
        self.seq = 0
        self.checkpointed = -1  # the last step with a checkpoint row
        self._buf: list[Event] = []
        self._lock = threading.Lock()
        self._held: list[Event] = []  # exit mode: events waiting for the final write
        self._inflight: deque[tuple[asyncio.Future[None], list[Event]]] = deque()
        self._write_error: BaseException | None = None

    # -- events -----------------------------------------------------------------------

    def emit(
        self,
        type_: EventType,
        *,
        node: str | None = None,
        step: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        if self.active:
            self._buf.append(Event(0, type_, self.run_id, node, step, data or {}, time.time()))

    def append(self, event: Event) -> None:
        """Add an event built elsewhere (``ctx.log``); safe from a worker thread."""
        # A node's thread may log while the loop takes the buffer to commit it: the lock
        # makes the event land wholly in this commit or wholly in the next.
        with self._lock:
            self._buf.append(event)

    def _take(self) -> list[Event]:
        with self._lock:
            events, self._buf = self._buf, []
        for e in events:
            self.seq += 1
            e.seq = self.seq
        return events

    def publish_now(self) -> None:
        """No checkpointer: events go straight to the sink."""
        events = self._take()
        if self.sink is not None and events:
            self.sink.publish(events)

    # -- commits ----------------------------------------------------------------------

    def raise_write_error(self) -> None:
        if self._write_error is not None:
            err, self._write_error = self._write_error, None
            raise err

    async def checkpoint(
        self,
        state: State,
        step: int,
        delta: State,
        pending: list[str],
        barriers: dict[str, list[str]],
        final: bool,
    ) -> None:
        """Record a completed step (the run's last one when ``final``)."""
        if self.checkpointer is None:
            self.publish_now()
            return
        if self.durability == "exit" and not final:
            self._held.extend(self._take())
            return
        snapshot = (
            dict(state) if step % self.snapshot_every == 0 or self.durability == "exit" else None
        )
        record = StepRecord(
            run_id=self.run_id,
            step=step,
            kind="checkpoint",
            status=RunStatus.COMPLETED if final else RunStatus.RUNNING,
            events=[],
            delta=delta,
            snapshot=snapshot,
            pending=list(pending),
            barriers={k: list(v) for k, v in barriers.items()},
        )
        await self.commit(record, wait=final or self.durability == "sync")

    async def commit(self, record: StepRecord, *, wait: bool) -> None:
        """Attach the buffered events to ``record`` and hand it to the checkpointer."""
        assert self.checkpointer is not None
        events = self._held + self._take()
        record.events = events
        record.urgent = wait
        self._held = []
        if record.kind == "checkpoint" and not record.nodes:
            record.nodes = sorted({e.node for e in events if e.node and e.step == record.step})
        try:
            awaitable: Awaitable[None] = self.checkpointer.save(record)
        except (TypeError, ValueError) as exc:
            # Nothing was stored: hand the events back (made storable) with their numbers
            # freed, so the log stays gap-free.
            self.seq -= len(events)
            for e in events:
                e.seq = 0
                e.data = json_safe(e.data)
            with self._lock:
                self._buf = events + self._buf
            raise UnstorableError(
                f"step {record.step}: the state or an event is not JSON: {exc}"
            ) from None
        if record.kind == "checkpoint":
            self.checkpointed = record.step
        fut = asyncio.ensure_future(awaitable)
        if fut.done() and not self._inflight:
            # Committed already (a store may do so for an urgent record) with nothing
            # older in flight: no queue, no callback.
            self._inflight.append((fut, events))
            self._write_done(fut)
        else:
            self._inflight.append((fut, events))
            fut.add_done_callback(self._write_done)
        if wait:
            await self.drain()

    def _write_done(self, _fut: asyncio.Future[None]) -> None:
        # Publish strictly in commit order, and only what is durable.
        while self._inflight and self._inflight[0][0].done():
            fut, events = self._inflight.popleft()
            if fut.cancelled():
                self._write_error = self._write_error or CheckpointConflictError("write cancelled")
            elif fut.exception() is not None:
                self._write_error = self._write_error or fut.exception()
            elif self.sink is not None and events and self._write_error is None:
                self.sink.publish(events)

    async def drain(self) -> None:
        """Wait for every write so far; raise the first that failed."""
        while self._inflight:
            fut = self._inflight[-1][0]
            if not fut.done():
                await _done(fut)
            self._write_done(fut)
        self.raise_write_error()

    async def drain_before_final(self) -> None:
        """Drain before the final record; any failed write means another executor owns
        the run (or the store is gone), so this one must not write its outcome."""
        try:
            await self.drain()
        except CheckpointConflictError:
            raise
        except Exception as exc:
            raise CheckpointConflictError(f"checkpoint write failed: {exc}") from exc
