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
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from graphrun.engine.checkpoint import Checkpointer, StepRecord
from graphrun.engine.compiled import END, CompiledGraph, CompiledNode
from graphrun.engine.context import Journal, NodeContext, NodeInterrupt, current_node
from graphrun.engine.errors import (
    ConditionError,
    NodeTimeoutError,
    StateError,
)
from graphrun.engine.events import EventSink, EventType
from graphrun.engine.recorder import DURABILITY_MODES, RunRecorder, UnstorableError, json_safe
from graphrun.engine.results import NodeFailedError, PauseRunError, RunResult, StopRunError
from graphrun.engine.state import State, Update, check_update, merge_updates
from graphrun.engine.status import RunStatus

Durability = Literal["sync", "async", "exit"]
DEFAULT_SNAPSHOT_EVERY = 20
YIELD_EVERY_S = 0.005


_NO_INPUT: Any = object()


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
        if durability not in DURABILITY_MODES:
            raise ValueError(f"durability must be sync, async or exit, not {durability!r}")
        self.graph = graph
        self.checkpointer = checkpointer
        self.sink = sink
        self.durability: Durability = durability
        self.snapshot_every = max(1, snapshot_every)
        self.labels = dict(labels or {})
        self._rec = RunRecorder(checkpointer, sink, durability, snapshot_every)
        self._where: dict[str, Any] = {}
        self._run_id = ""
        self._cancel_requested = False
        self._cancel_reason = ""
        self._task: asyncio.Task[Any] | None = None
        # Human-in-the-loop: journals replayed by a resumed step, a state patch given
        # with the resume, and the step whose interrupt_before was already honoured.
        self._journals: dict[str, Journal] = {}
        self._contexts: dict[str, NodeContext] = {}
        self._patch: State | None = None
        self._skip_before = -1
        self._answered: dict[str, Any] | None = None
        self._done_step = 0  # the last step that completed (and was handed to the recorder)

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
        self._bind(run_id or str(uuid.uuid4()))
        self._rec.seq = after_seq
        self._rec.emit(EventType.RUN_STARTED, data={"graph": self.graph.name})
        pending = [self.graph.entry]
        if self.checkpointer is not None:
            await self._commit_input(
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
            self._rec.publish_now()
        return await self._guarded(initial, 0, pending, {})

    def _bind(self, run_id: str) -> None:
        self._run_id = run_id
        self._rec.run_id = run_id
        self._where = {**self.labels, "run_id": run_id}

    async def _commit_input(self, record: StepRecord, *, wait: bool) -> None:
        try:
            await self._rec.commit(record, wait=wait)
        except UnstorableError as exc:
            raise StateError(f"the input state is not JSON: {exc}") from None

    async def resume(self, run_id: str, input: Any = _NO_INPUT) -> RunResult:
        """Continue a run from its last checkpoint: completed steps never run again.

        For an interrupted run, ``input`` answers the interrupt: a node that called
        ``ctx.interrupt()`` runs again and the call returns ``input``; after an
        ``interrupt_before``/``interrupt_after`` pause, a dict ``input`` is merged into
        the state before the next step."""
        if self.checkpointer is None:
            raise ValueError("resume needs a checkpointer")
        cp = await self.checkpointer.load(run_id)
        if cp is None:
            raise LookupError(f"run {run_id!r} has no checkpoint to resume from")
        self._bind(run_id)
        self._rec.seq = cp.last_seq
        if cp.status.is_final:
            return RunResult(
                run_id,
                cp.status,
                cp.state,
                cp.step,
                cp.pending,
                cp.error,
                f"the run already ended ({cp.status.value}); nothing to resume",
            )
        resumed: dict[str, Any] = {"step": cp.step, "pending": cp.pending}
        interrupt = cp.interrupt if isinstance(cp.interrupt, Mapping) else None
        if cp.status is RunStatus.INTERRUPTED and interrupt:
            value = None if input is _NO_INPUT else input
            self._answer(interrupt, cp.step, value)
            # Until the resumed step is checkpointed, every record keeps the interrupt and
            # its answer, so a crash in between loses neither.
            self._answered = {**interrupt, "answered": True, "answer": value}
            resumed["interrupt"] = interrupt.get("kind")
            if input is not _NO_INPUT:
                resumed["input"] = input
        elif interrupt and interrupt.get("answered"):
            # A crash cut off the step that an answer resumed: answer it again.
            self._answer(interrupt, cp.step, interrupt.get("answer"))
            self._answered = dict(interrupt)
            resumed["interrupt"] = interrupt.get("kind")
        self._rec.emit(EventType.RUN_RESUMED, data=resumed)
        return await self._guarded(cp.state, cp.step, list(cp.pending), cp.barriers)

    def _answer(self, interrupt: Mapping[str, Any], step: int, value: Any) -> None:
        kind = interrupt.get("kind")
        if kind == "node":
            self._journals = {
                name: Journal.from_dict(raw)
                for name, raw in (interrupt.get("journals") or {}).items()
            }
            for name in interrupt.get("nodes") or []:
                self._journals.setdefault(name, Journal()).resumes.append(value)
            return
        if kind == "before":
            self._skip_before = step + 1
        if isinstance(value, Mapping):
            self._patch = dict(value)
        elif value is not None:
            raise StateError(
                f"resuming after interrupt_{kind} takes a JSON object to merge into the state "
                f"(or nothing), not {type(value).__name__}"
            )

    def cancel(self, reason: str = "cancelled") -> None:
        """Cancel the run: between steps, or at once while nodes are awaited."""
        self._cancel_requested = True
        self._cancel_reason = reason
        task = self._task
        # From inside the run (a node, a router) the flag is enough: the loop sees it
        # before the next step, and cancelling our own task would hit the final write.
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()

    @property
    def run_id(self) -> str:
        return self._run_id

    # -- the loop ---------------------------------------------------------------------

    async def _guarded(
        self, state: State, step: int, pending: list[str], barriers: dict[str, list[str]]
    ) -> RunResult:
        self._task = asyncio.current_task()
        self._done_step = step
        try:
            return await self._loop(state, step, pending, barriers)
        finally:
            # Ready for another run: nothing of this one may leak into it.
            self._task = None
            self._cancel_requested = False
            self._cancel_reason = ""
            self._journals, self._contexts, self._patch = {}, {}, None
            self._skip_before = -1
            self._answered = None

    async def _loop(
        self, state: State, step: int, pending: list[str], barriers: dict[str, list[str]]
    ) -> RunResult:
        graph = self.graph
        yielded = time.perf_counter()
        try:
            while pending:
                if time.perf_counter() - yielded > YIELD_EVERY_S:
                    # Inline steps never await: give other runs (and cancel()) a turn.
                    await asyncio.sleep(0)
                    yielded = time.perf_counter()
                self._rec.raise_write_error()
                if self._cancel_requested:
                    raise StopRunError(RunStatus.CANCELLED, None, self._cancel_reason)
                if step >= graph.max_steps:
                    raise StopRunError(
                        RunStatus.STOPPED_MAX_ITERATIONS,
                        None,
                        f"stopped after {step} steps: the graph's max_steps is "
                        f"{graph.max_steps} and nodes {pending} were still pending",
                    )
                if self._skip_before != step + 1 and any(
                    graph.nodes[n].interrupt_before for n in pending
                ):
                    waiting = [n for n in pending if graph.nodes[n].interrupt_before]
                    raise PauseRunError({"kind": "before", "nodes": waiting}, pending, step)
                step += 1
                wave = pending
                state, pending, barriers, delta = await self._step(state, step, pending, barriers)
                final = not pending
                if final:
                    self._rec.emit(EventType.RUN_COMPLETED, step=step, data={"steps": step})
                try:
                    await self._rec.checkpoint(state, step, delta, pending, barriers, final)
                except UnstorableError as exc:
                    info = {"type": "StateError", "message": str(exc)}
                    raise StopRunError(RunStatus.FAILED, info, str(exc)) from None
                self._done_step = step
                self._answered = None  # the answered step is recorded: the answer is spent
                if not final and any(graph.nodes[n].interrupt_after for n in wave):
                    done = [n for n in wave if graph.nodes[n].interrupt_after]
                    raise PauseRunError({"kind": "after", "nodes": done}, pending, step)
            return RunResult(self._run_id, RunStatus.COMPLETED, state, step)
        except PauseRunError as pause:
            return await self._pause(state, barriers, pause)
        except StopRunError as stop:
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
                StopRunError(RunStatus.CANCELLED, None, self._cancel_reason),
            )

    async def _step(
        self, state: State, step: int, wave: list[str], barriers: dict[str, list[str]]
    ) -> tuple[State, list[str], dict[str, list[str]], State]:
        graph = self.graph
        nodes = [graph.nodes[name] for name in wave]
        patch = self._patch
        if patch is not None:
            self._patch = None
            state.update(patch)
        if self._rec.active:
            for node in nodes:
                self._rec.emit(EventType.NODE_STARTED, node=node.name, step=step)
            if (
                self.checkpointer is not None
                and self.durability != "exit"
                and any(n.mode != "inline" for n in nodes)
            ):
                # Slow nodes: let watchers see node_started before the step ends.
                await self._rec.commit(
                    StepRecord(
                        self._run_id,
                        step,
                        "events",
                        RunStatus.RUNNING,
                        [],
                        interrupt=self._answered,
                    ),
                    wait=self.durability == "sync",
                )
        if len(nodes) == 1:
            try:
                results: list[tuple[Update | None, float] | BaseException] = [
                    await self._run_node(nodes[0], state, step)
                ]
            except (NodeFailedError, NodeInterrupt) as exc:
                results = [exc]
        else:
            snapshot = dict(state)
            results = list(
                await asyncio.gather(
                    *(self._run_node(n, snapshot, step) for n in nodes), return_exceptions=True
                )
            )
        interrupts = [r for r in results if isinstance(r, NodeInterrupt)]
        if interrupts and not any(
            isinstance(r, BaseException) and not isinstance(r, NodeInterrupt) for r in results
        ):
            raise self._interrupted(interrupts, wave, step)
        self._journals = {}
        self._contexts = {}
        updates: list[tuple[str, Update]] = []
        first_failure: NodeFailedError | None = None
        for node, res in zip(nodes, results, strict=True):
            if isinstance(res, NodeInterrupt):
                continue  # another node of the wave failed: that decides the step
            if isinstance(res, BaseException):
                if isinstance(res, asyncio.CancelledError):
                    raise res
                failed = (
                    res if isinstance(res, NodeFailedError) else NodeFailedError(node.name, res, 1)
                )
                self._rec.emit(EventType.NODE_FAILED, node=node.name, step=step, data=failed.info)
                first_failure = first_failure or failed
                continue
            update, duration = res
            if update:
                updates.append((node.name, update))
            if self._rec.active:
                self._rec.emit(
                    EventType.NODE_COMPLETED,
                    node=node.name,
                    step=step,
                    data={"update": dict(update or {}), "duration_ms": round(duration * 1000, 3)},
                )
        if first_failure is not None:
            # Every failed node of the wave has its node_failed; the first decides the run.
            raise StopRunError(RunStatus.FAILED, first_failure.info, str(first_failure))
        # With a schema, merge into a copy: a rejected update must not reach the state.
        merged = dict(state) if graph.schema is not None else state
        try:
            delta = merge_updates(merged, updates, graph.reducers) if updates else {}
            if patch:
                delta = {**{k: merged[k] for k in patch}, **delta}
            if graph.schema is not None and delta:
                graph.schema.validate(merged, after=f"step {step} ({', '.join(wave)})")
            nxt = self._route(nodes, merged, barriers)
        except (StateError, ConditionError) as exc:
            info = {"type": type(exc).__name__, "message": str(exc), "step": step}
            raise StopRunError(RunStatus.FAILED, info, str(exc)) from None
        return merged, nxt, barriers, delta

    def _interrupted(
        self, interrupts: list[NodeInterrupt], wave: list[str], step: int
    ) -> PauseRunError:
        """The step is dropped and runs again on resume; each node's journal keeps what it
        already did through ctx so that it is not done twice."""
        journals = {name: ctx.journal.to_dict() for name, ctx in self._contexts.items()}
        self._contexts = {}
        self._journals = {}
        info = {
            "kind": "node",
            "nodes": [i.node for i in interrupts],
            "payload": interrupts[0].payload,
            "payloads": {i.node: i.payload for i in interrupts},
            "journals": journals,
        }
        return PauseRunError(info, list(wave), step - 1)

    async def _keep_exit_state(
        self,
        state: State,
        step: int,
        pending: list[str],
        barriers: dict[str, list[str]],
        *,
        wait: bool,
    ) -> None:
        """exit mode has written nothing since the start: before the run stops or pauses,
        store the state it reached (after ``step``), so that it can be read and resumed."""
        if self.durability != "exit" or self.checkpointer is None:
            return
        if self._rec.checkpointed >= step:
            return
        await self._rec.commit(
            StepRecord(
                run_id=self._run_id,
                step=step,
                kind="checkpoint",
                status=RunStatus.RUNNING,
                events=[],
                delta={},
                snapshot=dict(state),
                pending=list(pending),
                barriers={k: list(v) for k, v in barriers.items()},
            ),
            wait=wait,
        )

    async def _pause(
        self, state: State, barriers: dict[str, list[str]], pause: PauseRunError
    ) -> RunResult:
        info = json_safe(pause.info)
        await self._keep_exit_state(state, pause.step, pause.pending, barriers, wait=True)
        self._rec.emit(
            EventType.RUN_INTERRUPTED,
            step=pause.step,
            data={k: v for k, v in info.items() if k != "journals"},
        )
        if self.checkpointer is None:
            self._rec.publish_now()
        else:
            await self._rec.commit(
                StepRecord(
                    run_id=self._run_id,
                    step=pause.step,
                    kind="events",
                    status=RunStatus.INTERRUPTED,
                    events=[],
                    pending=list(pause.pending),
                    interrupt=info,
                ),
                wait=True,
            )
        return RunResult(
            self._run_id,
            RunStatus.INTERRUPTED,
            state,
            pause.step,
            list(pause.pending),
            None,
            f"waiting for input at {info['kind']} of {', '.join(info['nodes'])}",
        )

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
                        emit=self._rec.append if self._rec.active else None,
                        prior=self._journals.get(node.name),
                    )
                    if node.takes_ctx
                    else None
                )
                if ctx is not None:
                    self._contexts[node.name] = ctx
                started = time.perf_counter()
                try:
                    if node.mode == "inline":
                        result = node.call(dict(state), ctx)
                        if type(result) is not dict and inspect.isawaitable(result):
                            result = await result
                    else:
                        result = await self._call(node, dict(state), ctx)
                    update = check_update(node.name, result)
                except NodeInterrupt:
                    raise
                except Exception as exc:
                    retry = node.retry
                    if retry is None or not retry.should_retry(exc, attempt):
                        raise NodeFailedError(node.name, exc, attempt) from exc
                    delay = retry.delay(attempt)
                    if self._rec.active:
                        self._rec.emit(
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

    async def _finish(
        self,
        state: State,
        step: int,
        pending: list[str],
        barriers: dict[str, list[str]],
        stop: StopRunError,
    ) -> RunResult:
        kind = {
            RunStatus.CANCELLED: EventType.RUN_CANCELLED,
            RunStatus.FAILED: EventType.RUN_FAILED,
            RunStatus.STOPPED_MAX_ITERATIONS: EventType.RUN_STOPPED,
        }[stop.status]
        data: dict[str, Any] = {"message": stop.message}
        if stop.error:
            data["error"] = stop.error
        await self._keep_exit_state(state, self._done_step, pending, barriers, wait=False)
        self._rec.emit(kind, step=step, data=data)
        if self.checkpointer is None:
            self._rec.publish_now()
        else:
            # A failed or cancelled step recorded nothing: this final record reuses the
            # step number only if that step was never checkpointed.
            await self._rec.drain_before_final()
            await self._rec.commit(
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
