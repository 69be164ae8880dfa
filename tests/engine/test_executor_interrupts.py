"""Human-in-the-loop: ctx.interrupt, interrupt_before/after, and what a resume re-runs."""

from __future__ import annotations

import asyncio
from itertools import pairwise
from typing import Any

import pytest

from graphrun.engine import (
    END,
    Executor,
    Graph,
    MemoryCheckpointer,
    MemoryEventSink,
    NodeContext,
    RunStatus,
    StateError,
)


def _chain(graph: Graph, *names: str) -> None:
    for a, b in pairwise(names):
        graph.add_edge(a, b)
    graph.add_edge(names[-1], END)


class Approvals:
    """A node that asks for approval, with side effects counted outside the engine."""

    def __init__(self) -> None:
        self.charged = 0
        self.runs = 0

    def __call__(self, state: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        self.runs += 1
        ctx.log("asking for approval")
        receipt = ctx.once("charge", self._charge)
        answer = ctx.interrupt({"question": "approve?", "amount": state["amount"]})
        ctx.log(f"answer: {answer}")
        return {"approved": answer == "yes", "receipt": receipt}

    def _charge(self) -> int:
        self.charged += 1
        return self.charged


async def test_interrupt_pauses_and_resume_returns_the_input_without_repeating_effects() -> None:
    approvals = Approvals()
    g = Graph("approve")
    g.add_node("prepare", tool="set", args={"amount": 10})
    g.add_node("approve", approvals)
    g.add_node("after", tool="set", args={"done": True})
    _chain(g, "prepare", "approve", "after")
    compiled = g.compile()
    cp, sink = MemoryCheckpointer(), MemoryEventSink()

    first = await Executor(compiled, checkpointer=cp, sink=sink).start({})
    assert first.status is RunStatus.INTERRUPTED
    assert first.pending == ["approve"]
    assert first.step == 1  # the interrupted step is not recorded
    paused = [e for e in sink.events if e.type.value == "run_interrupted"]
    assert paused[-1].data["payload"] == {"question": "approve?", "amount": 10}
    assert paused[-1].data["nodes"] == ["approve"]
    loaded = await cp.load(first.run_id)
    assert loaded is not None
    assert loaded.status is RunStatus.INTERRUPTED

    # A new executor (as after a restart) resumes from the store.
    done = await Executor(compiled, checkpointer=cp, sink=sink).resume(first.run_id, "yes")
    assert done.status is RunStatus.COMPLETED
    assert done.state == {"amount": 10, "approved": True, "receipt": 1, "done": True}
    assert approvals.runs == 2  # the interrupted step ran again
    assert approvals.charged == 1  # but its ctx.once effect did not
    logs = [e.data["message"] for e in sink.events if e.type.value == "log"]
    assert logs == ["asking for approval", "answer: yes"]  # no repeated log line
    seqs = [e.seq for e in sink.events]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_a_node_may_ask_twice_and_gets_each_answer_in_order() -> None:
    def two_questions(state: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        name = ctx.interrupt("name?")
        colour = ctx.interrupt("colour?")
        return {"name": name, "colour": colour}

    g = Graph("twice")
    g.add_node("ask", two_questions)
    g.add_edge("ask", END)
    compiled = g.compile()
    cp = MemoryCheckpointer()
    r = await Executor(compiled, checkpointer=cp).start({})
    r = await Executor(compiled, checkpointer=cp).resume(r.run_id, "Ada")
    assert r.status is RunStatus.INTERRUPTED
    loaded = await cp.load(r.run_id)
    assert loaded is not None
    assert loaded.interrupt["payload"] == "colour?"
    r = await Executor(compiled, checkpointer=cp).resume(r.run_id, "green")
    assert r.status is RunStatus.COMPLETED
    assert r.state == {"name": "Ada", "colour": "green"}


@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
async def test_interrupt_before_and_after_pause_around_a_node(durability: str) -> None:
    ran: list[str] = []

    def node(name: str) -> Any:
        def run(state: dict[str, Any]) -> dict[str, Any]:
            ran.append(name)
            return {name: state.get("edited", 0) + 1}

        return run

    g = Graph("gates")
    g.add_node("a", node("a"))
    g.add_node("review", node("review"), interrupt_before=True)
    g.add_node("publish", node("publish"), interrupt_after=True)
    g.add_node("z", node("z"))
    _chain(g, "a", "review", "publish", "z")
    compiled = g.compile()
    cp = MemoryCheckpointer()

    def executor() -> Executor:
        return Executor(compiled, checkpointer=cp, durability=durability)  # type: ignore[arg-type]

    r = await executor().start({})
    assert (r.status, r.pending, ran) == (RunStatus.INTERRUPTED, ["review"], ["a"])
    r = await executor().resume(r.run_id, {"edited": 10})  # a state patch
    assert (r.status, r.pending, ran) == (RunStatus.INTERRUPTED, ["z"], ["a", "review", "publish"])
    assert r.state["review"] == 11
    r = await executor().resume(r.run_id)
    assert r.status is RunStatus.COMPLETED
    assert ran == ["a", "review", "publish", "z"]
    assert r.state == {"a": 1, "edited": 10, "review": 11, "publish": 11, "z": 11}
    loaded = await cp.load(r.run_id)
    assert loaded is not None
    assert loaded.state == r.state


async def test_resuming_a_gate_with_a_non_object_is_refused_clearly() -> None:
    g = Graph("gate")
    g.add_node("a", tool="noop", interrupt_before=True)
    g.add_edge("a", END)
    cp = MemoryCheckpointer()
    r = await Executor(g.compile(), checkpointer=cp).start({})
    with pytest.raises(StateError, match="JSON object"):
        await Executor(g.compile(), checkpointer=cp).resume(r.run_id, 42)


async def test_a_failing_sibling_wins_over_an_interrupt_in_the_same_wave() -> None:
    def asks(state: dict[str, Any], ctx: NodeContext) -> None:
        ctx.interrupt("?")

    g = Graph("wave")
    g.add_node("start", tool="noop")
    g.add_node("asks", asks)
    g.add_node("breaks", tool="fail", args={"message": "boom"})
    g.add_edge("start", "asks").add_edge("start", "breaks")
    g.add_edge("asks", END).add_edge("breaks", END)
    r = await g.compile().ainvoke({})
    assert r.status is RunStatus.FAILED
    assert r.error is not None
    assert r.error["message"] == "boom"


async def test_a_non_json_update_fails_the_run_cleanly_and_keeps_the_log_gap_free() -> None:
    g = Graph("bad")
    g.add_node("ok", tool="set", args={"a": 1})
    g.add_node("bad", lambda s: {"b": {1, 2}})
    _chain(g, "ok", "bad")
    cp, sink = MemoryCheckpointer(), MemoryEventSink()
    r = await Executor(g.compile(), checkpointer=cp, sink=sink).start({})
    assert r.status is RunStatus.FAILED
    assert r.error is not None
    assert "not JSON" in r.error["message"]
    stored = cp.events[r.run_id]
    assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
    assert stored[-1].type.value == "run_failed"
    loaded = await cp.load(r.run_id)
    assert loaded is not None
    assert loaded.state == {"a": 1}  # the unstorable step left no trace


async def test_a_non_json_input_is_refused_before_the_run_starts() -> None:
    g = Graph("input")
    g.add_node("a", tool="noop")
    g.add_edge("a", END)
    with pytest.raises(StateError, match="not JSON"):
        await Executor(g.compile(), checkpointer=MemoryCheckpointer()).start({"x": object()})


async def test_every_failed_node_of_a_wave_gets_its_node_failed_event() -> None:
    g = Graph("two_fail")
    g.add_node("start", tool="noop")
    g.add_node("x", tool="fail", args={"message": "x broke"})
    g.add_node("y", tool="fail", args={"message": "y broke"})
    g.add_edge("start", "x").add_edge("start", "y")
    g.add_edge("x", END).add_edge("y", END)
    sink = MemoryEventSink()
    r = await Executor(g.compile(), sink=sink).start({})
    assert r.status is RunStatus.FAILED
    assert r.error is not None
    assert r.error["node"] == "x"  # the first in declaration order decides
    failed = {e.node: e.data["message"] for e in sink.events if e.type.value == "node_failed"}
    assert failed == {"x": "x broke", "y": "y broke"}


async def test_invoke_inside_a_running_loop_says_to_await_ainvoke() -> None:
    g = Graph("g")
    g.add_node("a", tool="noop")
    g.add_edge("a", END)
    with pytest.raises(RuntimeError, match="ainvoke"):
        g.compile().invoke({})


async def test_an_answer_survives_a_crash_in_the_step_it_resumed() -> None:
    charged: list[int] = []
    entered = asyncio.Event()

    async def ask(state: dict[str, Any], ctx: NodeContext) -> dict[str, Any]:
        ctx.once("charge", lambda: charged.append(1))
        answer = ctx.interrupt("approve?")
        entered.set()
        await asyncio.sleep(float(state.get("linger", 0)))
        return {"answer": answer}

    g = Graph("crash")
    g.add_node("ask", ask)
    g.add_edge("ask", END)
    compiled = g.compile()
    cp = MemoryCheckpointer()
    paused = await Executor(compiled, checkpointer=cp).start({"linger": 30})
    assert paused.status is RunStatus.INTERRUPTED

    # Answer, then the process dies while the resumed step runs (no cancel() call: the
    # task is simply torn down, as at shutdown).
    task = asyncio.ensure_future(Executor(compiled, checkpointer=cp).resume(paused.run_id, "yes"))
    await asyncio.wait_for(entered.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    loaded = await cp.load(paused.run_id)
    assert loaded is not None
    assert loaded.status is RunStatus.RUNNING
    assert loaded.interrupt["answer"] == "yes"

    # Recovery resumes without input: the stored answer is used, effects not repeated.
    cp.rows[paused.run_id][0].snapshot = {"linger": 0}  # let the retry finish quickly
    done = await Executor(compiled, checkpointer=cp).resume(paused.run_id)
    assert done.status is RunStatus.COMPLETED
    assert done.state["answer"] == "yes"
    assert charged == [1]
    assert (await cp.load(paused.run_id)).interrupt is None  # type: ignore[union-attr]
