"""The store conformance suite, part 2: the store as the executor's checkpointer.

Runs go through :class:`graphrun.engine.Executor` with ``checkpointer=store``; records
are also saved by hand to check the rules (fencing, ordering, copying). Every test runs
against every backend (see ``conftest.py``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from graphrun.engine import (
    END,
    CheckpointConflictError,
    Event,
    EventType,
    Executor,
    Graph,
    MemoryEventSink,
    NodeContext,
    RunStatus,
    StepRecord,
)
from graphrun.engine.executor import Durability
from graphrun.store import RunNotFoundError, StateNotSerializableError, Store
from tests.store.conftest import OpenStore, loop_graph, new_run


def _events(run_id: str, first_seq: int, count: int, step: int) -> list[Event]:
    return [
        Event(first_seq + i, EventType.LOG, run_id, None, step, {"i": i}, time.time())
        for i in range(count)
    ]


def _checkpoint(
    run_id: str, step: int, seq: int, delta: dict[str, Any], *, snapshot: bool = False
) -> StepRecord:
    return StepRecord(
        run_id=run_id,
        step=step,
        kind="checkpoint",
        status=RunStatus.RUNNING,
        events=_events(run_id, seq, 1, step),
        delta=delta,
        snapshot=dict(delta) if snapshot else None,
        pending=["inc"],
        nodes=["inc"],
    )


async def _gap_free(store: Store, run_id: str) -> list[Event]:
    events = await store.list_events(run_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    return events


@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
async def test_a_run_executes_through_the_store_in_every_durability_mode(
    store: Store, durability: Durability
) -> None:
    run_id = await new_run(store)
    sink = MemoryEventSink()
    ex = Executor(
        loop_graph(25), checkpointer=store, sink=sink, durability=durability, snapshot_every=10
    )
    result = await ex.start({"n": 0}, run_id=run_id, after_seq=1)
    assert (result.status, result.state, result.step) == (RunStatus.COMPLETED, {"n": 25}, 25)
    run = await store.get_run(run_id)
    assert run is not None
    assert (run.status, run.state, run.step, run.pending) == (
        RunStatus.COMPLETED,
        {"n": 25},
        25,
        [],
    )
    assert run.finished_at is not None
    events = await _gap_free(store, run_id)
    assert events[0].type is EventType.RUN_QUEUED
    assert events[1].type is EventType.RUN_STARTED
    assert events[-1].type is EventType.RUN_COMPLETED
    assert run.last_seq == len(events)
    assert [e.seq for e in sink.events] == [e.seq for e in events[1:]]  # all published
    steps = [c.step for c in await store.list_checkpoints(run_id)]
    assert steps == ([0, 25] if durability == "exit" else list(range(26)))
    loaded = await store.load(run_id)
    assert loaded is not None
    assert (loaded.status, loaded.step, loaded.state, loaded.last_seq) == (
        RunStatus.COMPLETED,
        25,
        {"n": 25},
        len(events),
    )


async def test_a_stored_run_is_served_again_after_a_restart(open_store: OpenStore) -> None:
    store = await open_store()
    run_id = await new_run(store)
    result = await Executor(loop_graph(12), checkpointer=store, snapshot_every=5).start(
        {"n": 0}, run_id=run_id, after_seq=1
    )
    before = await store.get_run(run_id)
    events = await store.list_events(run_id)
    history = await store.list_checkpoints(run_id)
    await store.close()
    again = await open_store()  # the memory store: the same object, still holding it all
    assert await again.get_run(run_id) == before
    assert await again.list_events(run_id) == events
    assert await again.list_checkpoints(run_id) == history
    graph = await again.get_graph("g")
    assert graph is not None
    assert graph.spec == {"nodes": ["inc"]}
    assert await again.state_at(run_id, 7) == {"n": 7}
    assert result.state == {"n": 12}


async def test_an_interrupted_run_waits_across_a_restart_and_resumes(
    open_store: OpenStore, backend: str
) -> None:
    g = Graph("approve")
    g.add_node("prepare", tool="set", args={"amount": 10})

    def approve(state: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        return {"approved": ctx.interrupt({"question": "approve?"}) == "yes"}

    g.add_node("approve", approve)
    g.add_edge("prepare", "approve")
    g.add_edge("approve", END)
    compiled = g.compile()
    store = await open_store()
    run_id = await new_run(store, state={})
    first = await Executor(compiled, checkpointer=store).start({}, run_id=run_id, after_seq=1)
    assert first.status is RunStatus.INTERRUPTED
    if backend != "memory":
        await store.close()
        store = await open_store()
    run = await store.get_run(run_id)
    assert run is not None
    assert run.status is RunStatus.INTERRUPTED
    assert run.pending == ["approve"]
    assert run.interrupt is not None
    assert run.interrupt["payload"] == {"question": "approve?"}
    assert run.state == {"amount": 10}
    done = await Executor(compiled, checkpointer=store).resume(run_id, "yes")
    assert done.status is RunStatus.COMPLETED
    run = await store.get_run(run_id)
    assert run is not None
    assert (run.status, run.state, run.interrupt) == (
        RunStatus.COMPLETED,
        {"amount": 10, "approved": True},
        None,
    )
    types = [e.type for e in await _gap_free(store, run_id)]
    assert EventType.RUN_INTERRUPTED in types
    assert EventType.RUN_RESUMED in types


async def test_a_failed_run_keeps_its_error_and_where_it_stopped(store: Store) -> None:
    g = Graph("failing")
    g.add_node("first", tool="set", args={"a": 1})
    g.add_node("boom", tool="fail", args={"message": "no luck"})
    g.add_edge("first", "boom")
    g.add_edge("boom", END)
    run_id = await new_run(store, state={})
    result = await Executor(g.compile(), checkpointer=store).start({}, run_id=run_id, after_seq=1)
    assert result.status is RunStatus.FAILED
    run = await store.get_run(run_id)
    assert run is not None
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error["message"] == "no luck"
    assert (run.step, run.pending, run.state) == (2, ["boom"], {"a": 1})
    loaded = await store.load(run_id)
    assert loaded is not None
    assert (loaded.step, loaded.status, loaded.error) == (1, RunStatus.FAILED, run.error)


async def test_a_second_save_of_a_step_fails_and_writes_nothing(store: Store) -> None:
    run_id = await new_run(store)
    await store.save(_checkpoint(run_id, 0, 2, {"n": 0}, snapshot=True))
    await store.save(_checkpoint(run_id, 1, 3, {"n": 1}))
    # Another executor that ran step 1 too: its record is refused whole.
    with pytest.raises(CheckpointConflictError, match="already has a checkpoint for step 1"):
        await store.save(_checkpoint(run_id, 1, 4, {"n": 99}))
    with pytest.raises(CheckpointConflictError, match="already has a checkpoint for step 1"):
        await store.save(_checkpoint(run_id, 1, 3, {"n": 99}, snapshot=True))
    run = await store.get_run(run_id)
    assert run is not None
    assert (run.state, run.step, run.last_seq) == ({"n": 1}, 1, 3)
    assert len(await store.list_events(run_id)) == 3
    assert [c.step for c in await store.list_checkpoints(run_id)] == [0, 1]


async def test_events_must_follow_the_last_stored_event(store: Store) -> None:
    run_id = await new_run(store)
    await store.save(_checkpoint(run_id, 0, 2, {"n": 0}, snapshot=True))
    with pytest.raises(CheckpointConflictError, match="event seq 5 does not follow 2"):
        await store.save(_checkpoint(run_id, 1, 5, {"n": 1}))
    events_only = StepRecord(run_id, 1, "events", RunStatus.RUNNING, _events(run_id, 2, 2, 1))
    with pytest.raises(CheckpointConflictError, match="event seq 2 does not follow 2"):
        await store.save(events_only)
    assert [c.step for c in await store.list_checkpoints(run_id)] == [0]
    await store.save(StepRecord(run_id, 1, "events", RunStatus.RUNNING, _events(run_id, 3, 2, 1)))
    assert len(await _gap_free(store, run_id)) == 4


async def test_a_delta_checkpoint_must_follow_the_previous_checkpoint(store: Store) -> None:
    run_id = await new_run(store)
    with pytest.raises(CheckpointConflictError, match="has no snapshot"):
        await store.save(_checkpoint(run_id, 0, 2, {"n": 0}))
    await store.save(_checkpoint(run_id, 0, 2, {"n": 0}, snapshot=True))
    with pytest.raises(CheckpointConflictError, match="does not follow the last checkpoint"):
        await store.save(_checkpoint(run_id, 2, 3, {"n": 2}))
    await store.save(_checkpoint(run_id, 5, 3, {"n": 5}, snapshot=True))  # a snapshot may skip
    assert await store.state_at(run_id, 9) == {"n": 5}
    assert await store.state_at(run_id, 4) == {"n": 0}


async def test_steps_of_a_run_that_does_not_exist_are_refused(store: Store) -> None:
    with pytest.raises(RunNotFoundError, match="'ghost' does not exist"):
        await store.save(_checkpoint("ghost", 0, 1, {"n": 0}, snapshot=True))
    assert await store.load("ghost") is None
    assert await store.list_events("ghost") == []


async def test_a_record_that_is_not_json_raises_in_save_and_writes_nothing(store: Store) -> None:
    run_id = await new_run(store)
    bad = _checkpoint(run_id, 0, 2, {"when": datetime.now(UTC)}, snapshot=True)
    with pytest.raises(StateNotSerializableError, match="step 0: the state update is not JSON"):
        store.save(bad)
    events = _events(run_id, 2, 1, 0)
    events[0].data = {"x": {1, 2}}
    record = StepRecord(run_id, 0, "events", RunStatus.RUNNING, events)
    with pytest.raises(TypeError, match=r"data of event 2 .*set is not JSON"):
        store.save(record)
    assert [e.type for e in await store.list_events(run_id)] == [EventType.RUN_QUEUED]
    assert await store.load(run_id) is None


async def test_save_takes_a_copy_before_it_returns(store: Store) -> None:
    run_id = await new_run(store)
    record = _checkpoint(run_id, 0, 2, {"items": [1, 2]}, snapshot=True)
    done = store.save(record)
    assert record.delta is not None
    record.delta["items"].append(3)
    record.events[0].data["i"] = "changed"
    record.pending.append("other")
    await done
    cp = await store.load(run_id)
    assert cp is not None
    assert (cp.state, cp.pending) == ({"items": [1, 2]}, ["inc"])
    assert (await store.list_events(run_id))[1].data == {"i": 0}


async def test_records_of_a_run_commit_in_the_order_they_were_saved(store: Store) -> None:
    run_id = await new_run(store)
    pending = [store.save(_checkpoint(run_id, 0, 2, {"n": 0}, snapshot=True))]
    pending += [store.save(_checkpoint(run_id, s, s + 2, {"n": s})) for s in range(1, 150)]
    await asyncio.gather(*pending)
    run = await store.get_run(run_id)
    assert run is not None
    assert (run.state, run.step, run.last_seq) == ({"n": 149}, 149, 151)
    await _gap_free(store, run_id)


async def test_each_record_of_a_batch_is_judged_against_what_is_stored(store: Store) -> None:
    run_id = await new_run(store)
    await store.save(_checkpoint(run_id, 0, 2, {"n": 0}, snapshot=True))
    saved = [
        store.save(_checkpoint(run_id, 1, 3, {"n": 1})),
        store.save(_checkpoint(run_id, 1, 4, {"n": 99})),  # step 1 again
        store.save(_checkpoint(run_id, 2, 5, {"n": 2})),  # seq 5 does not follow 3
        store.save(_checkpoint(run_id, 2, 4, {"n": 2})),  # follows step 1 and seq 3
    ]
    results = await asyncio.gather(*saved, return_exceptions=True)
    assert [type(r).__name__ for r in results] == [
        "NoneType",
        "CheckpointConflictError",
        "CheckpointConflictError",
        "NoneType",
    ]
    run = await store.get_run(run_id)
    assert run is not None
    assert (run.state, run.step, run.last_seq) == ({"n": 2}, 2, 4)
    await _gap_free(store, run_id)


async def test_a_refused_record_does_not_hold_back_other_runs(store: Store) -> None:
    runs = [await new_run(store, f"r{i}") for i in range(4)]
    for run_id in runs:
        await store.save(_checkpoint(run_id, 0, 2, {"n": 0}, snapshot=True))
    # Saved together (one group commit where the store batches): r1's record conflicts.
    results = await asyncio.gather(
        *(
            store.save(_checkpoint(run_id, 0 if run_id == "r1" else 1, 3, {"n": 1}))
            for run_id in runs
        ),
        return_exceptions=True,
    )
    assert [type(r).__name__ for r in results] == [
        "NoneType",
        "CheckpointConflictError",
        "NoneType",
        "NoneType",
    ]
    states = [(await store.get_run(r)) for r in runs]
    assert [s.state if s else None for s in states] == [{"n": 1}, {"n": 0}, {"n": 1}, {"n": 1}]


@pytest.mark.parametrize("durability", ["sync", "async"])
async def test_many_concurrent_runs_are_all_recorded(store: Store, durability: Durability) -> None:
    compiled = loop_graph(30)
    ids = [await new_run(store, f"run-{i:03}") for i in range(40)]
    results = await asyncio.gather(
        *(
            Executor(compiled, checkpointer=store, durability=durability).start(
                {"n": 0}, run_id=run_id, after_seq=1
            )
            for run_id in ids
        )
    )
    assert {r.status for r in results} == {RunStatus.COMPLETED}
    for run_id in ids:
        run = await store.get_run(run_id)
        assert run is not None
        assert (run.status, run.state) == (RunStatus.COMPLETED, {"n": 30})
        assert len(await _gap_free(store, run_id)) == run.last_seq
    page = await store.list_runs(status=RunStatus.COMPLETED, limit=100)
    assert page.total == 40


async def test_snapshots_every_k_steps_rebuild_the_live_state(store: Store) -> None:
    g = Graph("grow", max_steps=40)
    g.add_node("grow", lambda s: {"n": s["n"] + 1, f"k{s['n'] % 7}": s["n"]})
    g.add_conditional_edges("grow", lambda s: "grow" if s["n"] < 33 else END, targets=["grow"])
    live: dict[int, dict[str, Any]] = {}

    class Watch:
        def publish(self, events: Sequence[Event]) -> None:
            for e in events:
                if e.type is EventType.NODE_COMPLETED and e.step is not None:
                    live[e.step] = dict(e.data["update"])

    run_id = await new_run(store)
    result = await Executor(g.compile(), checkpointer=store, sink=Watch(), snapshot_every=8).start(
        {"n": 0}, run_id=run_id, after_seq=1
    )
    history = await store.list_checkpoints(run_id)
    assert [c.step for c in history if c.has_snapshot] == [0, 8, 16, 24, 32]
    state: dict[str, Any] = {"n": 0}
    for step in range(34):
        state.update(live.get(step, {}))
        assert await store.state_at(run_id, step) == state, step
        at = await store.checkpoint_at(run_id, step)
        assert at is not None
        assert (at.step, at.state) == (step, state)
    run = await store.get_run(run_id)
    assert run is not None
    assert run.state == result.state == state
    loaded = await store.load(run_id)
    assert loaded is not None
    assert loaded.state == result.state
    assert await store.checkpoint_at(run_id, -1) is None


async def test_bytes_per_step_follow_the_delta_not_the_state_size(store: Store) -> None:
    big = {f"key{i}": "x" * 1000 for i in range(100)}  # about 100 kB
    g = Graph("tick", max_steps=30)
    g.add_node("tick", tool="increment", args={"key": "n"})
    g.add_conditional_edges("tick", lambda s: "tick" if s["n"] < 25 else END, targets=["tick"])
    run_id = await new_run(store, state={**big, "n": 0})
    await Executor(g.compile(), checkpointer=store, snapshot_every=100).start(
        {**big, "n": 0}, run_id=run_id, after_seq=1
    )
    history = await store.list_checkpoints(run_id)
    assert history[0].has_snapshot
    assert history[0].size_bytes > 200_000  # the input, as snapshot and delta
    for cp in history[1:]:
        assert cp.delta == {"n": cp.step}
        assert cp.size_bytes < 20
        assert 100_000 < cp.state_bytes < 110_000
    assert history[-1].state_bytes == len(json.dumps({**big, "n": 25}, separators=(",", ":")))
