"""A store that keeps everything in memory: for tests and for running without a database.

It keeps rows with the same columns and the same JSON text as the SQL stores and follows
the same rules (see ``_fencing``), so one conformance suite covers every backend. Nothing
survives the process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Collection, Mapping
from datetime import datetime
from typing import Any

from graphrun.engine.checkpoint import CheckpointRow, RunCheckpoint, StepRecord
from graphrun.engine.errors import CheckpointConflictError
from graphrun.engine.events import Event, EventType
from graphrun.engine.state import State
from graphrun.engine.status import FINAL_STATUSES, RunStatus
from graphrun.store import _rows
from graphrun.store._codec import (
    PreparedStep,
    check_id,
    dumps,
    now_ts,
    prepare,
    spec_json,
    to_ts,
    ts_or_now,
)
from graphrun.store._fencing import step_conflict
from graphrun.store._listing import check_page, status_filter
from graphrun.store._rows import (
    CHECKPOINT_COLUMNS,
    EVENT_COLUMNS,
    encode_data,
    event_row,
    idempotency_message,
    new_run_row,
    queued_event_row,
    status_assignments,
)
from graphrun.store.base import CheckpointInfo, GraphRecord, Page, RunRecord, StatusChange
from graphrun.store.errors import (
    GraphExistsError,
    GraphNotFoundError,
    IdempotencyConflictError,
    NotFoundError,
    RunExistsError,
    RunNotFoundError,
    StoreError,
)

Row = dict[str, Any]
_UNFINISHED = (RunStatus.QUEUED.value, RunStatus.RUNNING.value)


class MemoryStore:
    """The in-memory :class:`~graphrun.store.base.Store`."""

    def __init__(self) -> None:
        self._graphs: dict[str, Row] = {}
        self._versions: dict[str, list[Row]] = {}
        self._runs: dict[str, Row] = {}
        self._checkpoints: dict[str, list[Row]] = {}
        self._checkpoint_steps: dict[str, set[int]] = {}
        self._events: dict[str, list[Row]] = {}
        self._idempotency: dict[str, str] = {}

    # -- lifecycle ----------------------------------------------------------------------

    async def open(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Nothing to release; the data stays until the object goes."""

    async def migrate(self) -> None:
        """No schema."""

    # -- checkpointer -------------------------------------------------------------------

    def save(self, record: StepRecord) -> Awaitable[None]:
        """Apply the record at once; the returned future is already done. A record that
        is not JSON raises here (``TypeError``/``ValueError``) and writes nothing."""
        p = prepare(record)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        try:
            self._apply(p)
        except (CheckpointConflictError, StoreError) as exc:
            done.set_exception(exc)
        else:
            done.set_result(None)
        return done

    def _apply(self, p: PreparedStep) -> None:
        run = self._runs.get(p.run_id)
        steps = self._checkpoint_steps.get(p.run_id, set())
        conflict = step_conflict(p, run, p.step in steps)
        if conflict is not None:
            raise conflict
        assert run is not None
        if p.checkpoint:
            row = dict(zip(CHECKPOINT_COLUMNS, p.checkpoint_row(), strict=True))
            self._checkpoints.setdefault(p.run_id, []).append(row)
            steps.add(p.step)
            self._checkpoint_steps[p.run_id] = steps
        events = self._events.setdefault(p.run_id, [])
        events.extend(dict(zip(EVENT_COLUMNS, e, strict=True)) for e in p.events)
        run.update(p.run_assignments())

    async def load(self, run_id: str) -> RunCheckpoint | None:
        run = self._runs.get(run_id)
        if run is None or run["checkpoint_step"] is None:
            return None
        return _rows.run_checkpoint(run, self._since_snapshot(run_id, None))

    def _since_snapshot(self, run_id: str, upto: int | None) -> list[CheckpointRow]:
        rows = self._checkpoints.get(run_id, [])
        if upto is not None:
            rows = [r for r in rows if r["step"] <= upto]
        start = 0
        for i in range(len(rows) - 1, -1, -1):
            if rows[i]["snapshot"] is not None:
                start = i
                break
        return [_rows.checkpoint(r) for r in rows[start:]]

    # -- graphs -------------------------------------------------------------------------

    async def create_graph(self, graph_id: str, name: str, spec: Mapping[str, Any]) -> GraphRecord:
        check_id("graph_id", graph_id)
        check_id("name", name)
        spec_text = spec_json(graph_id, spec)
        now = now_ts()
        graph = self._graphs.get(graph_id)
        if graph is not None and graph["deleted_at"] is None:
            raise GraphExistsError(f"graph {graph_id!r} already exists")
        if graph is None:
            graph = {"graph_id": graph_id, "version": 0, "created_at": now}
            self._graphs[graph_id] = graph
        return self._add_version(graph, name, spec_text, now)

    def _add_version(self, graph: Row, name: str, spec_text: str, now: float) -> GraphRecord:
        version = graph["version"] + 1
        graph.update(name=name, version=version, updated_at=now, deleted_at=None)
        row = {
            "graph_id": graph["graph_id"],
            "version": version,
            "name": name,
            "spec": spec_text,
            "created_at": now,
        }
        self._versions.setdefault(graph["graph_id"], []).append(row)
        return _rows.graph_record(graph, row)

    async def update_graph(
        self, graph_id: str, spec: Mapping[str, Any], *, name: str | None = None
    ) -> GraphRecord:
        spec_text = spec_json(graph_id, spec)
        graph = self._graphs.get(graph_id)
        if graph is None or graph["deleted_at"] is not None:
            raise GraphNotFoundError(f"graph {graph_id!r} does not exist")
        return self._add_version(graph, name or graph["name"], spec_text, now_ts())

    async def get_graph(self, graph_id: str, version: int | None = None) -> GraphRecord | None:
        graph = self._graphs.get(graph_id)
        if graph is None:
            return None
        if version is None:
            if graph["deleted_at"] is not None:
                return None
            version = graph["version"]
        for row in self._versions.get(graph_id, []):
            if row["version"] == version:
                return _rows.graph_record(graph, row)
        return None

    async def list_graphs(self, *, limit: int | None = None, offset: int = 0) -> Page[GraphRecord]:
        check_page(limit, offset)
        live = [g for g in self._graphs.values() if g["deleted_at"] is None]
        live.sort(key=lambda g: (g["created_at"], g["graph_id"]), reverse=True)
        chosen = live[offset:] if limit is None else live[offset : offset + limit]
        items = [_rows.graph_record(g, self._versions[g["graph_id"]][-1]) for g in chosen]
        return Page(items, len(live))

    async def list_graph_versions(self, graph_id: str) -> list[GraphRecord]:
        graph = self._graphs.get(graph_id)
        if graph is None:
            return []
        return [_rows.graph_record(graph, row) for row in self._versions[graph_id]]

    async def delete_graph(self, graph_id: str) -> bool:
        graph = self._graphs.get(graph_id)
        if graph is None or graph["deleted_at"] is not None:
            return False
        graph["deleted_at"] = now_ts()
        return True

    # -- runs ---------------------------------------------------------------------------

    async def create_run(
        self,
        run_id: str,
        graph_id: str,
        graph_version: int,
        input: State,
        *,
        idempotency_key: str | None = None,
        request_hash: str | None = None,
        parent_run_id: str | None = None,
        parent_step: int | None = None,
    ) -> RunRecord:
        check_id("run_id", run_id)
        input_text = dumps(dict(input), f"run {run_id!r}: the input")
        if idempotency_key is not None and idempotency_key in self._idempotency:
            existing = self._runs[self._idempotency[idempotency_key]]
            if existing["request_hash"] != request_hash:
                raise IdempotencyConflictError(idempotency_message(idempotency_key))
            return _rows.run_record(existing, self._state(existing))
        if run_id in self._runs:
            raise RunExistsError(f"run {run_id!r} already exists")
        graph = self._graphs.get(graph_id)
        if graph is None or graph["deleted_at"] is not None:
            raise GraphNotFoundError(f"graph {graph_id!r} does not exist")
        if not any(v["version"] == graph_version for v in self._versions[graph_id]):
            raise GraphNotFoundError(f"graph {graph_id!r} has no version {graph_version}")
        now = now_ts()
        run = new_run_row(
            run_id, graph_id, graph_version, input_text, now, idempotency_key, request_hash,
            parent_run_id, parent_step,
        )  # fmt: skip
        self._runs[run_id] = run
        self._events[run_id] = [queued_event_row(run_id, graph_id, graph_version, now)]
        if idempotency_key is not None:
            self._idempotency[idempotency_key] = run_id
        return _rows.run_record(run, self._state(run))

    def _state(self, run: Row) -> State:
        return _rows.run_state(run, self._since_snapshot(run["run_id"], None))

    async def get_run(self, run_id: str) -> RunRecord | None:
        run = self._runs.get(run_id)
        if run is None:
            return None
        return _rows.run_record(run, self._state(run))

    async def list_runs(
        self,
        *,
        graph_id: str | None = None,
        status: RunStatus | Collection[RunStatus] | None = None,
        limit: int = 50,
        offset: int = 0,
        with_state: bool = False,
    ) -> Page[RunRecord]:
        check_page(limit, offset)
        statuses = status_filter(status)
        chosen = [
            r
            for r in self._runs.values()
            if (graph_id is None or r["graph_id"] == graph_id)
            and (statuses is None or r["status"] in statuses)
        ]
        chosen.sort(key=lambda r: (r["created_at"], r["run_id"]), reverse=True)
        items = [
            _rows.run_record(r, self._state(r)) if with_state else _rows.run_record(r, None)
            for r in chosen[offset : offset + limit]
        ]
        return Page(items, len(chosen))

    async def set_status(
        self,
        run_id: str,
        status: RunStatus,
        *,
        error: Mapping[str, Any] | None = None,
        only_from: Collection[RunStatus] | None = None,
        event: EventType | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> StatusChange:
        status = RunStatus(status)
        error_text = None if error is None else dumps(dict(error), f"run {run_id!r}: the error")
        data_text = encode_data(run_id, data)
        run = self._runs.get(run_id)
        if run is None:
            raise RunNotFoundError(f"run {run_id!r} does not exist")
        current = RunStatus(run["status"])
        if only_from is not None and current not in set(only_from):
            return StatusChange(False, current)
        now = now_ts()
        run.update(status_assignments(status, error_text, now))
        appended = None
        if event is not None:
            run["last_seq"] += 1
            row = event_row(run_id, run["last_seq"], event, None, now, data_text)
            self._events[run_id].append(row)
            appended = _rows.event(row)
        return StatusChange(True, status, appended)

    async def find_run_by_idempotency_key(self, key: str) -> RunRecord | None:
        run_id = self._idempotency.get(key)
        return None if run_id is None else await self.get_run(run_id)

    # -- events and history ---------------------------------------------------------------

    async def list_events(
        self, run_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        check_page(limit, 0)
        rows = self._events.get(run_id, [])[max(0, after_seq) :]
        if limit is not None:
            rows = rows[:limit]
        return [_rows.event(r) for r in rows]

    async def list_checkpoints(self, run_id: str) -> list[CheckpointInfo]:
        return _rows.checkpoint_infos(self._checkpoints.get(run_id, []))

    async def checkpoint_at(self, run_id: str, step: int) -> RunCheckpoint | None:
        run = self._runs.get(run_id)
        rows = self._since_snapshot(run_id, step) if run is not None else []
        if run is None or not rows:
            return None
        return _rows.checkpoint_at(run, rows)

    async def state_at(self, run_id: str, step: int) -> State:
        cp = await self.checkpoint_at(run_id, step)
        if cp is None:
            raise NotFoundError(f"run {run_id!r} has no checkpoint at or before step {step}")
        return cp.state

    # -- leases -------------------------------------------------------------------------

    def _run(self, run_id: str) -> Row:
        run = self._runs.get(run_id)
        if run is None:
            raise RunNotFoundError(f"run {run_id!r} does not exist")
        return run

    async def acquire_lease(
        self, run_id: str, owner: str, seconds: float, *, now: datetime | None = None
    ) -> bool:
        run = self._run(run_id)
        at = ts_or_now(now)
        free = (
            run["lease_owner"] is None
            or run["lease_owner"] == owner
            or run["lease_expires_at"] < at
        )
        if not free or RunStatus(run["status"]).is_final:
            return False
        run.update(lease_owner=owner, lease_expires_at=at + seconds)
        return True

    async def renew_lease(
        self, run_id: str, owner: str, seconds: float, *, now: datetime | None = None
    ) -> bool:
        run = self._run(run_id)
        if run["lease_owner"] != owner:
            return False
        run["lease_expires_at"] = ts_or_now(now) + seconds
        return True

    async def release_lease(self, run_id: str, owner: str) -> bool:
        run = self._run(run_id)
        if run["lease_owner"] != owner:
            return False
        run.update(lease_owner=None, lease_expires_at=None)
        return True

    async def expired_runs(
        self, *, now: datetime | None = None, limit: int = 100, include_unleased: bool = False
    ) -> list[RunRecord]:
        check_page(limit, 0)
        at = ts_or_now(now)
        chosen = [
            r
            for r in self._runs.values()
            if r["status"] in _UNFINISHED
            and (
                (r["lease_owner"] is not None and r["lease_expires_at"] < at)
                or (include_unleased and r["lease_owner"] is None)
            )
        ]
        chosen.sort(key=lambda r: (r["created_at"], r["run_id"]))
        return [_rows.run_record(r, None) for r in chosen[:limit]]

    async def add_recovery_attempt(self, run_id: str) -> int:
        run = self._run(run_id)
        run["recovery_attempts"] += 1
        count: int = run["recovery_attempts"]
        return count

    # -- retention ----------------------------------------------------------------------

    async def prune(self, older_than: datetime) -> int:
        cutoff = to_ts(older_than)
        finals = {s.value for s in FINAL_STATUSES}
        doomed = [
            run_id
            for run_id, r in self._runs.items()
            if r["status"] in finals and r["finished_at"] is not None and r["finished_at"] < cutoff
        ]
        for run_id in doomed:
            run = self._runs.pop(run_id)
            self._checkpoints.pop(run_id, None)
            self._checkpoint_steps.pop(run_id, None)
            self._events.pop(run_id, None)
            if run["idempotency_key"] is not None:
                self._idempotency.pop(run["idempotency_key"], None)
        return len(doomed)


__all__ = ["MemoryStore"]
