"""What the SQLite and Postgres stores share: every operation but the step path.

A backend supplies ``_read(plan)`` and ``_write(plan)`` (run a plan from ``_queries`` in a
read or write transaction), ``save`` (the step path) and its lifecycle.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Collection, Mapping
from datetime import datetime
from typing import Any, TypeVar

from graphrun.engine.checkpoint import RunCheckpoint, StepRecord
from graphrun.engine.events import Event, EventType
from graphrun.engine.state import State
from graphrun.engine.status import RunStatus
from graphrun.store import _rows
from graphrun.store._codec import check_id, dumps, now_ts, spec_json, to_ts, ts_or_now
from graphrun.store._listing import check_page, status_filter
from graphrun.store.base import CheckpointInfo, GraphRecord, Page, RunRecord, StatusChange
from graphrun.store.errors import (
    GraphExistsError,
    IdempotencyConflictError,
    NotFoundError,
    RunExistsError,
)
from graphrun.store.sql import _queries as q
from graphrun.store.sql._plans import DuplicateKeyError, Plan

T = TypeVar("T")

POINT_READ_EVENTS = 1_000  # a listing at most this long is read like one row


class SqlStore(ABC):
    """The shared half of the SQL stores (see the module docstring)."""

    @abstractmethod
    async def _read(self, plan: Plan[T]) -> T: ...

    @abstractmethod
    async def _write(self, plan: Plan[T]) -> T: ...

    async def _read_point(self, plan: Plan[T]) -> T:
        """A read of one row or one run (bounded work): a backend may run it more cheaply
        than a listing."""
        return await self._read(plan)

    @abstractmethod
    def save(self, record: StepRecord) -> Awaitable[None]: ...

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def migrate(self) -> None: ...

    async def load(self, run_id: str) -> RunCheckpoint | None:
        return await self._read_point(q.load(run_id))

    # -- graphs -------------------------------------------------------------------------

    async def create_graph(self, graph_id: str, name: str, spec: Mapping[str, Any]) -> GraphRecord:
        check_id("graph_id", graph_id)
        check_id("name", name)
        spec_text = spec_json(graph_id, spec)
        try:
            return await self._write(q.create_graph(graph_id, name, spec_text, now_ts()))
        except DuplicateKeyError:  # created concurrently
            raise GraphExistsError(f"graph {graph_id!r} already exists") from None

    async def update_graph(
        self, graph_id: str, spec: Mapping[str, Any], *, name: str | None = None
    ) -> GraphRecord:
        if name is not None:
            check_id("name", name)
        spec_text = spec_json(graph_id, spec)
        return await self._write(q.update_graph(graph_id, name, spec_text, now_ts()))

    async def get_graph(self, graph_id: str, version: int | None = None) -> GraphRecord | None:
        return await self._read_point(q.get_graph(graph_id, version))

    async def list_graphs(self, *, limit: int | None = None, offset: int = 0) -> Page[GraphRecord]:
        check_page(limit, offset)
        return await self._read(q.list_graphs(limit, offset))

    async def list_graph_versions(self, graph_id: str) -> list[GraphRecord]:
        return await self._read(q.list_graph_versions(graph_id))

    async def delete_graph(self, graph_id: str) -> bool:
        return await self._write(q.delete_graph(graph_id, now_ts()))

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
        now = now_ts()
        row = _rows.new_run_row(
            run_id, graph_id, graph_version, input_text, now, idempotency_key, request_hash,
            parent_run_id, parent_step,
        )  # fmt: skip
        queued = _rows.queued_event_row(run_id, graph_id, graph_version, now)
        try:
            return await self._write(q.create_run(row, queued))
        except DuplicateKeyError:
            # Created concurrently: with the same key, answer as if we had come second.
            if idempotency_key is not None:
                existing = await self.find_run_by_idempotency_key(idempotency_key)
                if existing is not None:
                    if existing.request_hash != request_hash:
                        raise IdempotencyConflictError(
                            _rows.idempotency_message(idempotency_key)
                        ) from None
                    return existing
            raise RunExistsError(f"run {run_id!r} already exists") from None

    async def get_run(self, run_id: str) -> RunRecord | None:
        return await self._read_point(q.get_run(run_id))

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
        return await self._read(q.list_runs(graph_id, statuses, limit, offset, with_state))

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
        data_text = _rows.encode_data(run_id, data)
        allowed = None if only_from is None else {RunStatus(s).value for s in only_from}
        return await self._write(
            q.set_status(run_id, status, error_text, allowed, event, data_text, now_ts())
        )

    async def find_run_by_idempotency_key(self, key: str) -> RunRecord | None:
        return await self._read_point(q.find_run_by_key(key))

    # -- events and history ---------------------------------------------------------------

    async def list_events(
        self, run_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        check_page(limit, 0)
        plan = q.list_events(run_id, after_seq, limit)
        if limit is not None and limit <= POINT_READ_EVENTS:
            return await self._read_point(plan)
        return await self._read(plan)

    async def list_checkpoints(self, run_id: str) -> list[CheckpointInfo]:
        return await self._read(q.list_checkpoints(run_id))

    async def checkpoint_at(self, run_id: str, step: int) -> RunCheckpoint | None:
        return await self._read(q.checkpoint_at(run_id, step))

    async def state_at(self, run_id: str, step: int) -> State:
        cp = await self.checkpoint_at(run_id, step)
        if cp is None:
            raise NotFoundError(f"run {run_id!r} has no checkpoint at or before step {step}")
        return cp.state

    # -- leases -------------------------------------------------------------------------

    async def acquire_lease(
        self, run_id: str, owner: str, seconds: float, *, now: datetime | None = None
    ) -> bool:
        at = ts_or_now(now)
        return await self._write(q.acquire_lease(run_id, owner, at, at + seconds))

    async def renew_lease(
        self, run_id: str, owner: str, seconds: float, *, now: datetime | None = None
    ) -> bool:
        return await self._write(q.renew_lease(run_id, owner, ts_or_now(now) + seconds))

    async def release_lease(self, run_id: str, owner: str) -> bool:
        return await self._write(q.release_lease(run_id, owner))

    async def expired_runs(
        self, *, now: datetime | None = None, limit: int = 100, include_unleased: bool = False
    ) -> list[RunRecord]:
        check_page(limit, 0)
        return await self._read(q.expired_runs(ts_or_now(now), limit, include_unleased))

    async def add_recovery_attempt(self, run_id: str) -> int:
        return await self._write(q.add_recovery_attempt(run_id))

    # -- retention ----------------------------------------------------------------------

    async def prune(self, older_than: datetime) -> int:
        return await self._write(q.prune(to_ts(older_than)))
