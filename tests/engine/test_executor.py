"""The superstep executor: running nodes, waves, merging, routing, failures, guards."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import BaseModel

from graphrun.engine import (
    END,
    Branch,
    EventType,
    Executor,
    Graph,
    MemoryEventSink,
    NodeContext,
    RunStatus,
    StateError,
)


def put(key: str, value: Any) -> Any:
    def node(state: Mapping[str, Any]) -> dict[str, Any]:
        return {key: value}

    return node


def record(into: list[str], name: str) -> Any:
    async def node(state: Mapping[str, Any]) -> dict[str, Any]:
        into.append(name)
        return {name: True}

    return node


async def run(
    g: Graph, state: dict[str, Any] | None = None, *, run_id: str | None = None, **kwargs: Any
) -> Any:
    return await Executor(g.compile(), **kwargs).start(state or {}, run_id=run_id)


# -- running nodes ---------------------------------------------------------------------------


async def test_a_chain_runs_one_node_per_step() -> None:
    g = Graph("chain").add_node("a", put("a", 1)).add_node("b", put("b", 2))
    g.add_edge("a", "b").add_edge("b", END)
    result = await run(g, {"start": 0}, run_id="run-1")
    assert result.status is RunStatus.COMPLETED
    assert result.state == {"start": 0, "a": 1, "b": 2}
    assert (result.run_id, result.step, result.pending, result.error, result.message) == (
        "run-1",
        2,
        [],
        None,
        None,
    )


async def test_run_ids_are_generated() -> None:
    g = Graph().add_node("a", put("a", 1)).add_edge("a", END)
    one, two = await run(g), await run(g)
    assert one.run_id and two.run_id and one.run_id != two.run_id


async def test_the_input_state_is_not_modified() -> None:
    g = Graph().add_node("a", put("a", 1)).add_edge("a", END)
    given = {"x": 1}
    await run(g, given)
    assert given == {"x": 1}


async def test_sync_nodes_run_in_threads_async_and_inline_on_the_loop() -> None:
    where: dict[str, int] = {}

    def sync_node(state: Mapping[str, Any]) -> None:
        where["sync"] = threading.get_ident()

    def inline_node(state: Mapping[str, Any]) -> None:
        where["inline"] = threading.get_ident()

    async def async_node(state: Mapping[str, Any]) -> None:
        where["async"] = threading.get_ident()

    g = Graph().add_node("s", sync_node).add_node("i", inline_node, inline=True)
    g.add_node("a", async_node).add_edge("s", "i").add_edge("i", "a").add_edge("a", END)
    await run(g)
    loop_thread = threading.get_ident()
    assert where["sync"] != loop_thread
    assert where["inline"] == loop_thread
    assert where["async"] == loop_thread


async def test_nodes_get_ctx_when_they_ask_for_it() -> None:
    seen: list[NodeContext] = []

    def with_ctx(state: Mapping[str, Any], ctx: NodeContext) -> dict[str, Any]:
        seen.append(ctx)
        ctx.log("working", level="debug", item=3)
        return {"done": ctx.node}

    async def async_ctx(state: Mapping[str, Any], ctx: NodeContext) -> None:
        seen.append(ctx)

    g = Graph("ctxgraph").add_node("first", put("x", 1)).add_node("second", with_ctx)
    g.add_node("third", async_ctx).add_edge("first", "second").add_edge("second", "third")
    g.add_edge("third", END)
    sink = MemoryEventSink()
    result = await run(g, run_id="r-ctx", sink=sink)
    assert result.state["done"] == "second"
    second, third = seen
    assert (second.run_id, second.graph, second.step, second.node, second.attempt) == (
        "r-ctx",
        "ctxgraph",
        2,
        "second",
        1,
    )
    assert (third.step, third.node) == (3, "third")
    assert second.tools is g.tools
    (log,) = [e for e in sink.events if e.type is EventType.LOG]
    assert (log.node, log.step, log.data) == (
        "second",
        2,
        {"message": "working", "level": "debug", "item": 3},
    )


async def test_nodes_get_a_copy_of_the_state() -> None:
    def mutate(state: dict[str, Any]) -> None:
        state["sneaky"] = True

    g = Graph().add_node("m", mutate).add_node("check", put("ok", 1))
    g.add_edge("m", "check").add_edge("check", END)
    result = await run(g, {"x": 1})
    assert "sneaky" not in result.state


async def test_a_node_returning_none_changes_nothing() -> None:
    g = Graph().add_node("n", lambda s: None).add_edge("n", END)
    assert (await run(g, {"a": 1})).state == {"a": 1}


# -- waves: fan-out, fan-in, joins ------------------------------------------------------------


async def test_fan_out_runs_the_wave_concurrently() -> None:
    async def nap(state: Mapping[str, Any]) -> None:
        await asyncio.sleep(0.1)

    def blocking_nap(state: Mapping[str, Any]) -> None:
        time.sleep(0.1)

    g = Graph().add_node("start", put("s", 1))
    for name, fn in [("a1", nap), ("a2", nap), ("t1", blocking_nap), ("t2", blocking_nap)]:
        g.add_node(name, fn).add_edge("start", name).add_edge(name, END)
    started = time.perf_counter()
    result = await run(g)
    elapsed = time.perf_counter() - started
    assert result.status is RunStatus.COMPLETED and result.step == 2
    assert elapsed < 0.3, f"four 0.1 s nodes of one wave took {elapsed:.2f} s"


async def test_a_wave_sees_one_snapshot() -> None:
    seen: dict[str, Any] = {}

    def left(state: Mapping[str, Any]) -> dict[str, Any]:
        seen["left"] = dict(state)
        return {"left": 1}

    def right(state: Mapping[str, Any]) -> dict[str, Any]:
        seen["right"] = dict(state)
        return {"right": 1}

    g = Graph().add_node("s", put("s", 1)).add_node("left", left).add_node("right", right)
    g.add_edge("s", "left").add_edge("s", "right").add_edge("left", END).add_edge("right", END)
    result = await run(g)
    assert seen == {"left": {"s": 1}, "right": {"s": 1}}
    assert result.state == {"s": 1, "left": 1, "right": 1}


async def test_fan_in_of_one_wave_runs_the_target_once() -> None:
    order: list[str] = []
    g = Graph().add_node("a", record(order, "a")).add_node("b", record(order, "b"))
    g.add_node("c", record(order, "c")).add_node("d", record(order, "d"))
    g.add_edge("a", "b").add_edge("a", "c").add_edge("b", "d").add_edge("c", "d")
    g.add_edge("d", END)
    result = await run(g)
    assert order[0] == "a" and sorted(order[1:3]) == ["b", "c"] and order[3:] == ["d"]
    assert result.step == 3


async def test_a_join_waits_for_every_source_across_waves() -> None:
    order: list[str] = []
    g = Graph().add_node("a", record(order, "a")).add_node("short", record(order, "short"))
    g.add_node("long1", record(order, "long1")).add_node("long2", record(order, "long2"))
    g.add_node("join", record(order, "join"))
    g.add_edge("a", "short").add_edge("a", "long1").add_edge("long1", "long2")
    g.add_edge(["short", "long2"], "join").add_edge("join", END)
    result = await run(g)
    assert order.count("join") == 1
    assert order.index("join") > order.index("long2")
    assert result.step == 4
    assert result.state["join"] is True


async def test_a_join_resets_for_the_next_loop() -> None:
    runs: list[int] = []

    def join(state: Mapping[str, Any]) -> dict[str, Any]:
        runs.append(state["round"])
        return {"round": state["round"] + 1}

    g = Graph().add_node("split", lambda s: None).add_node("x", lambda s: None)
    g.add_node("y", lambda s: None).add_node("join", join)
    g.add_edge("split", "x").add_edge("split", "y").add_edge(["x", "y"], "join")
    g.add_conditional_edges("join", [Branch("split", "round < 3"), Branch(END)])
    result = await run(g, {"round": 0})
    assert runs == [0, 1, 2]
    assert result.state["round"] == 3


async def test_parallel_updates_merge_through_reducers_in_declaration_order() -> None:
    g = Graph(reducers={"log": "append", "total": "add", "meta": "merge"})
    g.add_node("start", put("log", ["start"]))

    # declared z before a: the merge order follows declaration, not names or timing
    async def z(state: Mapping[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0.02)
        return {"log": "z", "total": 1, "meta": {"who": "z", "z": 1}}

    def a(state: Mapping[str, Any]) -> dict[str, Any]:
        return {"log": ["a1", "a2"], "total": 10, "meta": {"who": "a"}}

    g.add_node("z", z).add_node("a", a)
    g.add_edge("start", "a").add_edge("start", "z").add_edge("z", END).add_edge("a", END)
    result = await run(g, {"total": 100})
    assert result.state == {
        "log": ["start", "z", "a1", "a2"],
        "total": 111,
        "meta": {"who": "a", "z": 1},
    }


async def test_conflicting_parallel_writes_fail_the_run_naming_both_nodes() -> None:
    g = Graph().add_node("s", put("k", 0)).add_node("left", put("k", 1))
    g.add_node("right", put("k", 2))
    g.add_edge("s", "left").add_edge("s", "right").add_edge("left", END).add_edge("right", END)
    result = await run(g)
    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error["type"] == "StateError"
    assert "nodes 'left' and 'right' both wrote state key 'k'" in result.error["message"]
    assert result.message == result.error["message"]
    assert result.state == {"k": 0}, "the failed step's updates are not applied"


# -- routing ------------------------------------------------------------------------------------


async def test_conditional_loop_until_a_condition_holds() -> None:
    g = Graph().add_node("inc", tool="increment", args={"key": "n"})
    g.add_node("done", put("finished", True))
    g.add_conditional_edges("inc", [Branch("inc", "n < 5"), Branch("done")])
    g.add_edge("done", END)
    result = await run(g, {"n": 0})
    assert result.state == {"n": 5, "finished": True}
    assert result.step == 6


async def test_edges_see_the_merged_state_of_the_step() -> None:
    g = Graph().add_node("a", put("go", "right")).add_node("left", put("took", "left"))
    g.add_node("right", put("took", "right"))
    g.add_conditional_edges("a", [Branch("left", "go == 'left'"), Branch("right")])
    g.add_edge("left", END).add_edge("right", END)
    assert (await run(g, {"go": "left"})).state["took"] == "right"


async def test_a_router_may_fan_out() -> None:
    order: list[str] = []
    g = Graph().add_node("r", lambda s: None).add_node("x", record(order, "x"))
    g.add_node("y", record(order, "y")).add_node("z", record(order, "z"))
    g.add_conditional_edges("r", lambda s: ["y", "x"], targets=["x", "y", "z"])
    for n in "xyz":
        g.add_edge(n, END)
    result = await run(g)
    assert sorted(order) == ["x", "y"]
    assert result.step == 2


async def test_a_missing_key_in_a_condition_fails_naming_key_and_edge() -> None:
    g = Graph().add_node("a", put("x", 1)).add_node("b", put("y", 1))
    g.add_conditional_edges("a", [Branch("b", "score > 0.5"), Branch(END)])
    g.add_edge("b", END)
    result = await run(g)
    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error["type"] == "ConditionError"
    assert "edge a -> b" in result.error["message"]
    assert "'score'" in result.error["message"]


async def test_a_router_choosing_an_unknown_node_fails_the_run() -> None:
    g = Graph().add_node("a", lambda s: None)
    g.add_conditional_edges("a", lambda s: "ghost")
    result = await run(g)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "router of node 'a' chose unknown node 'ghost'" in result.error["message"]


async def test_a_router_that_raises_fails_the_run() -> None:
    g = Graph().add_node("a", lambda s: None)
    g.add_conditional_edges("a", lambda s: s["missing"])
    result = await run(g)
    assert result.status is RunStatus.FAILED
    assert result.error is not None and "missing" in result.error["message"]


# -- failures -----------------------------------------------------------------------------------


async def test_a_node_exception_fails_the_run_with_type_message_and_traceback() -> None:
    def explode(state: Mapping[str, Any]) -> None:
        raise ValueError("bad input 42")

    g = Graph().add_node("ok", put("ok", 1)).add_node("explode", explode)
    g.add_node("never", put("never", 1))
    g.add_edge("ok", "explode").add_edge("explode", "never").add_edge("never", END)
    result = await run(g)
    assert result.status is RunStatus.FAILED
    assert result.step == 2
    assert result.pending == ["explode"]
    assert result.state == {"ok": 1}
    err = result.error
    assert err is not None
    assert (err["node"], err["type"], err["message"], err["attempts"]) == (
        "explode",
        "ValueError",
        "bad input 42",
        1,
    )
    assert "Traceback" in err["traceback"] and "explode" in err["traceback"]
    assert "bad input 42" in err["traceback"]
    assert result.message == "node 'explode' failed: ValueError: bad input 42"


async def test_one_failing_node_fails_the_whole_wave() -> None:
    def bad(state: Mapping[str, Any]) -> None:
        raise RuntimeError("nope")

    g = Graph().add_node("s", put("s", 1)).add_node("good", put("good", 1))
    g.add_node("bad", bad)
    g.add_edge("s", "good").add_edge("s", "bad").add_edge("good", END).add_edge("bad", END)
    result = await run(g)
    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error["node"] == "bad"
    assert "good" not in result.state
    assert result.pending == ["good", "bad"]


@pytest.mark.parametrize("bad", [42, "text", [1, 2]])
async def test_a_node_returning_a_non_dict_fails_naming_it(bad: Any) -> None:
    g = Graph().add_node("weird", lambda s: bad).add_edge("weird", END)
    result = await run(g)
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error["type"] == "StateError"
    assert f"node 'weird' returned {type(bad).__name__}" in result.error["message"]


async def test_async_and_inline_failures_fail_the_run_too() -> None:
    async def async_bad(state: Mapping[str, Any]) -> None:
        raise KeyError("k")

    for kwargs in ({"fn": async_bad}, {"fn": lambda s: 1 / 0, "inline": True}):
        g = Graph().add_node("bad", **kwargs).add_edge("bad", END)  # type: ignore[arg-type]
        result = await run(g)
        assert result.status is RunStatus.FAILED
        assert result.error is not None and result.error["node"] == "bad"


# -- guards ----------------------------------------------------------------------------------------


async def test_max_steps_stops_an_endless_loop_with_a_message() -> None:
    g = Graph(max_steps=5).add_node("spin", tool="increment", args={"key": "n"})
    g.add_edge("spin", "spin")
    result = await run(g, {"n": 0})
    assert result.status is RunStatus.STOPPED_MAX_ITERATIONS
    assert result.step == 5
    assert result.state == {"n": 5}
    assert result.pending == ["spin"]
    assert result.message is not None
    assert "max_steps is 5" in result.message and "spin" in result.message


async def test_the_default_max_steps_is_100() -> None:
    g = Graph().add_node("spin", tool="increment", args={"key": "n"}).add_edge("spin", "spin")
    result = await run(g, {"n": 0})
    assert result.status is RunStatus.STOPPED_MAX_ITERATIONS
    assert result.step == 100 and result.state["n"] == 100


async def test_a_run_finishing_at_max_steps_completes() -> None:
    g = Graph(max_steps=3).add_node("inc", tool="increment", args={"key": "n"})
    g.add_conditional_edges("inc", [Branch("inc", "n < 3"), Branch(END)])
    result = await run(g, {"n": 0})
    assert result.status is RunStatus.COMPLETED and result.step == 3


# -- state schema ---------------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {"n": {"type": "integer", "maximum": 3}},
    "required": ["n"],
}


class Counter(BaseModel):
    n: int


async def test_the_input_is_validated() -> None:
    g = Graph(state_schema=SCHEMA).add_node("a", lambda s: None).add_edge("a", END)
    with pytest.raises(StateError, match="state after the input breaks the state schema: n"):
        await run(g, {"n": "three"})
    with pytest.raises(StateError, match="'n' is a required property"):
        await run(g, {})


@pytest.mark.parametrize("schema", [SCHEMA, Counter], ids=["json-schema", "pydantic"])
async def test_every_update_is_validated(schema: Any) -> None:
    g = Graph(state_schema=schema).add_node("inc", tool="increment", args={"key": "n"})
    g.add_node("bad", put("n", "many"))
    g.add_conditional_edges("inc", [Branch("inc", "n < 3"), Branch("bad")])
    g.add_edge("bad", END)
    result = await run(g, {"n": 0})
    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error["type"] == "StateError"
    assert "state after step 4 (bad) breaks the state schema: n" in result.error["message"]


async def test_an_update_rejected_by_the_schema_is_not_applied() -> None:
    g = Graph(state_schema=SCHEMA).add_node("bad", put("n", "many")).add_edge("bad", END)
    result = await run(g, {"n": 1})
    assert result.status is RunStatus.FAILED
    assert result.state == {"n": 1}
