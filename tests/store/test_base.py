"""The store conformance suite, part 1: graphs, runs, events, leases and retention.

Every test runs against every backend (see ``conftest.py``).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from graphrun.engine import EventType, Executor, RunStatus
from graphrun.store import (
    GraphExistsError,
    GraphNotFoundError,
    IdempotencyConflictError,
    NotFoundError,
    RunExistsError,
    RunNotFoundError,
    StateNotSerializableError,
    Store,
)
from tests.store.conftest import loop_graph, new_run

# -- graphs -------------------------------------------------------------------------------


async def test_updating_a_graph_makes_a_new_version_and_keeps_the_old_ones(store: Store) -> None:
    first = await store.create_graph("g", "greeter", {"nodes": {"a": {}}})
    assert (first.graph_id, first.name, first.version) == ("g", "greeter", 1)
    second = await store.update_graph("g", {"nodes": {"a": {}, "b": {}}})
    third = await store.update_graph("g", {"nodes": {}}, name="renamed")
    assert (second.version, second.name) == (2, "greeter")
    assert (third.version, third.name) == (3, "renamed")
    latest = await store.get_graph("g")
    assert latest is not None
    assert (latest.version, latest.spec, latest.name) == (3, {"nodes": {}}, "renamed")
    v1 = await store.get_graph("g", version=1)
    assert v1 is not None
    assert v1.spec == {"nodes": {"a": {}}}
    assert v1.created_at == latest.created_at  # when the graph was first created
    assert v1.updated_at <= latest.updated_at
    versions = await store.list_graph_versions("g")
    assert [v.version for v in versions] == [1, 2, 3]
    assert [v.spec for v in versions][1] == {"nodes": {"a": {}, "b": {}}}
    assert await store.get_graph("g", version=4) is None
    assert await store.get_graph("missing") is None
    assert await store.list_graph_versions("missing") == []


async def test_graph_ids_are_unique_and_updates_need_a_graph(store: Store) -> None:
    await store.create_graph("g", "x", {})
    with pytest.raises(GraphExistsError, match="'g' already exists"):
        await store.create_graph("g", "y", {})
    with pytest.raises(GraphNotFoundError, match="'nope' does not exist"):
        await store.update_graph("nope", {})


async def test_bad_graph_input_is_refused_with_a_clear_error(store: Store) -> None:
    with pytest.raises(ValueError, match="graph_id must be a non-empty string"):
        await store.create_graph("", "x", {})
    with pytest.raises(TypeError, match="spec must be a mapping"):
        await store.create_graph("g", "x", ["not", "a", "mapping"])  # type: ignore[arg-type]
    with pytest.raises(StateNotSerializableError, match="spec is not JSON"):
        await store.create_graph("g", "x", {"when": datetime.now(UTC)})
    assert await store.get_graph("g") is None


async def test_deleted_graph_leaves_listings_but_its_runs_keep_their_version(
    store: Store,
) -> None:
    run_id = await new_run(store)
    await store.update_graph("g", {"nodes": ["v2"]})
    assert await store.delete_graph("g") is True
    assert await store.delete_graph("g") is False
    assert await store.get_graph("g") is None
    assert (await store.list_graphs()).total == 0
    pinned = await store.get_graph("g", version=1)
    assert pinned is not None
    assert pinned.deleted
    assert pinned.spec == {"nodes": ["inc"]}
    run = await store.get_run(run_id)
    assert run is not None
    assert (run.graph_id, run.graph_version) == ("g", 1)
    with pytest.raises(GraphNotFoundError, match="'g' does not exist"):
        await store.create_run("r2", "g", 2, {})
    with pytest.raises(GraphNotFoundError):
        await store.update_graph("g", {})
    # The id can be used again; versions go on from where they were.
    again = await store.create_graph("g", "back", {"nodes": []})
    assert (again.version, again.deleted) == (3, False)


async def test_list_graphs_is_newest_first_with_a_total(store: Store) -> None:
    for i in range(5):
        await store.create_graph(f"g{i}", f"graph {i}", {"i": i})
    await store.update_graph("g1", {"i": 10})
    await store.delete_graph("g3")
    page = await store.list_graphs(limit=2, offset=1)
    assert page.total == 4
    assert [g.graph_id for g in page.items] == ["g2", "g1"]
    assert page.items[1].version == 2
    assert page.items[1].spec == {"i": 10}
    everything = await store.list_graphs()
    assert [g.graph_id for g in everything.items] == ["g4", "g2", "g1", "g0"]
    with pytest.raises(ValueError, match="offset must be a non-negative integer"):
        await store.list_graphs(offset=-1)


# -- runs ---------------------------------------------------------------------------------


async def test_a_new_run_is_queued_with_its_run_queued_event(store: Store) -> None:
    await store.create_graph("g", "loop", {})
    run = await store.create_run("r1", "g", 1, {"n": 1, "text": "é"})
    assert run.status is RunStatus.QUEUED
    assert run.input == {"n": 1, "text": "é"}
    assert run.state == {"n": 1, "text": "é"}
    assert (run.step, run.last_seq, run.pending, run.error) == (0, 1, [], None)
    assert run.created_at.tzinfo is not None
    events = await store.list_events("r1")
    assert [(e.seq, e.type) for e in events] == [(1, EventType.RUN_QUEUED)]
    assert events[0].data == {"graph_id": "g", "graph_version": 1}
    fetched = await store.get_run("r1")
    assert fetched == run
    assert await store.get_run("nope") is None


async def test_a_run_needs_an_existing_graph_version_and_a_new_id(store: Store) -> None:
    await store.create_graph("g", "loop", {})
    with pytest.raises(GraphNotFoundError, match="'g' has no version 2"):
        await store.create_run("r1", "g", 2, {})
    with pytest.raises(GraphNotFoundError, match="'other' does not exist"):
        await store.create_run("r1", "other", 1, {})
    await store.create_run("r1", "g", 1, {})
    with pytest.raises(RunExistsError, match="'r1' already exists"):
        await store.create_run("r1", "g", 1, {})
    with pytest.raises(StateNotSerializableError, match="input is not JSON"):
        await store.create_run("r2", "g", 1, {"x": object()})
    assert await store.get_run("r2") is None


async def test_idempotency_key_returns_the_same_run_or_a_conflict(store: Store) -> None:
    await store.create_graph("g", "loop", {})
    first = await store.create_run("r1", "g", 1, {"n": 1}, idempotency_key="k", request_hash="h1")
    again = await store.create_run("r2", "g", 1, {"n": 1}, idempotency_key="k", request_hash="h1")
    assert again.run_id == "r1"
    assert again.idempotency_key == "k"
    assert await store.get_run("r2") is None
    with pytest.raises(IdempotencyConflictError, match="'k' was already used"):
        await store.create_run("r3", "g", 1, {"n": 2}, idempotency_key="k", request_hash="h2")
    found = await store.find_run_by_idempotency_key("k")
    assert found is not None
    assert found.run_id == first.run_id
    assert await store.find_run_by_idempotency_key("other") is None
    assert (await store.list_runs()).total == 1


async def test_concurrent_creates_with_one_idempotency_key_make_one_run(store: Store) -> None:
    await store.create_graph("g", "loop", {})
    runs = await asyncio.gather(
        *(
            store.create_run(f"r{i}", "g", 1, {}, idempotency_key="k", request_hash="h")
            for i in range(5)
        )
    )
    assert len({r.run_id for r in runs}) == 1
    assert (await store.list_runs()).total == 1


async def test_list_runs_filters_by_graph_and_status_newest_first(store: Store) -> None:
    await store.create_graph("a", "a", {})
    await store.create_graph("b", "b", {})
    for i in range(6):
        await store.create_run(f"r{i}", "a" if i % 2 == 0 else "b", 1, {"i": i})
    await store.set_status("r2", RunStatus.CANCELLED)
    await store.set_status("r3", RunStatus.CANCELLED)
    page = await store.list_runs()
    assert page.total == 6
    assert [r.run_id for r in page.items] == ["r5", "r4", "r3", "r2", "r1", "r0"]
    assert all(r.state is None for r in page.items)
    by_graph = await store.list_runs(graph_id="a", limit=2)
    assert (by_graph.total, [r.run_id for r in by_graph.items]) == (3, ["r4", "r2"])
    cancelled = await store.list_runs(status=RunStatus.CANCELLED)
    assert [r.run_id for r in cancelled.items] == ["r3", "r2"]
    both = await store.list_runs(graph_id="a", status=[RunStatus.CANCELLED, RunStatus.QUEUED])
    assert [r.run_id for r in both.items] == ["r4", "r2", "r0"]
    paged = await store.list_runs(limit=2, offset=4, with_state=True)
    assert [(r.run_id, r.state) for r in paged.items] == [("r1", {"i": 1}), ("r0", {"i": 0})]
    assert (await store.list_runs(graph_id="none")).total == 0
    with pytest.raises(ValueError, match="unknown run status"):
        await store.list_runs(status="bogus")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="limit must be a non-negative integer"):
        await store.list_runs(limit=-5)


async def test_set_status_cancels_a_queued_run_and_appends_the_event(store: Store) -> None:
    run_id = await new_run(store)
    change = await store.set_status(
        run_id,
        RunStatus.CANCELLED,
        only_from=[RunStatus.QUEUED],
        event=EventType.RUN_CANCELLED,
        data={"message": "cancelled before it started"},
    )
    assert change.changed
    assert change.status is RunStatus.CANCELLED
    assert change.event is not None
    assert (change.event.seq, change.event.type) == (2, EventType.RUN_CANCELLED)
    run = await store.get_run(run_id)
    assert run is not None
    assert (run.status, run.last_seq) == (RunStatus.CANCELLED, 2)
    assert run.finished_at is not None
    events = await store.list_events(run_id)
    assert [e.type for e in events] == [EventType.RUN_QUEUED, EventType.RUN_CANCELLED]
    assert events[1].data == {"message": "cancelled before it started"}
    # Not queued any more: a second cancel changes nothing.
    again = await store.set_status(run_id, RunStatus.FAILED, only_from=[RunStatus.QUEUED])
    assert (again.changed, again.status, again.event) == (False, RunStatus.CANCELLED, None)
    failed = await store.set_status(run_id, RunStatus.FAILED, error={"message": "recovery"})
    assert failed.changed
    run = await store.get_run(run_id)
    assert run is not None
    assert (run.status, run.error, run.last_seq) == (RunStatus.FAILED, {"message": "recovery"}, 2)
    with pytest.raises(RunNotFoundError, match="'nope' does not exist"):
        await store.set_status("nope", RunStatus.CANCELLED)


async def test_list_events_after_a_seq_with_a_limit(store: Store) -> None:
    run_id = await new_run(store)
    for i in range(4):
        await store.set_status(run_id, RunStatus.QUEUED, event=EventType.LOG, data={"i": i})
    events = await store.list_events(run_id)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    later = await store.list_events(run_id, after_seq=2, limit=2)
    assert [(e.seq, e.data) for e in later] == [(3, {"i": 1}), (4, {"i": 2})]
    assert await store.list_events(run_id, after_seq=5) == []
    assert await store.list_events("nope") == []


# -- leases -------------------------------------------------------------------------------

T0 = datetime(2030, 1, 1, tzinfo=UTC)


async def test_a_lease_is_held_until_it_expires_or_is_released(store: Store) -> None:
    run_id = await new_run(store)
    assert await store.acquire_lease(run_id, "w1", 30, now=T0)
    assert await store.acquire_lease(run_id, "w1", 30, now=T0)  # the owner again: fine
    assert not await store.acquire_lease(run_id, "w2", 30, now=T0 + timedelta(seconds=29))
    assert await store.renew_lease(run_id, "w1", 30, now=T0 + timedelta(seconds=20))
    assert not await store.renew_lease(run_id, "w2", 30, now=T0)
    assert not await store.acquire_lease(run_id, "w2", 30, now=T0 + timedelta(seconds=49))
    run = await store.get_run(run_id)
    assert run is not None
    assert run.lease_owner == "w1"
    assert run.lease_expires_at == T0 + timedelta(seconds=50)
    # Expired: someone else takes it over, and the old owner can no longer renew.
    assert await store.acquire_lease(run_id, "w2", 30, now=T0 + timedelta(seconds=51))
    assert not await store.renew_lease(run_id, "w1", 30, now=T0 + timedelta(seconds=52))
    assert not await store.release_lease(run_id, "w1")
    assert await store.release_lease(run_id, "w2")
    assert await store.acquire_lease(run_id, "w3", 30, now=T0 + timedelta(seconds=52))
    with pytest.raises(RunNotFoundError):
        await store.acquire_lease("nope", "w1", 30)


async def test_finished_runs_cannot_be_leased(store: Store) -> None:
    run_id = await new_run(store)
    await store.set_status(run_id, RunStatus.COMPLETED)
    assert not await store.acquire_lease(run_id, "w1", 30)


async def test_expired_runs_are_unfinished_runs_whose_lease_lapsed(store: Store) -> None:
    ids = [await new_run(store, f"r{i}") for i in range(5)]
    await store.acquire_lease("r0", "w", 10, now=T0)  # expires T0+10
    await store.acquire_lease("r1", "w", 100, now=T0)  # still held
    await store.acquire_lease("r2", "w", 10, now=T0)
    await store.set_status("r2", RunStatus.COMPLETED)  # finished: never recovered
    await store.acquire_lease("r3", "w", 10, now=T0)
    await store.set_status("r3", RunStatus.RUNNING)
    later = T0 + timedelta(seconds=11)
    expired = await store.expired_runs(now=later)
    assert [r.run_id for r in expired] == ["r0", "r3"]
    assert expired[1].status is RunStatus.RUNNING
    with_unleased = await store.expired_runs(now=later, include_unleased=True)
    assert [r.run_id for r in with_unleased] == ["r0", "r3", "r4"]
    assert [r.run_id for r in await store.expired_runs(now=later, limit=1)] == ["r0"]
    assert len(ids) == 5


async def test_recovery_attempts_are_counted(store: Store) -> None:
    run_id = await new_run(store)
    assert await store.add_recovery_attempt(run_id) == 1
    assert await store.add_recovery_attempt(run_id) == 2
    run = await store.get_run(run_id)
    assert run is not None
    assert run.recovery_attempts == 2
    with pytest.raises(RunNotFoundError):
        await store.add_recovery_attempt("nope")


async def test_a_checkpoint_resets_the_recovery_count(store: Store) -> None:
    """The limit counts recoveries in a row that made no progress."""
    run_id = await new_run(store)
    await store.add_recovery_attempt(run_id)
    await store.add_recovery_attempt(run_id)
    result = await Executor(loop_graph(3), checkpointer=store).start(
        {"n": 0}, run_id=run_id, after_seq=1
    )
    assert result.status is RunStatus.COMPLETED
    run = await store.get_run(run_id)
    assert run is not None
    assert run.recovery_attempts == 0


# -- retention ----------------------------------------------------------------------------


async def test_prune_deletes_old_finished_runs_with_their_history(store: Store) -> None:
    old_done = await new_run(store, "old-done", {"n": 1})
    old_running = await new_run(store, "old-running")
    await store.set_status(old_done, RunStatus.COMPLETED, event=EventType.RUN_COMPLETED)
    await store.set_status(old_running, RunStatus.RUNNING)
    await store.create_run("keyed", "g", 1, {}, idempotency_key="k", request_hash="h")
    await store.set_status("keyed", RunStatus.FAILED)
    cutoff = datetime.now(UTC) + timedelta(seconds=1)
    await asyncio.sleep(0)
    pruned = await store.prune(cutoff)
    assert pruned == 2
    assert await store.get_run(old_done) is None
    assert await store.list_events(old_done) == []
    assert await store.list_checkpoints(old_done) == []
    assert await store.find_run_by_idempotency_key("k") is None
    assert await store.get_run(old_running) is not None
    assert await store.prune(cutoff) == 0
    # Nothing finished before a cutoff in the past.
    assert await store.prune(datetime.now(UTC) - timedelta(days=1)) == 0
    with pytest.raises(NotFoundError):
        await store.state_at(old_done, 0)
