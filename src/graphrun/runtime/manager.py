"""The run manager: creates runs, executes them in the background with bounded
concurrency, cancels them, waits for them, and resumes unfinished ones after a restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from graphrun.bus.base import EventBus, Subscription
from graphrun.engine.checkpoint import StepRecord
from graphrun.engine.compiled import CompiledGraph
from graphrun.engine.errors import CheckpointConflictError, StateError
from graphrun.engine.events import Event, EventType
from graphrun.engine.executor import Durability, Executor
from graphrun.engine.results import RunResult
from graphrun.engine.status import RunStatus
from graphrun.logs import get_logger
from graphrun.runtime.graphs import GraphCache
from graphrun.store.base import RunRecord, Store
from graphrun.store.errors import IdempotencyConflictError

log = get_logger(__name__)


_UNANSWERED: Any = object()


class RunNotFoundError(LookupError):
    pass


class GraphNotFoundError(LookupError):
    pass


class RunStateError(Exception):
    """The run is not in a status that allows the request (e.g. cancel a finished run)."""


@dataclass(slots=True)
class ManagerLimits:
    max_concurrent_runs: int = 64
    max_state_bytes: int = 500_000
    durability: Durability = "async"
    snapshot_every: int = 20
    lease_seconds: float = 30.0
    recovery_max_attempts: int = 3
    retention_days: float | None = None
    retention_every_s: float = 3600.0


class RunManager:
    """Owns the runs executing in this process."""

    def __init__(
        self,
        store: Store,
        bus: EventBus,
        graphs: GraphCache,
        limits: ManagerLimits | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.graphs = graphs
        self.limits = limits or ManagerLimits()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        # Taken off the queue by a worker and not yet done with: neither enqueued again
        # nor recovered meanwhile, or one process would run the run twice.
        self._claimed: set[str] = set()
        self._executors: dict[str, Executor] = {}
        # Answers to interrupts waiting for a worker. Kept in memory on purpose: the run
        # stays `interrupted` in the store until a worker's executor takes the answer, so
        # a crash before that loses nothing but the request, which the client can repeat.
        self._resume_inputs: dict[str, Any] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._background: list[asyncio.Task[None]] = []
        self._started = False

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Start the workers and pick up runs left unfinished by an earlier process."""
        if self._started:
            return
        self._started = True
        for i in range(self.limits.max_concurrent_runs):
            self._workers.append(asyncio.create_task(self._worker(), name=f"graphrun-worker-{i}"))
        await self.recover()
        self._background.append(asyncio.create_task(self._recovery_loop()))
        if self.limits.retention_days is not None:
            self._background.append(asyncio.create_task(self._retention_loop()))

    async def stop(self) -> None:
        """Stop executing. Runs in flight keep their status and resume on the next start."""
        for task in self._background + self._workers:
            task.cancel()
        for task in self._background + self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers.clear()
        self._background.clear()
        self._started = False

    @property
    def active(self) -> int:
        """Runs a worker has taken off the queue and not finished with."""
        return len(self._claimed)

    @property
    def queued(self) -> int:
        return len(self._queued)

    # -- runs -------------------------------------------------------------------------

    async def compiled(
        self, graph_id: str, version: int | None = None
    ) -> tuple[CompiledGraph, int]:
        record = await self.store.get_graph(graph_id, version)
        if record is None:
            raise GraphNotFoundError(graph_id)
        return self.graphs.get(record.graph_id, record.version, record.spec), record.version

    async def create_run(
        self,
        graph_id: str,
        state: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        request_hash: str | None = None,
    ) -> tuple[RunRecord, bool]:
        """Store a queued run and schedule it. Returns (run, created); ``created`` is
        False when the idempotency key matched an earlier run with the same request."""
        if idempotency_key is not None:
            earlier = await self.store.find_run_by_idempotency_key(idempotency_key)
            if earlier is not None:
                if earlier.request_hash != request_hash:
                    raise RunStateError(
                        f"Idempotency-Key {idempotency_key!r} was used with a different request"
                    )
                return earlier, False
        compiled, version = await self.compiled(graph_id)
        initial = dict(state)
        check_state_size(initial, self.limits.max_state_bytes)
        if compiled.schema is not None:
            compiled.schema.validate(initial, after="the input")
        run_id = str(uuid.uuid4())
        try:
            run = await self.store.create_run(
                run_id,
                graph_id,
                version,
                initial,
                idempotency_key=idempotency_key,
                request_hash=request_hash,
            )
        except IdempotencyConflictError as exc:
            raise RunStateError(str(exc)) from None
        if run.run_id != run_id:  # the same request raced in under the same key
            return run, False
        self._enqueue(run.run_id)
        return run, True

    def _enqueue(self, run_id: str) -> None:
        if run_id in self._queued or run_id in self._claimed:
            return
        self._queued.add(run_id)
        self._queue.put_nowait(run_id)

    async def cancel(self, run_id: str) -> RunRecord:
        run = await self.store.get_run(run_id)
        if run is None:
            raise RunNotFoundError(run_id)
        if run.status.is_final:
            raise RunStateError(f"run {run_id!r} already ended with status {run.status.value}")
        executor = self._executors.get(run_id)
        if executor is not None:
            executor.cancel("cancelled by request")
            await self.wait(run_id, 10.0)
        else:
            # Queued here (a worker that picks it up later sees the final status and
            # skips it), or interrupted and waiting for input.
            change = await self.store.set_status(
                run_id,
                RunStatus.CANCELLED,
                only_from={RunStatus.QUEUED, RunStatus.INTERRUPTED},
                event=EventType.RUN_CANCELLED,
                data={"message": "cancelled by request"},
            )
            if change.event is not None:
                self.bus.publish([change.event])
            elif not change.status.is_final:
                raise RunStateError(
                    f"run {run_id!r} is {change.status.value} in another process; try again"
                )
            self._queued.discard(run_id)
        found = await self.store.get_run(run_id)
        assert found is not None
        return found

    async def resume(self, run_id: str, value: Any = None) -> RunRecord:
        """Answer an interrupted run and continue it in the background."""
        run = await self.store.get_run(run_id)
        if run is None:
            raise RunNotFoundError(run_id)
        if run.status is not RunStatus.INTERRUPTED:
            raise RunStateError(f"run {run_id!r} is {run.status.value}, not waiting for input")
        if run_id in self._resume_inputs:
            raise RunStateError(f"run {run_id!r} is already being resumed")
        # Its worker may still be finishing the pause: it queues the run again when done.
        kind = (run.interrupt or {}).get("kind") if isinstance(run.interrupt, dict) else None
        if kind in ("before", "after") and value is not None and not isinstance(value, Mapping):
            raise StateError(
                f"run {run_id!r} paused at interrupt_{kind}: its input must be a JSON object "
                f"to merge into the state (or null), not {type(value).__name__}"
            )
        self._resume_inputs[run_id] = value
        self._enqueue(run_id)
        return run

    async def fork(
        self, run_id: str, step: int, state_patch: Mapping[str, Any] | None = None
    ) -> RunRecord:
        """Start a new run from the state and pending nodes the run had after ``step``
        (optionally patched), on the same graph version; its lineage is recorded."""
        parent = await self.store.get_run(run_id)
        if parent is None:
            raise RunNotFoundError(run_id)
        point = await self.store.checkpoint_at(run_id, step)
        if point is None or point.step != step:
            raise RunStateError(f"run {run_id!r} has no checkpoint at step {step}")
        state = {**point.state, **dict(state_patch or {})}
        check_state_size(state, self.limits.max_state_bytes)
        compiled, _ = await self.compiled(parent.graph_id, parent.graph_version)
        if compiled.schema is not None:
            compiled.schema.validate(state, after="the fork's state patch")
        child = await self.store.create_run(
            str(uuid.uuid4()),
            parent.graph_id,
            parent.graph_version,
            state,
            parent_run_id=run_id,
            parent_step=step,
        )
        # The fork's first checkpoint holds the parent's pending set, so the child goes
        # on from there (by resuming) instead of from the entry node.
        started = Event(
            seq=child.last_seq + 1,
            type=EventType.RUN_STARTED,
            run_id=child.run_id,
            step=0,
            data={"graph": compiled.name, "forked_from": run_id, "fork_step": step},
        )
        await self.store.save(
            StepRecord(
                run_id=child.run_id,
                step=0,
                kind="checkpoint",
                status=RunStatus.QUEUED,
                events=[started],
                delta=dict(state),
                snapshot=dict(state),
                pending=list(point.pending),
                barriers={k: list(v) for k, v in point.barriers.items()},
            )
        )
        self.bus.publish([started])
        self._enqueue(child.run_id)
        return child

    async def wait(self, run_id: str, seconds: float) -> RunRecord:
        """Wait until the run ends (or is interrupted), at most ``seconds``."""
        sub = self.bus.subscribe(run_id, maxsize=100_000)
        try:
            deadline = time.monotonic() + seconds
            while True:
                run = await self.store.get_run(run_id)
                if run is None:
                    raise RunNotFoundError(run_id)
                if run.status.is_final or run.status is RunStatus.INTERRUPTED:
                    return run
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return run
                # Events wake us; the poll bounds the wait if the run ends elsewhere.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(remaining, 1.0)):
                        await _until_terminal(sub)
        finally:
            sub.close()

    # -- execution --------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            run_id = await self._queue.get()
            self._queued.discard(run_id)
            self._claimed.add(run_id)
            try:
                await self._execute(run_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("run execution crashed", run_id=run_id)
            finally:
                self._claimed.discard(run_id)
            if run_id in self._resume_inputs:  # answered while this worker was finishing
                self._enqueue(run_id)

    async def _execute(self, run_id: str) -> None:
        answer = self._resume_inputs.pop(run_id, _UNANSWERED)
        run = await self.store.get_run(run_id)
        if run is None or run.status.is_final:
            return
        if run.status is RunStatus.INTERRUPTED and answer is _UNANSWERED:
            return  # waits for POST /runs/{id}/resume
        if not await self.store.acquire_lease(run_id, self.owner, self.limits.lease_seconds):
            return  # another process holds it
        compiled, _ = await self.compiled(run.graph_id, run.graph_version)
        executor = Executor(
            compiled,
            checkpointer=self.store,
            sink=self.bus,
            durability=self.limits.durability,
            snapshot_every=self.limits.snapshot_every,
            labels={"graph_id": run.graph_id},
        )
        self._executors[run_id] = executor
        # The executor runs in a task of its own so that losing the lease can stop it
        # as a shutdown does: where it stands, recording nothing more.
        work = asyncio.create_task(self._run(executor, run, answer))
        heartbeat = asyncio.create_task(self._heartbeat(run_id, work))
        try:
            result = await work
            log.info(
                "run ended",
                run_id=run_id,
                graph_id=run.graph_id,
                status=result.status.value,
                steps=result.step,
            )
        except CheckpointConflictError as exc:
            log.warning("run taken over by another executor", run_id=run_id, error=str(exc))
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not work.cancelled() or (task is not None and task.cancelling()):
                raise  # this worker is being stopped
            # The heartbeat found the lease held elsewhere: the new owner goes on.
        except StateError as exc:
            error = {"type": "StateError", "message": str(exc)}
            change = await self.store.set_status(
                run_id,
                RunStatus.FAILED,
                error=error,
                event=EventType.RUN_FAILED,
                data={"message": str(exc), "error": error},
            )
            if change.event is not None:
                self.bus.publish([change.event])
        finally:
            # Not awaited: a stop() of this worker landing while it waited for the
            # heartbeat would be taken for the heartbeat's cancellation and lost.
            heartbeat.cancel()
            self._executors.pop(run_id, None)
            with contextlib.suppress(Exception):
                await self.store.release_lease(run_id, self.owner)

    async def _run(self, executor: Executor, run: RunRecord, answer: Any) -> RunResult:
        if run.last_seq <= 1:
            # Only run_queued so far: nothing was checkpointed (run_started goes with the
            # first checkpoint), so there is nothing to load.
            return await executor.start(run.input, run_id=run.run_id, after_seq=run.last_seq)
        if answer is _UNANSWERED:
            return await executor.resume(run.run_id)
        return await executor.resume(run.run_id, answer)

    async def _heartbeat(self, run_id: str, work: asyncio.Task[RunResult]) -> None:
        period = self.limits.lease_seconds / 3
        while True:
            await asyncio.sleep(period)
            try:
                renewed = await self.store.renew_lease(
                    run_id, self.owner, self.limits.lease_seconds
                )
            except Exception:
                # Retried next period; should the lease run out meanwhile, fencing
                # stops whichever executor writes second.
                log.exception("could not renew the lease of a run", run_id=run_id)
                continue
            if not renewed:
                if not work.done():
                    # Another process took the run over: stop here without recording
                    # a status (cancelling would end the run for the new owner too).
                    log.warning("lost the lease of a run; stopping it here", run_id=run_id)
                    work.cancel()
                return

    async def recover(self) -> int:
        """Queue every unfinished run nobody holds a live lease on. A run that was
        already running counts one recovery attempt; past the limit it is failed
        instead of being retried forever."""
        count = 0
        for run in await self.store.expired_runs(include_unleased=True, limit=1000):
            if run.run_id in self._claimed or run.run_id in self._queued:
                continue
            if run.status is RunStatus.RUNNING:
                attempts = await self.store.add_recovery_attempt(run.run_id)
                if attempts > self.limits.recovery_max_attempts:
                    await self._give_up(run, attempts)
                    continue
            self._enqueue(run.run_id)
            count += 1
        if count:
            log.info("recovering unfinished runs", count=count)
        return count

    async def _give_up(self, run: RunRecord, attempts: int) -> None:
        message = (
            f"gave up after {attempts - 1} recoveries: the run kept dying "
            f"(setting GRAPHRUN_RECOVERY_MAX_ATTEMPTS is {self.limits.recovery_max_attempts})"
        )
        error = {"type": "RecoveryError", "message": message}
        change = await self.store.set_status(
            run.run_id,
            RunStatus.FAILED,
            error=error,
            only_from={RunStatus.RUNNING},
            event=EventType.RUN_FAILED,
            data={"message": message, "error": error},
        )
        if change.event is not None:
            self.bus.publish([change.event])
        log.error("run failed recovery too often", run_id=run.run_id, attempts=attempts - 1)

    async def _recovery_loop(self) -> None:
        while True:
            await asyncio.sleep(self.limits.lease_seconds / 2)
            try:
                await self.recover()
            except Exception:
                log.exception("recovery pass failed")

    async def prune_expired(self) -> int:
        """Delete finished runs older than the retention period (0 when it is off)."""
        if self.limits.retention_days is None:
            return 0
        cutoff = datetime.now(UTC) - timedelta(days=self.limits.retention_days)
        removed = await self.store.prune(cutoff)
        if removed:
            log.info("pruned finished runs", removed=removed, before=cutoff.isoformat())
        return removed

    async def _retention_loop(self) -> None:
        while True:
            try:
                await self.prune_expired()
            except Exception:
                log.exception("retention pass failed")
            await asyncio.sleep(self.limits.retention_every_s)


async def _until_terminal(sub: Subscription) -> None:
    while True:
        event: Event | None = await sub.get()
        if event is None or event.is_terminal or event.type is EventType.RUN_INTERRUPTED:
            return


def check_state_size(state: Mapping[str, Any], limit: int) -> None:
    try:
        size = len(json.dumps(state, separators=(",", ":")))
    except (TypeError, ValueError) as exc:
        raise StateError(f"the state must be JSON: {exc}") from None
    if size > limit:
        raise StateError(
            f"the state is {size} bytes as JSON; the limit is {limit} "
            "(setting GRAPHRUN_MAX_STATE_BYTES)"
        )
