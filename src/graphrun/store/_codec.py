"""JSON and time encoding shared by every backend, and a step record made ready to write.

:func:`prepare` turns a :class:`StepRecord` into JSON text and plain tuples at once: that is
the copy ``save`` must take before returning (the executor reuses its objects), and it is
what every backend writes, so all of them store exactly the same bytes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from graphrun.engine.checkpoint import StepRecord
from graphrun.engine.events import EventType
from graphrun.engine.status import FINAL_STATUSES, RunStatus
from graphrun.store.errors import StateNotSerializableError


def _make_encode() -> Callable[[Any], str]:
    # One C encoder made once and reused: json.dumps with options builds a new encoder
    # for every call, which costs three times the encoding of a small delta. Without
    # cycle checks a cyclic value overflows the stack instead (caught in ``dumps``).
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - Python without the C accelerator
        return json.JSONEncoder(separators=(",", ":")).encode

    def refuse(value: Any) -> Any:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    chunks = make(
        None, refuse, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True
    )

    def encode(value: Any) -> str:
        return "".join(chunks(value, 0))

    return encode


encode = _make_encode()
"""Compact JSON (``ensure_ascii``: its length in characters is its size in bytes)."""
decode = json.loads

EMPTY_LIST = "[]"
EMPTY_OBJECT = "{}"

EventRow = tuple[str, int, str, str | None, int | None, float, str]
"""An event as stored: run_id, seq, type, node, step, ts, data (JSON)."""


def dumps(value: Any, what: str) -> str:
    """``value`` as compact JSON; raises :class:`StateNotSerializableError` naming ``what``."""
    try:
        return encode(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise StateNotSerializableError(f"{what} is not JSON-serializable: {exc}") from None


def loads_or_none(text: str | None) -> Any:
    return None if text is None else decode(text)


def now_ts() -> float:
    return time.time()


def to_ts(moment: datetime) -> float:
    """Seconds since the epoch; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def ts_or_now(moment: datetime | None) -> float:
    return now_ts() if moment is None else to_ts(moment)


def to_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def to_datetime_or_none(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def check_id(kind: str, value: object) -> str:
    """Ids are non-empty strings of at most 200 characters."""
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ValueError(
            f"{kind} must be a non-empty string of at most 200 characters, not {value!r}"
        )
    return value


def spec_json(graph_id: str, spec: Mapping[str, Any]) -> str:
    if not isinstance(spec, Mapping):
        raise TypeError(f"graph {graph_id!r}: spec must be a mapping, not {type(spec).__name__}")
    return dumps(dict(spec), f"graph {graph_id!r}: the spec")


@dataclass(slots=True)
class PreparedStep:
    """A :class:`StepRecord` as text and tuples, ready for one transaction.

    ``pending`` is ``None`` when the record must leave the run's pending set alone (an
    ``events`` record of a running step). ``sets_status``: the record changes the run's
    status (it starts, resumes, pauses or ends the run); the records of a running step
    only confirm ``running``, and are not written into the (indexed) status column.
    ``first_seq``/``last_seq`` are 0 without events.
    """

    run_id: str
    step: int
    checkpoint: bool
    status: str
    sets_status: bool
    final: bool
    error: str | None
    pending: str | None
    nodes: str
    delta: str
    snapshot: str | None
    barriers: str
    interrupt: str | None
    size_bytes: int
    events: list[EventRow]
    first_seq: int
    last_seq: int
    now: float

    def run_assignments(self) -> list[tuple[str, Any]]:
        """The run row's new values, as ``(column, value)`` pairs in a fixed order for each
        kind of record (the SQL stores cache one statement per column list)."""
        out: list[tuple[str, Any]] = [("status", self.status)] if self.sets_status else []
        out += [
            ("step", self.step),
            ("error", self.error),
            ("updated_at", self.now),
            ("finished_at", self.now if self.final else None),
            # The open interrupt belongs to the run, whatever kind of record set it.
            ("interrupt", self.interrupt),
        ]
        if self.events:
            out.append(("last_seq", self.last_seq))
        if self.pending is not None:
            out.append(("pending", self.pending))
        if self.checkpoint:
            out.append(("nodes", self.nodes))
            out.append(("checkpoint_step", self.step))
            # Progress: the recovery limit counts recoveries in a row that made none.
            out.append(("recovery_attempts", 0))
            if self.snapshot is not None:
                out.append(("snapshot_step", self.step))
        return out

    def checkpoint_row(self) -> tuple[Any, ...]:
        """The checkpoint in the column order of ``tables.checkpoints``."""
        return (
            self.run_id,
            self.step,
            self.status,
            self.nodes,
            self.delta,
            self.snapshot,
            self.pending if self.pending is not None else EMPTY_LIST,
            self.barriers,
            self.interrupt,
            self.size_bytes,
            self.now,
        )


def _names(names: list[str]) -> str:
    # Node names are nearly always plain identifiers: join them without the encoder.
    if not names:
        return EMPTY_LIST
    for name in names:
        if not (name.isascii() and name.isidentifier()):
            return encode(names)
    return '["' + '","'.join(names) + '"]'


def prepare(record: StepRecord, now: float | None = None) -> PreparedStep:
    """Copy ``record`` into text. A part that is not JSON raises
    :class:`StateNotSerializableError` naming the run, the step and the part."""
    events = record.events
    if events and any(e.seq != events[0].seq + i for i, e in enumerate(events)):
        raise ValueError(
            f"run {record.run_id!r} step {record.step}: event seqs "
            f"{[e.seq for e in events]} are not consecutive"
        )
    try:
        return _prepare(record, time.time() if now is None else now)
    except (TypeError, ValueError, RecursionError) as exc:
        where = f"run {record.run_id!r} step {record.step}"
        raise StateNotSerializableError(f"{where}: {_unstorable_part(record)}: {exc}") from None


def _unstorable_part(record: StepRecord) -> str:
    parts: list[tuple[str, Any]] = [
        ("the state update", record.delta),
        ("the state", record.snapshot),
        ("the barriers", record.barriers),
        ("the interrupt", record.interrupt),
        ("the error", record.error),
        *((f"the data of event {e.seq} ({e.type})", e.data) for e in record.events),
    ]
    for what, value in parts:
        try:
            encode(value)
        except (TypeError, ValueError, RecursionError):
            return f"{what} is not JSON-serializable"
    return "a value is not JSON-serializable"


def _prepare(record: StepRecord, now: float) -> PreparedStep:
    run_id = record.run_id
    status = record.status
    if record.kind == "checkpoint":
        checkpoint = True
        delta = encode(record.delta) if record.delta else EMPTY_OBJECT
        snapshot = None if record.snapshot is None else encode(record.snapshot)
        pending: str | None = _names(record.pending)
        nodes = _names(record.nodes)
        barriers = encode(record.barriers) if record.barriers else EMPTY_OBJECT
    else:
        checkpoint = False
        delta, snapshot, nodes, barriers = EMPTY_OBJECT, None, EMPTY_LIST, EMPTY_OBJECT
        # A record that stops or pauses the run says what is pending; one that only
        # carries events of a running step leaves that alone.
        pending = None if status is RunStatus.RUNNING else _names(record.pending)
    events: list[EventRow] = [
        (
            run_id,
            e.seq,
            e.type._value_,
            e.node,
            e.step,
            e.ts,
            encode(e.data) if e.data else EMPTY_OBJECT,
        )
        for e in record.events
    ]
    sets_status = status is not RunStatus.RUNNING or any(
        e.type is EventType.RUN_STARTED or e.type is EventType.RUN_RESUMED for e in record.events
    )
    first_seq = events[0][1] if events else 0
    last_seq = events[-1][1] if events else 0
    return PreparedStep(
        run_id,
        record.step,
        checkpoint,
        status._value_,
        sets_status,
        status in FINAL_STATUSES,
        None if record.error is None else encode(record.error),
        pending,
        nodes,
        delta,
        snapshot,
        barriers,
        None if record.interrupt is None else encode(record.interrupt),
        len(delta) + (len(snapshot) if snapshot is not None else 0),
        events,
        first_seq,
        last_seq,
        now,
    )


class StateSize:
    """The compact-JSON size of a state, kept up to date key by key as deltas apply."""

    __slots__ = ("_sizes", "_sum")

    def __init__(self) -> None:
        self._sizes: dict[str, int] = {}
        self._sum = 0

    @property
    def total(self) -> int:
        # "{" + entries joined by "," + "}", each entry being "key":value
        return 2 + self._sum + max(0, len(self._sizes) - 1)

    def reset(self, state: Mapping[str, Any]) -> None:
        self._sizes = {}
        self._sum = 0
        self.update(state)

    def update(self, delta: Mapping[str, Any]) -> None:
        sizes = self._sizes
        for key, value in delta.items():
            size = len(encode(key)) + 1 + len(encode(value))
            self._sum += size - sizes.get(key, 0)
            sizes[key] = size
