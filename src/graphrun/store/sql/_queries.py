"""Every store operation except ``save``, as plans (see ``_plans``) over the Core tables.

Each plan runs in one transaction chosen by the store (a write transaction for the
functions marked *write*). Concurrent writers are serialized by the database: SQLite
write transactions are IMMEDIATE; on Postgres, counters move with ``UPDATE ...
RETURNING`` and rows read before a change are locked ``FOR UPDATE``.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy import bindparam as bp

from graphrun.engine.checkpoint import CheckpointRow, RunCheckpoint
from graphrun.engine.errors import CheckpointConflictError
from graphrun.engine.events import Event, EventType
from graphrun.engine.status import FINAL_STATUSES, RunStatus
from graphrun.store import _rows
from graphrun.store._codec import PreparedStep, decode, to_datetime
from graphrun.store._fencing import step_conflict
from graphrun.store.base import CheckpointInfo, GraphRecord, Page, RunRecord, StatusChange
from graphrun.store.errors import (
    GraphExistsError,
    GraphNotFoundError,
    IdempotencyConflictError,
    RunExistsError,
    RunNotFoundError,
)
from graphrun.store.sql import tables
from graphrun.store.sql._plans import Plan, execute, fetch, fetch_one

C, E, V, G, R = tables.checkpoints, tables.events, tables.graph_versions, tables.graphs, tables.runs
RI = tables.run_inputs

NO_LIMIT = 2**62
_FINALS = sorted(s.value for s in FINAL_STATUSES)
_UNFINISHED = (RunStatus.QUEUED.value, RunStatus.RUNNING.value)


def _status_in(statuses: Iterable[str]) -> sa.ColumnElement[bool]:
    return sa.or_(*(R.c.status == s for s in statuses))


def _insert_all(table: sa.Table) -> sa.Insert:
    return sa.insert(table).values({c.name: bp(c.name) for c in table.c})


# -- graphs -----------------------------------------------------------------------------

_GRAPH = sa.select(G).where(G.c.graph_id == bp("graph_id"))
_VERSION = sa.select(V).where(V.c.graph_id == bp("graph_id"), V.c.version == bp("version"))
_VERSIONS = sa.select(V).where(V.c.graph_id == bp("graph_id")).order_by(V.c.version)
_INSERT_GRAPH = _insert_all(G)
_INSERT_VERSION = _insert_all(V)
_GRAPH_LIVE = sa.and_(G.c.graph_id == bp("k_graph_id"), G.c.deleted_at.is_(None))
_BUMP_GRAPH = (
    sa.update(G)
    .where(_GRAPH_LIVE)
    .values(
        version=G.c.version + 1,
        name=sa.func.coalesce(bp("new_name", type_=sa.String), G.c.name),
        updated_at=bp("now"),
    )
    .returning(G.c.graph_id, G.c.version, G.c.name, G.c.created_at, G.c.deleted_at)
)
_REVIVE_GRAPH = (
    sa.update(G)
    .where(G.c.graph_id == bp("k_graph_id"), G.c.deleted_at.is_not(None))
    .values(
        version=G.c.version + 1, name=bp("new_name"), updated_at=bp("now"), deleted_at=sa.null()
    )
    .returning(G.c.graph_id, G.c.version, G.c.name, G.c.created_at, G.c.deleted_at)
)
_DELETE_GRAPH = sa.update(G).where(_GRAPH_LIVE).values(deleted_at=bp("now"))
_LIVE_GRAPHS = G.c.deleted_at.is_(None)
_COUNT_GRAPHS = sa.select(sa.func.count().label("n")).select_from(G).where(_LIVE_GRAPHS)
_LIST_GRAPHS = (
    sa.select(
        G.c.graph_id,
        G.c.created_at,
        G.c.deleted_at,
        V.c.version,
        V.c.name,
        V.c.spec,
        V.c.created_at.label("version_created_at"),
    )
    .join(V, sa.and_(V.c.graph_id == G.c.graph_id, V.c.version == G.c.version))
    .where(_LIVE_GRAPHS)
    .order_by(G.c.created_at.desc(), G.c.graph_id.desc())
    .limit(bp("limit"))
    .offset(bp("offset"))
)


def _new_version(graph: _rows.Row, spec_text: str, now: float) -> Plan[GraphRecord]:
    yield from execute(
        _INSERT_VERSION,
        graph_id=graph["graph_id"],
        version=graph["version"],
        name=graph["name"],
        spec=spec_text,
        created_at=now,
    )
    return GraphRecord(
        graph_id=graph["graph_id"],
        name=graph["name"],
        version=graph["version"],
        spec=decode(spec_text),
        created_at=to_datetime(graph["created_at"]),
        updated_at=to_datetime(now),
    )


def create_graph(graph_id: str, name: str, spec_text: str, now: float) -> Plan[GraphRecord]:
    """*write*"""
    found = yield from fetch_one(_GRAPH, graph_id=graph_id)
    if found is not None and found["deleted_at"] is None:
        raise GraphExistsError(f"graph {graph_id!r} already exists")
    if found is None:
        row: dict[str, Any] = {
            "graph_id": graph_id,
            "name": name,
            "version": 1,
            "created_at": now,
            "updated_at": now,
            "deleted_at": None,
        }
        yield from execute(_INSERT_GRAPH, **row)
        return (yield from _new_version(row, spec_text, now))
    revived = yield from fetch_one(_REVIVE_GRAPH, k_graph_id=graph_id, new_name=name, now=now)
    if revived is None:  # revived by someone else meanwhile
        raise GraphExistsError(f"graph {graph_id!r} already exists")
    return (yield from _new_version(revived, spec_text, now))


def update_graph(graph_id: str, name: str | None, spec_text: str, now: float) -> Plan[GraphRecord]:
    """*write*"""
    bumped = yield from fetch_one(_BUMP_GRAPH, k_graph_id=graph_id, new_name=name, now=now)
    if bumped is None:
        raise GraphNotFoundError(f"graph {graph_id!r} does not exist")
    return (yield from _new_version(bumped, spec_text, now))


def get_graph(graph_id: str, version: int | None) -> Plan[GraphRecord | None]:
    graph = yield from fetch_one(_GRAPH, graph_id=graph_id)
    if graph is None:
        return None
    if version is None:
        if graph["deleted_at"] is not None:
            return None
        version = graph["version"]
    row = yield from fetch_one(_VERSION, graph_id=graph_id, version=version)
    return None if row is None else _rows.graph_record(graph, row)


def list_graphs(limit: int | None, offset: int) -> Plan[Page[GraphRecord]]:
    total = yield from fetch_one(_COUNT_GRAPHS)
    rows = yield from fetch(_LIST_GRAPHS, limit=NO_LIMIT if limit is None else limit, offset=offset)
    items = [
        _rows.graph_record(
            r,
            {
                "name": r["name"],
                "version": r["version"],
                "spec": r["spec"],
                "created_at": r["version_created_at"],
            },
        )
        for r in rows
    ]
    return Page(items, total["n"] if total is not None else 0)


def list_graph_versions(graph_id: str) -> Plan[list[GraphRecord]]:
    graph = yield from fetch_one(_GRAPH, graph_id=graph_id)
    if graph is None:
        return []
    rows = yield from fetch(_VERSIONS, graph_id=graph_id)
    return [_rows.graph_record(graph, r) for r in rows]


def delete_graph(graph_id: str, now: float) -> Plan[bool]:
    """*write*"""
    count = yield from execute(_DELETE_GRAPH, k_graph_id=graph_id, now=now)
    return count > 0


# -- runs -------------------------------------------------------------------------------

# A run with its input (a RunRecord needs both).
_RUN_ROW = sa.select(*R.c, RI.c.input).select_from(R.join(RI, RI.c.run_id == R.c.run_id))
_RUN = _RUN_ROW.where(R.c.run_id == bp("run_id"))
_RUN_LOCKED = sa.select(R).where(R.c.run_id == bp("run_id")).with_for_update()
_RUN_BY_KEY = _RUN_ROW.where(R.c.idempotency_key == bp("key"))
_INSERT_RUN = _insert_all(R)
_INSERT_INPUT = _insert_all(RI)
_INSERT_EVENT = _insert_all(E)
_CHECKPOINTS_FROM = (
    sa.select(C)
    .where(C.c.run_id == bp("run_id"), C.c.step >= bp("from_step"), C.c.step <= bp("upto"))
    .order_by(C.c.step)
)
_SNAPSHOT_AT = sa.select(sa.func.max(C.c.step).label("step")).where(
    C.c.run_id == bp("run_id"), C.c.step <= bp("upto"), C.c.snapshot.is_not(None)
)
_SET_STATUS = (
    sa.update(R)
    .where(R.c.run_id == bp("k_run_id"))
    .values(
        status=bp("status"),
        error=bp("error", type_=sa.Text),
        updated_at=bp("updated_at"),
        finished_at=bp("finished_at", type_=sa.Float),
        last_seq=bp("last_seq"),
    )
)


def _since_snapshot(run: _rows.Row, upto: int | None = None) -> Plan[list[CheckpointRow]]:
    if run["checkpoint_step"] is None:
        return []
    if upto is None:
        start = run["snapshot_step"]
        upto = run["checkpoint_step"]
    else:
        found = yield from fetch_one(_SNAPSHOT_AT, run_id=run["run_id"], upto=upto)
        start = found["step"] if found is not None else None
    rows = yield from fetch(
        _CHECKPOINTS_FROM, run_id=run["run_id"], from_step=start or 0, upto=upto
    )
    return [_rows.checkpoint(r) for r in rows]


def _record(run: _rows.Row, with_state: bool = True) -> Plan[RunRecord]:
    if not with_state:
        return _rows.run_record(run, None)
    rows = yield from _since_snapshot(run)
    return _rows.run_record(run, _rows.run_state(run, rows))


def create_run(row: dict[str, Any], queued_event: dict[str, Any]) -> Plan[RunRecord]:
    """*write*: ``row`` from ``_rows.new_run_row``."""
    key = row["idempotency_key"]
    if key is not None:
        existing = yield from fetch_one(_RUN_BY_KEY, key=key)
        if existing is not None:
            if existing["request_hash"] != row["request_hash"]:
                raise IdempotencyConflictError(_rows.idempotency_message(key))
            return (yield from _record(existing))
    run_id = row["run_id"]
    if (yield from fetch_one(_RUN, run_id=run_id)) is not None:
        raise RunExistsError(f"run {run_id!r} already exists")
    graph_id, version = row["graph_id"], row["graph_version"]
    graph = yield from fetch_one(_GRAPH, graph_id=graph_id)
    if graph is None or graph["deleted_at"] is not None:
        raise GraphNotFoundError(f"graph {graph_id!r} does not exist")
    if (yield from fetch_one(_VERSION, graph_id=graph_id, version=version)) is None:
        raise GraphNotFoundError(f"graph {graph_id!r} has no version {version}")
    yield from execute(_INSERT_RUN, **row)
    yield from execute(_INSERT_INPUT, run_id=run_id, input=row["input"])
    yield from execute(_INSERT_EVENT, **queued_event)
    return _rows.run_record(row, decode(row["input"]))


def find_run_by_key(key: str) -> Plan[RunRecord | None]:
    run = yield from fetch_one(_RUN_BY_KEY, key=key)
    return None if run is None else (yield from _record(run))


def get_run(run_id: str) -> Plan[RunRecord | None]:
    run = yield from fetch_one(_RUN, run_id=run_id)
    return None if run is None else (yield from _record(run))


@cache
def _runs_query(by_graph: bool, statuses: tuple[str, ...] | None) -> tuple[sa.Select[Any], ...]:
    where: list[sa.ColumnElement[bool]] = []
    if by_graph:
        where.append(R.c.graph_id == bp("graph_id"))
    if statuses is not None:
        where.append(_status_in(statuses))
    count = sa.select(sa.func.count().label("n")).select_from(R).where(*where)
    page = (
        _RUN_ROW.where(*where)
        .order_by(R.c.created_at.desc(), R.c.run_id.desc())
        .limit(bp("limit"))
        .offset(bp("offset"))
    )
    return count, page


def list_runs(
    graph_id: str | None, statuses: set[str] | None, limit: int, offset: int, with_state: bool
) -> Plan[Page[RunRecord]]:
    count, page = _runs_query(
        graph_id is not None, None if statuses is None else tuple(sorted(statuses))
    )
    params: dict[str, Any] = {} if graph_id is None else {"graph_id": graph_id}
    total = yield from fetch_one(count, **params)
    rows = yield from fetch(page, limit=limit, offset=offset, **params)
    items: list[RunRecord] = []
    for r in rows:
        items.append((yield from _record(r, with_state)))
    return Page(items, total["n"] if total is not None else 0)


def set_status(
    run_id: str,
    status: RunStatus,
    error_text: str | None,
    only_from: set[str] | None,
    event: EventType | None,
    data_text: str,
    now: float,
) -> Plan[StatusChange]:
    """*write*"""
    run = yield from fetch_one(_RUN_LOCKED, run_id=run_id)
    if run is None:
        raise RunNotFoundError(f"run {run_id!r} does not exist")
    if only_from is not None and run["status"] not in only_from:
        return StatusChange(False, RunStatus(run["status"]))
    seq = run["last_seq"] + (1 if event is not None else 0)
    yield from execute(
        _SET_STATUS,
        k_run_id=run_id,
        last_seq=seq,
        **_rows.status_assignments(status, error_text, now),
    )
    appended: Event | None = None
    if event is not None:
        row = _rows.event_row(run_id, seq, event, None, now, data_text)
        yield from execute(_INSERT_EVENT, **row)
        appended = _rows.event(row)
    return StatusChange(True, status, appended)


# -- events and history -------------------------------------------------------------------

_EVENTS = (
    sa.select(E)
    .where(E.c.run_id == bp("run_id"), E.c.seq > bp("after"))
    .order_by(E.c.seq)
    .limit(bp("limit"))
)
_ALL_CHECKPOINTS = sa.select(C).where(C.c.run_id == bp("run_id")).order_by(C.c.step)


def list_events(run_id: str, after_seq: int, limit: int | None) -> Plan[list[Event]]:
    rows = yield from fetch(
        _EVENTS, run_id=run_id, after=after_seq, limit=NO_LIMIT if limit is None else limit
    )
    return [_rows.event(r) for r in rows]


def list_checkpoints(run_id: str) -> Plan[list[CheckpointInfo]]:
    rows = yield from fetch(_ALL_CHECKPOINTS, run_id=run_id)
    return _rows.checkpoint_infos(rows)


def load(run_id: str) -> Plan[RunCheckpoint | None]:
    run = yield from fetch_one(_RUN, run_id=run_id)
    if run is None or run["checkpoint_step"] is None:
        return None
    rows = yield from _since_snapshot(run)
    return _rows.run_checkpoint(run, rows)


def checkpoint_at(run_id: str, step: int) -> Plan[RunCheckpoint | None]:
    run = yield from fetch_one(_RUN, run_id=run_id)
    if run is None:
        return None
    rows = yield from _since_snapshot(run, step)
    return _rows.checkpoint_at(run, rows) if rows else None


_FENCE = sa.select(R.c.run_id, R.c.last_seq, R.c.checkpoint_step).where(R.c.run_id == bp("run_id"))
_CHECKPOINT_EXISTS = sa.select(C.c.step).where(C.c.run_id == bp("run_id"), C.c.step == bp("step"))


def explain_refusal(p: PreparedStep) -> Plan[Exception]:
    """Why the database refused a step record (called after the refusal)."""
    run = yield from fetch_one(_FENCE, run_id=p.run_id)
    exists = p.checkpoint and (
        (yield from fetch_one(_CHECKPOINT_EXISTS, run_id=p.run_id, step=p.step)) is not None
    )
    conflict = step_conflict(p, run, exists)
    if conflict is not None:
        return conflict
    return CheckpointConflictError(  # the row changed between the refusal and this look
        f"run {p.run_id!r}: the record for step {p.step} was refused by a concurrent write"
    )


# -- leases -------------------------------------------------------------------------------

_NOT_FINISHED = sa.not_(_status_in(_FINALS))
_ACQUIRE = (
    sa.update(R)
    .where(
        R.c.run_id == bp("k_run_id"),
        _NOT_FINISHED,
        sa.or_(
            R.c.lease_owner.is_(None),
            R.c.lease_owner == bp("owner"),
            R.c.lease_expires_at < bp("now"),
        ),
    )
    .values(lease_owner=bp("new_owner"), lease_expires_at=bp("expires"))
)
_RENEW = (
    sa.update(R)
    .where(R.c.run_id == bp("k_run_id"), R.c.lease_owner == bp("owner"))
    .values(lease_expires_at=bp("expires"))
)
_RELEASE = (
    sa.update(R)
    .where(R.c.run_id == bp("k_run_id"), R.c.lease_owner == bp("owner"))
    .values(lease_owner=sa.null(), lease_expires_at=sa.null())
)
_RUN_EXISTS = sa.select(R.c.run_id).where(R.c.run_id == bp("run_id"))
_RECOVERY = (
    sa.update(R)
    .where(R.c.run_id == bp("k_run_id"))
    .values(recovery_attempts=R.c.recovery_attempts + 1)
    .returning(R.c.recovery_attempts)
)
_EXPIRED = sa.and_(R.c.lease_owner.is_not(None), R.c.lease_expires_at < bp("now"))
_EXPIRED_RUNS = {
    unleased: _RUN_ROW.where(
        _status_in(_UNFINISHED),
        sa.or_(_EXPIRED, R.c.lease_owner.is_(None)) if unleased else _EXPIRED,
    )
    .order_by(R.c.created_at, R.c.run_id)
    .limit(bp("limit"))
    for unleased in (False, True)
}


def _lease_change(stmt: sa.Update, run_id: str, **params: Any) -> Plan[bool]:
    count = yield from execute(stmt, k_run_id=run_id, **params)
    if count:
        return True
    if (yield from fetch_one(_RUN_EXISTS, run_id=run_id)) is None:
        raise RunNotFoundError(f"run {run_id!r} does not exist")
    return False


def acquire_lease(run_id: str, owner: str, now: float, expires: float) -> Plan[bool]:
    """*write*"""
    return (
        yield from _lease_change(
            _ACQUIRE, run_id, owner=owner, new_owner=owner, now=now, expires=expires
        )
    )


def renew_lease(run_id: str, owner: str, expires: float) -> Plan[bool]:
    """*write*"""
    return (yield from _lease_change(_RENEW, run_id, owner=owner, expires=expires))


def release_lease(run_id: str, owner: str) -> Plan[bool]:
    """*write*"""
    return (yield from _lease_change(_RELEASE, run_id, owner=owner))


def expired_runs(now: float, limit: int, include_unleased: bool) -> Plan[list[RunRecord]]:
    rows = yield from fetch(_EXPIRED_RUNS[include_unleased], now=now, limit=limit)
    return [_rows.run_record(r, None) for r in rows]


def add_recovery_attempt(run_id: str) -> Plan[int]:
    """*write*"""
    row = yield from fetch_one(_RECOVERY, k_run_id=run_id)
    if row is None:
        raise RunNotFoundError(f"run {run_id!r} does not exist")
    count: int = row["recovery_attempts"]
    return count


# -- retention ----------------------------------------------------------------------------

_DOOMED = sa.and_(_status_in(_FINALS), R.c.finished_at < bp("cutoff"))
_DOOMED_IDS = sa.select(R.c.run_id).where(_DOOMED)
_PRUNE = (
    sa.delete(E).where(E.c.run_id.in_(_DOOMED_IDS)),
    sa.delete(C).where(C.c.run_id.in_(_DOOMED_IDS)),
    sa.delete(RI).where(RI.c.run_id.in_(_DOOMED_IDS)),
)
_PRUNE_RUNS = sa.delete(R).where(_DOOMED)


def prune(cutoff: float) -> Plan[int]:
    """*write*"""
    for stmt in _PRUNE:
        yield from execute(stmt, cutoff=cutoff)
    return (yield from execute(_PRUNE_RUNS, cutoff=cutoff))
