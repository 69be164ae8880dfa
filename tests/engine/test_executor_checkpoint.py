"""Durability modes, resuming after a crash, and fencing between executors."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Mapping
from typing import Any

import pytest

from graphrun.engine import (
    END,
    Branch,
    CheckpointConflictError,
    Event,
    EventType,
    Executor,
    Graph,
    MemoryCheckpointer,
    MemoryEventSink,
    RunCheckpoint,
    RunStatus,
    StepRecord,
)

MODES = ["sync", "async", "exit"]


def assert_gap_free(events: list[Event]) -> None:
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


class Workflow:
    """a -> b -> (c1 | c2) -> join -> loop back to b until i == 3 -> done.

    Every node counts its calls and appends to ``trace``, so a resumed run that repeated a
    completed step, or skipped one, ends in a different state than an uninterrupted run.
    """

    def __init__(self, *, inline: bool = False, crash_at: tuple[str, int] | None = None) -> None:
        self.calls: Counter[tuple[str, int]] = Counter()
        self.crash_at = crash_at
        self.entered = asyncio.Event()
        g = Graph("workflow", reducers={"trace": "append", "total": "add"})
        for name in ("a", "b", "c1", "c2", "join", "done"):
            g.add_node(name, self._node(name), inline=inline or None)
        g.add_edge("a", "b").add_edge("b", "c1").add_edge("b", "c2")
        g.add_edge(["c1", "c2"], "join")
        g.add_conditional_edges("join", [Branch("b", "i < 3"), Branch("done")])
        g.add_edge("done", END)
        self.graph = g.compile()

    def _node(self, name: str) -> Any:
        def node(state: Mapping[str, Any]) -> dict[str, Any]:
            i = state.get("i", 0)
            self.calls[(name, i)] += 1
            update: dict[str, Any] = {"trace": f"{name}{i}", "total": len(name) + i}
            if name == "join":
                update["i"] = i + 1
            return update

        async def crashable(state: Mapping[str, Any]) -> dict[str, Any]:
            if self.crash_at == (name, state.get("i", 0)):
                self.crash_at = None
                self.entered.set()
                await asyncio.sleep(30)  # cancelled from outside: a crash
            return node(state)

        return node if self.crash_at is None or self.crash_at[0] != name else crashable


async def reference_result() -> Any:
    return await Executor(Workflow().graph).start({"i": 0})


async def crash(wf: Workflow, cp: MemoryCheckpointer, durability: str) -> None:
    task = asyncio.ensure_future(
        Executor(wf.graph, checkpointer=cp, durability=durability).start(  # type: ignore[arg-type]
            {"i": 0}, run_id="r"
        )
    )
    for _ in range(400):
        if wf.entered.is_set():
            break
        await asyncio.sleep(0.005)
    assert wf.entered.is_set()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# -- durability modes ---------------------------------------------------------------------------


@pytest.mark.parametrize("durability", ["sync", "async"])
async def test_every_step_is_checkpointed(durability: str) -> None:
    wf, cp = Workflow(), MemoryCheckpointer()
    ex = Executor(wf.graph, checkpointer=cp, durability=durability, snapshot_every=3)  # type: ignore[arg-type]
    result = await ex.start({"i": 0}, run_id="r")
    assert result.status is RunStatus.COMPLETED
    rows = cp.history("r")
    assert [r.step for r in rows] == list(range(result.step + 1))
    assert [r.step for r in rows if r.snapshot is not None] == [
        s for s in range(result.step + 1) if s % 3 == 0
    ]
    assert rows[0].snapshot == {"i": 0} and rows[0].pending == ["a"]
    assert rows[1].delta == {"trace": ["a0"], "total": 1}  # the keys step 1 wrote
    assert rows[2].delta == {"trace": ["a0", "b0"], "total": 2}
    assert rows[4].delta == {"trace": ["a0", "b0", "c10", "c20", "join0"], "total": 10, "i": 1}
    assert rows[2].nodes == ["b"] and rows[2].pending == ["c1", "c2"]
    assert rows[3].barriers == {} and rows[3].pending == ["join"]
    assert rows[-1].status is RunStatus.COMPLETED and rows[-1].pending == []
    loaded = await cp.load("r")
    assert loaded is not None
    assert loaded.state == result.state == (await reference_result()).state
    assert loaded.status is RunStatus.COMPLETED and loaded.step == result.step
    assert_gap_free(cp.events["r"])


async def test_exit_durability_writes_the_start_and_the_end() -> None:
    wf, cp = Workflow(inline=True), MemoryCheckpointer()
    result = await Executor(wf.graph, checkpointer=cp, durability="exit").start(
        {"i": 0}, run_id="r"
    )
    rows = cp.history("r")
    assert [r.step for r in rows] == [0, result.step]
    assert rows[-1].snapshot == result.state
    loaded = await cp.load("r")
    assert loaded is not None and loaded.state == result.state
    assert_gap_free(cp.events["r"])
    assert len(cp.events["r"]) > 10  # every step's events are kept, only written late


@pytest.mark.parametrize(
    "durability",
    [
        "sync",
        "async",
        "exit",
    ],
)
async def test_a_failed_run_stores_the_state_it_ended_with(durability: str) -> None:
    def boom(state: Mapping[str, Any]) -> None:
        raise ValueError("no")

    g = Graph().add_node("a", lambda s: {"a": 1}, inline=True)
    g.add_node("b", lambda s: {"b": 1}, inline=True).add_node("c", boom, inline=True)
    g.add_edge("a", "b").add_edge("b", "c").add_edge("c", END)
    cp = MemoryCheckpointer()
    result = await Executor(g.compile(), checkpointer=cp, durability=durability).start(  # type: ignore[arg-type]
        {}, run_id="r"
    )
    assert result.status is RunStatus.FAILED
    loaded = await cp.load("r")
    assert loaded is not None
    assert (loaded.status, loaded.state, loaded.step) == (RunStatus.FAILED, {"a": 1, "b": 1}, 2)


class CountingCheckpointer(MemoryCheckpointer):
    def __init__(self) -> None:
        super().__init__()
        self.saves: list[tuple[str, int]] = []

    def save(self, record: StepRecord) -> Awaitable[None]:
        self.saves.append((record.kind, record.step))
        return super().save(record)


async def test_exit_durability_writes_only_at_the_end_with_thread_nodes() -> None:
    wf, cp = Workflow(), CountingCheckpointer()
    result = await Executor(wf.graph, checkpointer=cp, durability="exit").start({"i": 0})
    assert result.status is RunStatus.COMPLETED
    assert len(cp.saves) == 2, cp.saves


async def test_sync_durability_waits_for_every_commit() -> None:
    order: list[str] = []

    class Slow(MemoryCheckpointer):
        def save(self, record: StepRecord) -> Awaitable[None]:
            async def later() -> None:
                await asyncio.sleep(0.01)
                await MemoryCheckpointer.save(self, record)
                order.append(f"saved {record.kind} {record.step}")

            return asyncio.ensure_future(later())

    def node(name: str) -> Any:
        def run(state: Mapping[str, Any]) -> None:
            order.append(f"ran {name}")

        return run

    g = Graph().add_node("a", node("a"), inline=True).add_node("b", node("b"), inline=True)
    g.add_edge("a", "b").add_edge("b", END)
    await Executor(g.compile(), checkpointer=Slow(), durability="sync").start({})
    assert order == [
        "saved checkpoint 0",
        "ran a",
        "saved checkpoint 1",
        "ran b",
        "saved checkpoint 2",
    ]


def test_unknown_durability_is_refused() -> None:
    with pytest.raises(ValueError, match="durability must be sync, async or exit, not 'fast'"):
        Executor(Workflow().graph, durability="fast")  # type: ignore[arg-type]


# -- resuming after a crash -------------------------------------------------------------------


@pytest.mark.parametrize("durability", ["sync", "async"])
@pytest.mark.parametrize("crash_at", [("c2", 1), ("join", 0), ("a", 0), ("done", 3)])
async def test_resume_after_a_crash_continues_exactly_where_the_run_stopped(
    durability: str, crash_at: tuple[str, int]
) -> None:
    reference = await reference_result()
    wf, cp = Workflow(crash_at=crash_at), MemoryCheckpointer()
    await crash(wf, cp, durability)
    before = await cp.load("r")
    assert before is not None and before.status is RunStatus.RUNNING
    calls_before = Counter(wf.calls)

    sink = MemoryEventSink()
    resumed = await Executor(wf.graph, checkpointer=cp, sink=sink, durability=durability).resume(  # type: ignore[arg-type]
        "r"
    )
    assert resumed.status is RunStatus.COMPLETED
    assert resumed.state == reference.state
    assert resumed.step == reference.step
    # Nothing of a checkpointed step ran again. Only the wave that was running at the
    # crash runs again (at least once): its crashed node never returned, and a node of
    # the same wave that had finished is repeated with it.
    crashed_wave = {(n, before.state.get("i", 0)) for n in before.pending}
    assert crash_at in crashed_wave
    for key, n in wf.calls.items():
        assert n == (1 + calls_before[key] if key in crashed_wave else 1), (key, wf.calls)
    assert set(wf.calls) == _all_calls(reference)
    assert sink.events[0].type is EventType.RUN_RESUMED
    assert sink.events[0].data["step"] == before.step
    assert sink.events[0].data["pending"] == before.pending
    assert_gap_free(cp.events["r"])
    assert [r.step for r in cp.history("r")] == list(range(resumed.step + 1))


def _all_calls(reference: Any) -> set[tuple[str, int]]:
    calls: set[tuple[str, int]] = set()
    for item in reference.state["trace"]:
        calls.add((item[:-1], int(item[-1])))
    return calls


async def test_resume_keeps_a_half_filled_join() -> None:
    # c1 and c2 run in the same wave, so crash inside one of them: the join barrier is
    # empty at the crash. Crash in 'join' itself after one full round instead, and check
    # a join whose sources arrived in different waves.
    calls: Counter[str] = Counter()
    entered = asyncio.Event()

    def plain(name: str) -> Any:
        def node(state: Mapping[str, Any]) -> dict[str, Any]:
            calls[name] += 1
            return {name: True}

        return node

    async def long2(state: Mapping[str, Any]) -> dict[str, Any]:
        calls["long2"] += 1
        if calls["long2"] == 1:
            entered.set()
            await asyncio.sleep(30)
        return {"long2": True}

    g = Graph().add_node("s", plain("s")).add_node("short", plain("short"))
    g.add_node("long1", plain("long1")).add_node("long2", long2).add_node("join", plain("join"))
    g.add_edge("s", "short").add_edge("s", "long1").add_edge("long1", "long2")
    g.add_edge(["short", "long2"], "join").add_edge("join", END)
    compiled, cp = g.compile(), MemoryCheckpointer()
    task = asyncio.ensure_future(Executor(compiled, checkpointer=cp).start({}, run_id="r"))
    for _ in range(400):
        if entered.is_set():
            break
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    saved = await cp.load("r")
    assert saved is not None and saved.barriers == {"join": ["short"]}
    result = await Executor(compiled, checkpointer=cp).resume("r")
    assert result.status is RunStatus.COMPLETED
    assert calls == {"s": 1, "short": 1, "long1": 1, "long2": 2, "join": 1}
    assert result.state == dict.fromkeys(("s", "short", "long1", "long2", "join"), True)


class StopsAfter(MemoryCheckpointer):
    """Accepts checkpoints up to ``last_step``, then every write fails, as a store would
    when its disk or connection goes away."""

    def __init__(self, last_step: int) -> None:
        super().__init__()
        self.last_step = last_step

    def save(self, record: StepRecord) -> Awaitable[None]:
        if record.step > self.last_step:
            failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            failed.set_exception(OSError("the store is gone"))
            return failed
        return super().save(record)


@pytest.mark.parametrize("durability", ["sync", "async"])
async def test_resume_after_the_store_stopped_accepting_writes(durability: str) -> None:
    reference = await reference_result()
    wf, broken = Workflow(), StopsAfter(last_step=4)
    with pytest.raises((OSError, CheckpointConflictError)):
        await Executor(wf.graph, checkpointer=broken, durability=durability).start(  # type: ignore[arg-type]
            {"i": 0}, run_id="r"
        )
    saved = await broken.load("r")
    assert saved is not None and saved.step == 4 and saved.status is RunStatus.RUNNING
    ran_before = Counter(wf.calls)
    # a fresh executor over the same (recovered) storage
    healthy = MemoryCheckpointer()
    healthy.rows, healthy.events = broken.rows, broken.events
    healthy.status, healthy.errors = broken.status, broken.errors
    result = await Executor(wf.graph, checkpointer=healthy, durability=durability).resume("r")  # type: ignore[arg-type]
    assert result.status is RunStatus.COMPLETED
    assert result.state == reference.state
    completed_steps = {("a", 0), ("b", 0), ("c1", 0), ("c2", 0)}  # steps 1-3
    for key in completed_steps:
        assert wf.calls[key] == 1, f"{key} ran again after its step was checkpointed"
    assert ran_before[("join", 0)] >= 1  # step 4 ran, and was checkpointed: not again
    assert wf.calls[("join", 0)] == 1
    assert_gap_free(healthy.events["r"])


async def test_resume_with_snapshots_rebuilds_the_same_state() -> None:
    reference = await reference_result()
    wf, cp = Workflow(crash_at=("c1", 2)), MemoryCheckpointer()
    task = asyncio.ensure_future(
        Executor(wf.graph, checkpointer=cp, snapshot_every=2).start({"i": 0}, run_id="r")
    )
    for _ in range(400):
        if wf.entered.is_set():
            break
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert any(r.snapshot is not None and r.step > 0 for r in cp.history("r"))
    result = await Executor(wf.graph, checkpointer=cp, snapshot_every=2).resume("r")
    assert result.state == reference.state


async def test_resuming_a_finished_run_runs_nothing() -> None:
    wf, cp = Workflow(), MemoryCheckpointer()
    first = await Executor(wf.graph, checkpointer=cp).start({"i": 0}, run_id="r")
    calls = Counter(wf.calls)
    events = len(cp.events["r"])
    again = await Executor(wf.graph, checkpointer=cp).resume("r")
    assert (again.status, again.state, again.step) == (RunStatus.COMPLETED, first.state, first.step)
    assert wf.calls == calls
    assert len(cp.events["r"]) == events


async def test_resume_errors() -> None:
    with pytest.raises(ValueError, match="resume needs a checkpointer"):
        await Executor(Workflow().graph).resume("r")
    with pytest.raises(LookupError, match="run 'ghost' has no checkpoint to resume from"):
        await Executor(Workflow().graph, checkpointer=MemoryCheckpointer()).resume("ghost")


# -- fencing ------------------------------------------------------------------------------------


class StaleLoad(MemoryCheckpointer):
    """Shares the store, but ``load`` returns what it returned the first time: an executor
    that read the run before another executor took it over."""

    def __init__(self, store: MemoryCheckpointer) -> None:
        super().__init__()
        self.rows, self.events = store.rows, store.events
        self.status, self.errors = store.status, store.errors
        self._first: RunCheckpoint | None = None

    async def load(self, run_id: str) -> RunCheckpoint | None:
        if self._first is None:
            self._first = await super().load(run_id)
        return self._first


@pytest.mark.parametrize("inline", [True, False])
@pytest.mark.parametrize("durability", ["sync", "async"])
async def test_a_second_executor_of_the_same_steps_is_fenced_off(
    durability: str, inline: bool
) -> None:
    wf, cp = Workflow(crash_at=("c1", 1), inline=inline), MemoryCheckpointer()
    await crash(wf, cp, "sync")
    stale = StaleLoad(cp)
    assert await stale.load("r") is not None  # the late executor reads the run now

    winner = await Executor(wf.graph, checkpointer=cp, durability=durability).resume("r")  # type: ignore[arg-type]
    assert winner.status is RunStatus.COMPLETED
    rows_after = [(r.step, r.delta) for r in cp.history("r")]
    events_after = [e.to_dict() for e in cp.events["r"]]

    with pytest.raises(CheckpointConflictError):
        await Executor(wf.graph, checkpointer=stale, durability=durability).resume("r")  # type: ignore[arg-type]
    assert [(r.step, r.delta) for r in cp.history("r")] == rows_after
    assert [e.to_dict() for e in cp.events["r"]] == events_after
    assert cp.status["r"] is RunStatus.COMPLETED


async def test_two_executors_racing_on_one_step_record_it_once() -> None:
    gate = asyncio.Event()
    arrived: list[str] = []

    async def step_two(state: Mapping[str, Any]) -> dict[str, Any]:
        arrived.append("x")
        await gate.wait()
        return {"two": len(arrived)}

    g = Graph().add_node("one", lambda s: {"one": 1}, inline=True).add_node("two", step_two)
    g.add_edge("one", "two").add_edge("two", END)
    compiled, cp = g.compile(), MemoryCheckpointer()
    # step 1 done and checkpointed, then the process died
    holder: dict[str, Any] = {}
    first = asyncio.ensure_future(Executor(compiled, checkpointer=cp).start({}, run_id="r"))
    holder["task"] = first
    for _ in range(200):
        if arrived:
            break
        await asyncio.sleep(0.005)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    arrived.clear()
    # two executors take the run over at the same time
    a = asyncio.ensure_future(Executor(compiled, checkpointer=cp, durability="sync").resume("r"))
    b = asyncio.ensure_future(Executor(compiled, checkpointer=cp, durability="sync").resume("r"))
    for _ in range(200):
        if a.done() or b.done() or len(arrived) == 2:
            break
        await asyncio.sleep(0.005)
    gate.set()
    results = await asyncio.gather(a, b, return_exceptions=True)
    conflicts = [r for r in results if isinstance(r, CheckpointConflictError)]
    completed = [r for r in results if not isinstance(r, BaseException)]
    assert len(conflicts) == 1 and len(completed) == 1, results
    assert completed[0].status is RunStatus.COMPLETED
    assert [r.step for r in cp.history("r")] == [0, 1, 2]
    assert_gap_free(cp.events["r"])
    assert cp.status["r"] is RunStatus.COMPLETED
