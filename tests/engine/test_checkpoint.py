"""Checkpoints: the in-memory checkpointer's contract and rebuilding state."""

from __future__ import annotations

from typing import Any

import pytest

from graphrun.engine import (
    CheckpointConflictError,
    CheckpointRow,
    Event,
    EventType,
    MemoryCheckpointer,
    RunStatus,
    StepRecord,
    rebuild_state,
)

RUNNING = RunStatus.RUNNING


def ev(seq: int, type_: EventType = EventType.NODE_COMPLETED, run: str = "r") -> Event:
    return Event(seq, type_, run, node="n", step=seq, data={"i": seq}, ts=1.0)


def checkpoint(
    step: int,
    delta: dict[str, Any],
    *,
    events: list[Event] | None = None,
    snapshot: dict[str, Any] | None = None,
    pending: list[str] | None = None,
    status: RunStatus = RUNNING,
    run: str = "r",
) -> StepRecord:
    return StepRecord(
        run_id=run,
        step=step,
        kind="checkpoint",
        status=status,
        events=events or [],
        delta=delta,
        snapshot=snapshot,
        pending=pending or [],
        barriers={"join": ["a"]},
        nodes=["n"],
    )


async def save(cp: MemoryCheckpointer, record: StepRecord) -> None:
    await cp.save(record)


# -- saving and loading ----------------------------------------------------------------


async def test_load_rebuilds_the_state_and_the_run_position() -> None:
    cp = MemoryCheckpointer()
    await save(cp, checkpoint(0, {"a": 1, "b": 1}, snapshot={"a": 1, "b": 1}, events=[ev(1)]))
    await save(cp, checkpoint(1, {"a": 2}, events=[ev(2), ev(3)], pending=["x"]))
    await save(cp, checkpoint(2, {"c": [1]}, pending=["y", "z"]))
    loaded = await cp.load("r")
    assert loaded is not None
    assert loaded.state == {"a": 2, "b": 1, "c": [1]}
    assert (loaded.step, loaded.pending, loaded.last_seq, loaded.status) == (
        2,
        ["y", "z"],
        3,
        RUNNING,
    )
    assert loaded.barriers == {"join": ["a"]}
    assert [r.step for r in cp.history("r")] == [0, 1, 2]
    assert list(cp.run_ids()) == ["r"]


async def test_unknown_runs_load_as_none() -> None:
    assert await MemoryCheckpointer().load("nope") is None


async def test_events_only_records_add_no_checkpoint() -> None:
    cp = MemoryCheckpointer()
    queued = StepRecord("r", 0, "events", RunStatus.QUEUED, [ev(1, EventType.RUN_QUEUED)])
    await save(cp, queued)
    assert await cp.load("r") is None  # nothing to resume from yet
    assert cp.status["r"] is RunStatus.QUEUED
    await save(cp, checkpoint(0, {"a": 1}, snapshot={"a": 1}, events=[ev(2)]))
    await save(cp, StepRecord("r", 1, "events", RUNNING, [ev(3, EventType.NODE_STARTED)]))
    loaded = await cp.load("r")
    assert loaded is not None and loaded.step == 0 and loaded.last_seq == 3
    assert [e.seq for e in cp.events["r"]] == [1, 2, 3]


async def test_the_last_record_sets_status_and_error() -> None:
    cp = MemoryCheckpointer()
    await save(cp, checkpoint(0, {}, snapshot={}))
    error = {"type": "ValueError", "message": "bad"}
    await save(cp, StepRecord("r", 1, "events", RunStatus.FAILED, [], error=error))
    loaded = await cp.load("r")
    assert loaded is not None
    assert loaded.status is RunStatus.FAILED and loaded.error == error


async def test_stored_data_is_a_copy() -> None:
    cp = MemoryCheckpointer()
    delta: dict[str, Any] = {"items": [1]}
    record = checkpoint(0, delta, snapshot={"items": [1]}, events=[ev(1)])
    await save(cp, record)
    delta["items"].append(2)
    record.events[0].data["i"] = "changed"
    loaded = await cp.load("r")
    assert loaded is not None and loaded.state == {"items": [1]}
    assert cp.events["r"][0].data == {"i": 1}


async def test_runs_are_kept_apart() -> None:
    cp = MemoryCheckpointer()
    await save(cp, checkpoint(0, {"who": "r"}, snapshot={"who": "r"}))
    await save(cp, checkpoint(0, {"who": "s"}, snapshot={"who": "s"}, run="s"))
    r, s = await cp.load("r"), await cp.load("s")
    assert r is not None and s is not None
    assert (r.state, s.state) == ({"who": "r"}, {"who": "s"})
    assert sorted(cp.run_ids()) == ["r", "s"]


# -- fencing ----------------------------------------------------------------------------------


async def test_a_step_is_recorded_once() -> None:
    cp = MemoryCheckpointer()
    await save(cp, checkpoint(0, {"a": 1}, snapshot={"a": 1}, events=[ev(1)]))
    await save(cp, checkpoint(1, {"a": 2}, events=[ev(2)]))
    with pytest.raises(
        CheckpointConflictError, match="run 'r' already has a checkpoint for step 1"
    ):
        await save(cp, checkpoint(1, {"a": 99}, events=[ev(3)]))
    loaded = await cp.load("r")
    assert loaded is not None and loaded.state == {"a": 2} and loaded.last_seq == 2
    assert len(cp.events["r"]) == 2, "the losing record must leave nothing behind"


@pytest.mark.parametrize("seqs", [[3], [2, 4], [1], [2, 2]])
async def test_event_numbers_must_continue_without_gaps(seqs: list[int]) -> None:
    cp = MemoryCheckpointer()
    await save(cp, checkpoint(0, {}, snapshot={}, events=[ev(1)]))
    record = StepRecord("r", 1, "events", RUNNING, [ev(s) for s in seqs])
    with pytest.raises(CheckpointConflictError, match="does not follow"):
        await save(cp, record)
    assert [e.seq for e in cp.events["r"]] == [1]


@pytest.mark.parametrize(
    "bad",
    [
        checkpoint(1, {"a": 2}, events=[Event(2, EventType.LOG, "r", data={"obj": object()})]),
        checkpoint(1, {"a": {1, 2}}, events=[ev(2)]),
    ],
    ids=["event", "delta"],
)
async def test_an_unstorable_record_changes_nothing(bad: StepRecord) -> None:
    cp = MemoryCheckpointer()
    await save(cp, checkpoint(0, {"a": 1}, snapshot={"a": 1}, events=[ev(1)]))
    with pytest.raises(TypeError, match="not JSON serializable"):
        await cp.save(bad)
    loaded = await cp.load("r")
    assert loaded is not None
    assert (loaded.step, loaded.state, loaded.last_seq) == (0, {"a": 1}, 1)
    await save(cp, checkpoint(1, {"a": 3}, events=[ev(2)]))  # the run can go on


# -- rebuilding state ----------------------------------------------------------------------


def row(step: int, delta: dict[str, Any], snapshot: dict[str, Any] | None = None) -> CheckpointRow:
    return CheckpointRow(step, [], delta, snapshot, [], {}, RUNNING)


def test_rebuild_from_deltas() -> None:
    rows = [row(0, {"a": 1}), row(1, {"b": 2}), row(2, {"a": 3})]
    assert rebuild_state(rows) == {"a": 3, "b": 2}
    assert rebuild_state(rows, upto=1) == {"a": 1, "b": 2}
    assert rebuild_state(rows, upto=0) == {"a": 1}


def test_rebuild_starts_at_the_newest_snapshot() -> None:
    rows = [
        row(0, {"a": 1}, {"a": 1}),
        row(1, {"b": 2}),
        row(2, {"c": 3}, {"a": 1, "b": 2, "c": 3, "from_snapshot": True}),
        row(3, {"a": 4}),
    ]
    assert rebuild_state(rows) == {"a": 4, "b": 2, "c": 3, "from_snapshot": True}
    assert rebuild_state(rows, upto=1) == {"a": 1, "b": 2}


def test_rebuild_before_the_first_checkpoint() -> None:
    with pytest.raises(LookupError, match="no checkpoint at or before step -1"):
        rebuild_state([row(0, {})], upto=-1)
    with pytest.raises(LookupError):
        rebuild_state([])
