"""Stored rows to records: shared by the memory and SQL stores, which keep rows with the
same column names (see ``sql/tables.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from graphrun.engine.checkpoint import CheckpointRow, RunCheckpoint, rebuild_state
from graphrun.engine.events import Event, EventType
from graphrun.engine.state import State
from graphrun.engine.status import RunStatus
from graphrun.store._codec import (
    EMPTY_LIST,
    StateSize,
    decode,
    dumps,
    encode,
    loads_or_none,
    to_datetime,
    to_datetime_or_none,
)
from graphrun.store.base import CheckpointInfo, GraphRecord, RunRecord

Columns = dict[str, Any]


class Row(Protocol):
    """A stored row: columns by name (a dict, ``sqlite3.Row``, ``asyncpg.Record``)."""

    def __getitem__(self, key: str, /) -> Any: ...


def graph_record(graph: Row, version: Row) -> GraphRecord:
    return GraphRecord(
        graph_id=graph["graph_id"],
        name=version["name"],
        version=version["version"],
        spec=decode(version["spec"]),
        created_at=to_datetime(graph["created_at"]),
        updated_at=to_datetime(version["created_at"]),
        deleted=graph["deleted_at"] is not None,
    )


def run_record(row: Row, state: State | None) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"],
        graph_id=row["graph_id"],
        graph_version=row["graph_version"],
        status=RunStatus(row["status"]),
        input=decode(row["input"]),
        state=state,
        step=row["step"],
        pending=decode(row["pending"]),
        nodes=decode(row["nodes"]),
        error=loads_or_none(row["error"]),
        last_seq=row["last_seq"],
        created_at=to_datetime(row["created_at"]),
        updated_at=to_datetime(row["updated_at"]),
        finished_at=to_datetime_or_none(row["finished_at"]),
        interrupt=loads_or_none(row["interrupt"]),
        idempotency_key=row["idempotency_key"],
        request_hash=row["request_hash"],
        parent_run_id=row["parent_run_id"],
        parent_step=row["parent_step"],
        lease_owner=row["lease_owner"],
        lease_expires_at=to_datetime_or_none(row["lease_expires_at"]),
        recovery_attempts=row["recovery_attempts"],
    )


def event(row: Row) -> Event:
    return Event(
        seq=row["seq"],
        type=EventType(row["type"]),
        run_id=row["run_id"],
        node=row["node"],
        step=row["step"],
        data=decode(row["data"]),
        ts=row["ts"],
    )


def checkpoint(row: Row) -> CheckpointRow:
    return CheckpointRow(
        step=row["step"],
        nodes=decode(row["nodes"]),
        delta=decode(row["delta"]),
        snapshot=loads_or_none(row["snapshot"]),
        pending=decode(row["pending"]),
        barriers=decode(row["barriers"]),
        status=RunStatus(row["status"]),
        interrupt=loads_or_none(row["interrupt"]),
    )


def run_state(run: Row, rows: Sequence[CheckpointRow]) -> State:
    """The run's current state: rebuilt from checkpoints, or its input before any."""
    if not rows:
        state: State = decode(run["input"])
        return state
    return rebuild_state(rows)


def run_checkpoint(run: Row, rows: Sequence[CheckpointRow]) -> RunCheckpoint:
    """What resuming needs, from the run row and its checkpoints since the last snapshot."""
    last = rows[-1]
    return RunCheckpoint(
        run_id=run["run_id"],
        step=last.step,
        state=rebuild_state(rows),
        pending=list(last.pending),
        barriers={k: list(v) for k, v in last.barriers.items()},
        last_seq=run["last_seq"],
        status=RunStatus(run["status"]),
        error=loads_or_none(run["error"]),
        interrupt=loads_or_none(run["interrupt"]),
    )


def checkpoint_at(run: Row, rows: Sequence[CheckpointRow]) -> RunCheckpoint:
    """The run as it stood at the last of ``rows`` (a time-travel view: ``last_seq``,
    status and error are those of that checkpoint, not of the run now)."""
    last = rows[-1]
    return RunCheckpoint(
        run_id=run["run_id"],
        step=last.step,
        state=rebuild_state(rows),
        pending=list(last.pending),
        barriers={k: list(v) for k, v in last.barriers.items()},
        last_seq=run["last_seq"] if last.step == run["checkpoint_step"] else 0,
        status=last.status,
        error=None,
        interrupt=last.interrupt,
    )


def checkpoint_infos(rows: Sequence[Row]) -> list[CheckpointInfo]:
    """The history view of every checkpoint of a run (``rows`` in step order)."""
    size = StateSize()
    out: list[CheckpointInfo] = []
    for row in rows:
        cp = checkpoint(row)
        if cp.snapshot is not None:
            size.reset(cp.snapshot)
        else:
            size.update(cp.delta)
        out.append(
            CheckpointInfo(
                step=cp.step,
                status=cp.status,
                nodes=cp.nodes,
                delta=cp.delta,
                pending=cp.pending,
                has_snapshot=cp.snapshot is not None,
                size_bytes=row["size_bytes"],
                state_bytes=size.total,
                created_at=to_datetime(row["created_at"]),
                interrupt=cp.interrupt,
            )
        )
    return out


# -- new rows ----------------------------------------------------------------------------

CHECKPOINT_COLUMNS = (
    "run_id", "step", "status", "nodes", "delta", "snapshot", "pending", "barriers",
    "interrupt", "size_bytes", "created_at",
)  # fmt: skip
EVENT_COLUMNS = ("run_id", "seq", "type", "node", "step", "ts", "data")


def new_run_row(
    run_id: str,
    graph_id: str,
    graph_version: int,
    input_text: str,
    now: float,
    idempotency_key: str | None,
    request_hash: str | None,
    parent_run_id: str | None,
    parent_step: int | None,
) -> Columns:
    """A queued run's row (its ``run_queued`` event is seq 1)."""
    return {
        "run_id": run_id,
        "graph_id": graph_id,
        "graph_version": graph_version,
        "status": RunStatus.QUEUED.value,
        "input": input_text,
        "step": 0,
        "pending": EMPTY_LIST,
        "nodes": EMPTY_LIST,
        "error": None,
        "interrupt": None,
        "last_seq": 1,
        "checkpoint_step": None,
        "snapshot_step": None,
        "idempotency_key": idempotency_key,
        "request_hash": request_hash,
        "parent_run_id": parent_run_id,
        "parent_step": parent_step,
        "lease_owner": None,
        "lease_expires_at": None,
        "recovery_attempts": 0,
        "created_at": now,
        "updated_at": now,
        "finished_at": None,
    }


def event_row(
    run_id: str, seq: int, type_: EventType, step: int | None, ts: float, data_text: str
) -> Columns:
    return {
        "run_id": run_id,
        "seq": seq,
        "type": EventType(type_).value,
        "node": None,
        "step": step,
        "ts": ts,
        "data": data_text,
    }


def queued_event_row(run_id: str, graph_id: str, graph_version: int, now: float) -> Columns:
    data = encode({"graph_id": graph_id, "graph_version": graph_version})
    return event_row(run_id, 1, EventType.RUN_QUEUED, None, now, data)


def encode_data(run_id: str, data: Mapping[str, Any] | None) -> str:
    return dumps(dict(data), f"run {run_id!r}: the event data") if data else "{}"


def status_assignments(status: RunStatus, error_text: str | None, now: float) -> Columns:
    return {
        "status": status.value,
        "error": error_text,
        "updated_at": now,
        "finished_at": now if status.is_final else None,
    }


def idempotency_message(key: str) -> str:
    return (
        f"idempotency key {key!r} was already used for a different request; "
        "use a new key for a new request"
    )
