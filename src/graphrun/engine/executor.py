"""The superstep executor.

One step runs every pending node on the same state snapshot (concurrently when there are
several), merges their updates through the state's reducers, then follows each finished
node's edges to find the next pending set. After each step one record (the checkpoint:
delta, next pending set, and that step's events) goes to the :class:`Checkpointer`; events
reach the :class:`EventSink` only once that record is durable.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import traceback
import uuid
from collections import deque
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from graphrun.engine.checkpoint import Checkpointer, StepRecord
from graphrun.engine.compiled import END, CompiledGraph, CompiledNode
from graphrun.engine.context import NodeContext, current_node
from graphrun.engine.errors import (
    CheckpointConflictError,
    ConditionError,
    GraphrunError,
    NodeTimeoutError,
    StateError,
)
from graphrun.engine.events import Event, EventSink, EventType
from graphrun.engine.state import State, Update, check_update, merge_updates
from graphrun.engine.status import RunStatus

Durability = Literal["sync", "async", "exit"]
DEFAULT_SNAPSHOT_EVERY = 20


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


class _StopRunError(Exception):
    """Ends the step loop with a final status."""

    def __init__(self, status: RunStatus, error: dict[str, Any] | None, message: str) -> None:
        self.status = status
        self.error = error
        self.message = message


class Executor:
    """Runs one compiled graph; each :meth:`start`/:meth:`resume` call is one run.

    ``durability``: ``"sync"`` waits for each step's commit before the next step;
    ``"async"`` (the default) writes behind, so a crash may lose the last few
    checkpoints and their steps run again; ``"exit"`` writes only when the run stops.
    Without a checkpointer nothing is persisted and events go straight to the sink.
    """

    def __init__(
        self,
        graph: CompiledGraph,
        *,
        checkpointer: Checkpointer | None = None,
        sink: EventSink | None = None,
        durability: Durability = "async",
        snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
        labels: Mapping[str, Any] | None = None,
    ) -> None:
        if durability not in ("sync", "async", "exit"):
            raise ValueError(f"durability must be sync, async or exit, not {durability!r}")
        self.graph = graph
        self.checkpointer = checkpointer
        self.sink = sink
        self.durability: Durability = durability
        self.snapshot_every = max(1, snapshot_every)
        self._record = checkpointer is not None or sink is not None
        self.labels = dict(labels or {})
        self._where: dict[str, Any] = {}
        self._buf: list[Event] = []
        self._seq = 0
        self._run_id = ""
        self._cancel_requested = False
        self._cancel_reason = ""
        self._task: asyncio.Task[Any] | None = None
        self._inflight: deque[tuple[asyncio.Future[None], list[Event]]] = deque()
        self._write_error: BaseException | None = None
        self._held_events: list[Event] = []

    # -- public API -----------------------------------------------------------------

    async def start(
        self,
        state: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        after_seq: int = 0,
    ) -> RunResult:
        """Run from the entry node. ``after_seq`` is the last event seq already stored for
        this run (e.g. ``run_queued`` written when the run was created)."""
        initial: State = dict(state or {})
        if self.graph.schema is not None:
            self.graph.schema.validate(initial, after="the input")
        self._run_id = run_id or str(uuid.uuid4())
        self._where = {**self.labels, "run_id": self._run_id}
        self._seq = after_seq
        self._emit(EventType.RUN_STARTED, data={"graph": self.graph.name})
        pending = [self.graph.entry]
        if self.checkpointer is not None:
            await self._commit(
                StepRecord(
                    run_id=self._run_id,
                    step=0,
                    kind="checkpoint",
                    status=RunStatus.RUNNING,
                    events=[],
                    delta=dict(initial),
                    snapshot=dict(initial),
                    pending=pending,
                ),
                wait=self.durability == "sync",
            )
        else:
            self._publish_now()
        return await self._guarded(initial, 0, pending, {})

    async def resume(self, run_id: str) -> RunResult:
        """Continue a run from its last checkpoint: completed steps never run again."""
        if self.checkpointer is None:
            raise ValueError("resume needs a checkpointer")
        cp = await self.checkpointer.load(run_id)
        if cp is None:
            raise LookupError(f"run {run_id!r} has no checkpoint to resume from")
        self._run_id = run_id
        self._where = {**self.labels, "run_id": self._run_id}
        self._seq = cp.last_seq
        if cp.status.is_final:
            return RunResult(run_id, cp.status, cp.state, cp.step, cp.pending, cp.error)
        self._emit(EventType.RUN_RESUMED, data={"step": cp.step, "pending": cp.pending})
        return await self._guarded(cp.state, cp.step, list(cp.pending), cp.barriers)

    def cancel(self, reason: str = "cancelled") -> None:
        """Cancel the run: between steps, or at once while nodes are awaited."""
        self._cancel_requested = True
        self._cancel_reason = reason
        if self._task is not None and not self._task.done():
            self._task.cancel()

    @property
    def run_id(self) -> str:
        return self._run_id

    # -- the loop ---------------------------------------------------------------------

    async def _guarded(
        self, state: State, step: int, pending: list[str], barriers: dict[str, list[str]]
    ) -> RunResult:
        self._task = asyncio.current_task()
        try:
            return await self._loop(state, step, pending, barriers)
        finally:
            self._task = None

    async def _loop(
        self, state: State, step: int, pending: list[str], barriers: dict[str, list[str]]
    ) -> RunResult:
        graph = self.graph
        try:
            while pending:
                if self._write_error is not None:
                    raise self._write_error
                if self._cancel_requested:
                    raise _StopRunError(RunStatus.CANCELLED, None, self._cancel_reason)
                if step >= graph.max_steps:
                    raise _StopRunError(
                        RunStatus.STOPPED_MAX_ITERATIONS,
                        None,
                        f"stopped after {step} steps: the graph's max_steps is "
                        f"{graph.max_steps} and nodes {pending} were still pending",
                    )
                step += 1
                state, pending, barriers, delta = await self._step(state, step, pending, barriers)
                final = not pending
                if final:
                    self._emit(EventType.RUN_COMPLETED, step=step, data={"steps": step})
                await self._checkpoint(state, step, delta, pending, barriers, final)
            return RunResult(self._run_id, RunStatus.COMPLETED, state, step)
        except _StopRunError as stop:
            return await self._finish(state, step, pending, barriers, stop)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not self._cancel_requested or task is None:
                raise  # shutdown: leave the run as it is, to be resumed
            task.uncancel()
            return await self._finish(
                state,
                step,
                pending,
                barriers,
                _StopRunError(RunStatus.CANCELLED, None, self._cancel_reason),
            )

    async def _step(
        self, state: State, step: int, wave: list[str], barriers: dict[str, list[str]]
    ) -> tuple[State, list[str], dict[str, list[str]], State]:
        graph = self.graph
        nodes = [graph.nodes[name] for name in wave]
        if self._record:
            for node in nodes:
                self._emit(EventType.NODE_STARTED, node=node.name, step=step)
            if self.checkpointer is not None and any(n.mode != "inline" for n in nodes):
                # Slow nodes: let watchers see node_started before the step ends.
                await self._commit(
                    StepRecord(self._run_id, step, "events", RunStatus.RUNNING, []),
                    wait=self.durability == "sync",
                )
        if len(nodes) == 1:
            try:
                results: list[tuple[Update | None, float] | BaseException] = [
                    await self._run_node(nodes[0], state, step)
                ]
            except NodeFailedError as exc:
                results = [exc]
        else:
            snapshot = dict(state)
            results = list(
                await asyncio.gather(
                    *(self._run_node(n, snapshot, step) for n in nodes), return_exceptions=True
                )
            )
        updates: list[tuple[str, Update]] = []
        for node, res in zip(nodes, results, strict=True):
            if isinstance(res, BaseException):
                if isinstance(res, asyncio.CancelledError):
                    raise res
                failed = (
                    res if isinstance(res, NodeFailedError) else NodeFailedError(node.name, res, 1)
                )
                self._emit(EventType.NODE_FAILED, node=node.name, step=step, data=failed.info)
                raise _StopRunError(RunStatus.FAILED, failed.info, str(failed))
            update, duration = res
            if update:
                updates.append((node.name, update))
            if self._record:
                self._emit(
                    EventType.NODE_COMPLETED,
                    node=node.name,
                    step=step,
                    data={"update": dict(update or {}), "duration_ms": round(duration * 1000, 3)},
                )
        try:
            delta = merge_updates(state, updates, graph.reducers) if updates else {}
            if graph.schema is not None and delta:
                graph.schema.validate(state, after=f"step {step} ({', '.join(wave)})")
            nxt = self._route(nodes, state, barriers)
        except (StateError, ConditionError) as exc:
            info = {"type": type(exc).__name__, "message": str(exc), "step": step}
            raise _StopRunError(RunStatus.FAILED, info, str(exc)) from None
        return state, nxt, barriers, delta

    def _route(
        self, nodes: Sequence[CompiledNode], state: State, barriers: dict[str, list[str]]
    ) -> list[str]:
        targets: set[str] = set()
        for node in nodes:
            for t in node.route(state):
                if t == END:
                    continue
                if t not in self.graph.nodes:
                    raise ConditionError(f"router of node {node.name!r} chose unknown node {t!r}")
                targets.add(t)
            for join, sources in node.waits.items():
                arrived = barriers.setdefault(join, [])
                if node.name not in arrived:
                    arrived.append(node.name)
                if sources.issubset(arrived):
                    del barriers[join]
                    targets.add(join)
        if len(targets) <= 1:
            return list(targets)
        return self.graph.order(targets)

    async def _run_node(
        self, node: CompiledNode, state: State, step: int
    ) -> tuple[Update | None, float]:
        cache = node.cache
        key = cache.key(node.name, node.args, state) if cache is not None else None
        if cache is not None and key is not None:
            hit, cached = cache.get(key)
            if hit:
                return cached, 0.0
        where = current_node.set((self._where, node.name, step))
        try:
            attempt = 0
            while True:
                attempt += 1
                ctx = (
                    NodeContext(
                        run_id=self._run_id,
                        graph=self.graph.name,
                        step=step,
                        node=node.name,
                        attempt=attempt,
                        tools=self.graph.tools,
                        emit=self._append_event if self._record else None,
                    )
                    if node.takes_ctx
                    else None
                )
                started = time.perf_counter()
                try:
                    if node.mode == "inline":
                        result = node.call(dict(state), ctx)
                        if type(result) is not dict and inspect.isawaitable(result):
                            result = await result
                    else:
                        result = await self._call(node, dict(state), ctx)
                    update = check_update(node.name, result)
                except Exception as exc:
                    retry = node.retry
                    if retry is None or not retry.should_retry(exc, attempt):
                        raise NodeFailedError(node.name, exc, attempt) from exc
                    delay = retry.delay(attempt)
                    if self._record:
                        self._emit(
                            EventType.NODE_RETRYING,
                            node=node.name,
                            step=step,
                            data={
                                "attempt": attempt,
                                "error": f"{type(exc).__name__}: {exc}",
                                "delay_s": round(delay, 4),
                            },
                        )
                    await asyncio.sleep(delay)
                    continue
                duration = time.perf_counter() - started
                if cache is not None and key is not None:
                    cache.put(key, update)
                return update, duration
        finally:
            current_node.reset(where)

    async def _call(self, node: CompiledNode, state: State, ctx: NodeContext | None) -> object:
        try:
            if node.mode == "async":
                if node.timeout is None:
                    return await node.call(state, ctx)
                async with asyncio.timeout(node.timeout):
                    return await node.call(state, ctx)
            if node.timeout is None:
                return await asyncio.to_thread(node.call, state, ctx)
            # A thread cannot be stopped: on timeout it finishes in the background and
            # its result is dropped.
            async with asyncio.timeout(node.timeout):
                return await asyncio.to_thread(node.call, state, ctx)
        except TimeoutError:
            if node.timeout is None:
                raise
            raise NodeTimeoutError(
                f"node {node.name!r} timed out after {node.timeout:g}s"
            ) from None

    # -- events and commits -----------------------------------------------------------

    def _emit(
        self,
        type_: EventType,
        *,
        node: str | None = None,
        step: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        if self._record:
            self._buf.append(Event(0, type_, self._run_id, node, step, data or {}, time.time()))

    def _append_event(self, event: Event) -> None:
        # Looked up on every call: the buffer is swapped at each commit.
        self._buf.append(event)

    def _take_events(self) -> list[Event]:
        events, self._buf = self._buf, []
        for e in events:
            self._seq += 1
            e.seq = self._seq
        return events

    def _publish_now(self) -> None:
        events = self._take_events()
        if self.sink is not None and events:
            self.sink.publish(events)

    async def _checkpoint(
        self,
        state: State,
        step: int,
        delta: State,
        pending: list[str],
        barriers: dict[str, list[str]],
        final: bool,
        status: RunStatus = RunStatus.RUNNING,
        error: dict[str, Any] | None = None,
    ) -> None:
        if self.checkpointer is None:
            self._publish_now()
            return
        if final and status is RunStatus.RUNNING:
            status = RunStatus.COMPLETED
        if self.durability == "exit" and not final:
            self._held_events.extend(self._take_events())
            return
        snapshot = (
            dict(state) if step % self.snapshot_every == 0 or (self.durability == "exit") else None
        )
        record = StepRecord(
            run_id=self._run_id,
            step=step,
            kind="checkpoint",
            status=status,
            events=[],
            delta=delta,
            snapshot=snapshot,
            pending=list(pending),
            barriers={k: list(v) for k, v in barriers.items()},
            nodes=[],
            error=error,
        )
        await self._commit(record, wait=final or self.durability == "sync")

    async def _commit(self, record: StepRecord, *, wait: bool) -> None:
        assert self.checkpointer is not None
        record.events = self._held_events + self._take_events()
        self._held_events = []
        if record.kind == "checkpoint" and not record.nodes:
            record.nodes = sorted(
                {e.node for e in record.events if e.node and e.step == record.step}
            )
        awaitable: Awaitable[None] = self.checkpointer.save(record)
        fut = asyncio.ensure_future(awaitable)
        self._inflight.append((fut, record.events))
        fut.add_done_callback(self._write_done)
        if wait:
            await self._drain()

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

    async def _drain(self) -> None:
        while self._inflight:
            fut = self._inflight[-1][0]
            await asyncio.wait([fut])
            self._write_done(fut)
        if self._write_error is not None:
            err, self._write_error = self._write_error, None
            raise err

    async def _finish(
        self,
        state: State,
        step: int,
        pending: list[str],
        barriers: dict[str, list[str]],
        stop: _StopRunError,
    ) -> RunResult:
        kind = {
            RunStatus.CANCELLED: EventType.RUN_CANCELLED,
            RunStatus.FAILED: EventType.RUN_FAILED,
            RunStatus.STOPPED_MAX_ITERATIONS: EventType.RUN_STOPPED,
        }[stop.status]
        data: dict[str, Any] = {"message": stop.message}
        if stop.error:
            data["error"] = stop.error
        self._emit(kind, step=step, data=data)
        if self.checkpointer is None:
            self._publish_now()
        else:
            # A failed or cancelled step recorded nothing: this final record reuses the
            # step number only if that step was never checkpointed.
            await self._drain_quietly()
            await self._commit(
                StepRecord(
                    run_id=self._run_id,
                    step=step,
                    kind="events",
                    status=stop.status,
                    events=[],
                    pending=list(pending),
                    error=stop.error,
                ),
                wait=True,
            )
        return RunResult(
            self._run_id, stop.status, state, step, list(pending), stop.error, stop.message
        )

    async def _drain_quietly(self) -> None:
        try:
            await self._drain()
        except CheckpointConflictError:
            raise
        except Exception as exc:  # the final record reports the run's own outcome
            self._write_error = None
            raise CheckpointConflictError(f"checkpoint write failed: {exc}") from exc
