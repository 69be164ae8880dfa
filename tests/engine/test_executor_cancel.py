"""Cancelling a run: between steps, during a step, and a crash that is not a cancel."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Mapping
from typing import Any

import pytest

from graphrun.engine import (
    END,
    EventType,
    Executor,
    Graph,
    MemoryCheckpointer,
    MemoryEventSink,
    RetryPolicy,
    RunStatus,
    StepRecord,
)


async def wait_for(flag: asyncio.Event | threading.Event) -> None:
    for _ in range(400):
        if flag.is_set():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the node never started")


def two_steps(first: Any, **node_kwargs: Any) -> Graph:
    g = Graph().add_node("first", first, **node_kwargs).add_node("second", lambda s: {"b": 1})
    return g.add_edge("first", "second").add_edge("second", END)


async def test_cancel_during_an_async_node() -> None:
    entered = asyncio.Event()

    async def slow(state: Mapping[str, Any]) -> dict[str, Any]:
        entered.set()
        await asyncio.sleep(10)
        return {"a": 1}

    cp, sink = MemoryCheckpointer(), MemoryEventSink()
    ex = Executor(two_steps(slow).compile(), checkpointer=cp, sink=sink)
    task = asyncio.ensure_future(ex.start({}, run_id="r"))
    await wait_for(entered)
    started = time.perf_counter()
    ex.cancel("user pressed stop")
    result = await asyncio.wait_for(task, 2)
    assert time.perf_counter() - started < 0.5
    assert result.status is RunStatus.CANCELLED
    assert (result.step, result.pending, result.message) == (1, ["first"], "user pressed stop")
    assert result.state == {}
    last = sink.events[-1]
    assert (last.type, last.data) == (EventType.RUN_CANCELLED, {"message": "user pressed stop"})
    assert cp.status["r"] is RunStatus.CANCELLED
    assert [e.seq for e in cp.events["r"]] == list(range(1, len(cp.events["r"]) + 1))


async def test_cancel_during_a_thread_node() -> None:
    entered, release = threading.Event(), threading.Event()

    def blocking(state: Mapping[str, Any]) -> dict[str, Any]:
        entered.set()
        release.wait(5)
        return {"a": 1}

    ex = Executor(two_steps(blocking).compile())
    task = asyncio.ensure_future(ex.start({}))
    try:
        await wait_for(entered)
        ex.cancel()
        result = await asyncio.wait_for(task, 2)
    finally:
        release.set()
    assert result.status is RunStatus.CANCELLED
    assert result.message == "cancelled"
    assert "a" not in result.state


async def test_cancel_during_a_retry_delay() -> None:
    failed_once = asyncio.Event()

    def broken(state: Mapping[str, Any]) -> None:
        failed_once.set()
        raise ConnectionError("down")

    policy = RetryPolicy(max_attempts=3, initial_delay=10, jitter=False)
    ex = Executor(two_steps(broken, retry=policy, inline=True).compile())
    task = asyncio.ensure_future(ex.start({}))
    await wait_for(failed_once)
    ex.cancel()
    result = await asyncio.wait_for(task, 2)
    assert result.status is RunStatus.CANCELLED


class GatedCheckpointer(MemoryCheckpointer):
    """Stores each record at once, but reports a step's checkpoint durable only when the
    test opens the gate."""

    def __init__(self, gate_step: int) -> None:
        super().__init__()
        self.gate_step = gate_step
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()

    def save(self, record: StepRecord) -> Awaitable[None]:
        stored = super().save(record)
        if record.kind != "checkpoint" or record.step != self.gate_step:
            return stored

        async def after_gate() -> None:
            await stored
            self.waiting.set()
            await self.gate.wait()

        return asyncio.ensure_future(after_gate())


async def test_cancel_between_steps_from_another_task() -> None:
    ran: list[str] = []
    g = Graph().add_node("first", lambda s: ran.append("first") or {"a": 1}, inline=True)
    g.add_node("second", lambda s: ran.append("second"), inline=True)
    g.add_edge("first", "second").add_edge("second", END)
    cp = GatedCheckpointer(gate_step=1)
    ex = Executor(g.compile(), checkpointer=cp, durability="sync")
    task = asyncio.ensure_future(ex.start({}, run_id="r"))
    await wait_for(cp.waiting)  # step 1 is done and being committed
    ex.cancel("between steps")
    cp.gate.set()
    result = await asyncio.wait_for(task, 2)
    assert ran == ["first"]
    assert result.status is RunStatus.CANCELLED
    assert result.state == {"a": 1}
    assert (result.step, result.pending, result.message) == (1, ["second"], "between steps")
    loaded = await cp.load("r")
    assert loaded is not None
    assert (loaded.status, loaded.step, loaded.state) == (RunStatus.CANCELLED, 1, {"a": 1})


async def test_cancel_between_steps_lets_the_current_step_finish() -> None:
    holder: dict[str, Executor] = {}
    ran: list[str] = []

    def first(state: Mapping[str, Any]) -> dict[str, Any]:
        ran.append("first")
        holder["ex"].cancel("enough")  # arrives while the step runs on the loop thread
        return {"a": 1}

    g = Graph().add_node("first", first, inline=True)
    g.add_node("second", lambda s: ran.append("second"), inline=True)
    g.add_edge("first", "second").add_edge("second", END)
    cp = MemoryCheckpointer()
    ex = holder["ex"] = Executor(g.compile(), checkpointer=cp)
    result = await ex.start({}, run_id="r")
    assert ran == ["first"]
    assert result.status is RunStatus.CANCELLED
    assert result.state == {"a": 1}
    assert (result.step, result.pending) == (1, ["second"])
    loaded = await cp.load("r")
    assert loaded is not None and loaded.state == {"a": 1} and loaded.step == 1


async def test_a_cancelled_run_cannot_be_resumed_into_running_again() -> None:
    entered = asyncio.Event()
    calls: list[str] = []

    async def slow(state: Mapping[str, Any]) -> dict[str, Any]:
        calls.append("first")
        entered.set()
        await asyncio.sleep(10)
        return {"a": 1}

    cp = MemoryCheckpointer()
    ex = Executor(two_steps(slow).compile(), checkpointer=cp)
    task = asyncio.ensure_future(ex.start({}, run_id="r"))
    await wait_for(entered)
    ex.cancel()
    assert (await task).status is RunStatus.CANCELLED
    again = await Executor(two_steps(slow).compile(), checkpointer=cp).resume("r")
    assert again.status is RunStatus.CANCELLED
    assert calls == ["first"]
    assert "b" not in again.state


async def test_an_outside_cancel_is_a_crash_not_a_cancel() -> None:
    entered = asyncio.Event()

    async def slow(state: Mapping[str, Any]) -> None:
        entered.set()
        await asyncio.sleep(10)

    cp, sink = MemoryCheckpointer(), MemoryEventSink()
    task = asyncio.ensure_future(
        Executor(two_steps(slow).compile(), checkpointer=cp, sink=sink).start({}, run_id="r")
    )
    await wait_for(entered)
    task.cancel()  # e.g. the process shutting down
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cp.status["r"] is RunStatus.RUNNING, "left to be resumed"
    assert EventType.RUN_CANCELLED not in [e.type for e in cp.events["r"]]


async def test_an_executor_can_run_again_after_a_cancel() -> None:
    entered = asyncio.Event()

    async def slow(state: Mapping[str, Any]) -> dict[str, Any]:
        entered.set()
        await asyncio.sleep(0.2)
        return {"a": 1}

    ex = Executor(two_steps(slow).compile())
    task = asyncio.ensure_future(ex.start({}))
    await wait_for(entered)
    ex.cancel()
    assert (await task).status is RunStatus.CANCELLED
    second = await ex.start({})
    assert second.status is RunStatus.COMPLETED


async def test_a_long_inline_run_lets_other_tasks_run() -> None:
    g = Graph(max_steps=20_000).add_node("spin", tool="increment", args={"key": "n"})
    g.add_edge("spin", "spin")
    ex = Executor(g.compile())

    async def stopper() -> None:
        await asyncio.sleep(0)
        ex.cancel("stopped from another task")

    stop = asyncio.ensure_future(stopper())
    result = await ex.start({"n": 0})
    await stop
    assert result.status is RunStatus.CANCELLED
    assert result.state["n"] < 20_000
