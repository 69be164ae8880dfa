"""graphrun's engine against LangGraph on the same workloads, in one process.

(a) a loop graph of 2,000 steps: one counter node looping through a conditional edge,
    no persistence (graphrun inline node vs LangGraph's sync ``invoke``);
(b) 1,000 concurrent runs of a 5-node async chain (both ``ainvoke`` under asyncio.gather);
(c) a 5-way fan-out with a join, repeated (graphrun inline nodes vs LangGraph ``invoke``).

Run: ``./dev bench`` or ``.venv/bin/python benchmarks/engine_vs_langgraph.py``
(needs the ``bench`` extra for LangGraph). Each figure is the best of ``--repeat`` rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import operator
import time
from collections.abc import Callable
from itertools import pairwise
from typing import Annotated, Any, TypedDict

from graphrun import END, Branch, Graph

LOOP_STEPS = 2_000
CONCURRENT_RUNS = 1_000
CHAIN_LENGTH = 5
FANOUT = 5
FANOUT_RUNS = 500


def best_of(repeat: int, fn: Callable[[], float]) -> float:
    """The fastest of ``repeat`` timings (seconds), each after a GC."""
    times = []
    for _ in range(repeat):
        gc.collect()
        times.append(fn())
    return min(times)


# -- graphrun ------------------------------------------------------------------------


def gr_loop() -> float:
    g = Graph("loop", max_steps=LOOP_STEPS + 10)
    g.add_node("inc", lambda s: {"n": s["n"] + 1}, inline=True)
    g.add_conditional_edges("inc", [Branch("inc", f"n < {LOOP_STEPS}"), Branch(END)])
    compiled = g.compile()
    t0 = time.perf_counter()
    result = compiled.invoke({"n": 0})
    elapsed = time.perf_counter() - t0
    assert result.state["n"] == LOOP_STEPS and result.step == LOOP_STEPS, result
    return elapsed


async def _inc_x(state: dict[str, Any]) -> dict[str, Any]:
    return {"x": state["x"] + 1}


def gr_concurrent() -> float:
    g = Graph("chain")
    names = [f"n{i}" for i in range(CHAIN_LENGTH)]
    for name in names:
        g.add_node(name, _inc_x)
    for a, b in pairwise(names):
        g.add_edge(a, b)
    g.add_edge(names[-1], END)
    compiled = g.compile()

    async def main() -> float:
        t0 = time.perf_counter()
        results = await asyncio.gather(
            *(compiled.ainvoke({"x": 0}) for _ in range(CONCURRENT_RUNS))
        )
        elapsed = time.perf_counter() - t0
        assert all(r.state["x"] == CHAIN_LENGTH for r in results)
        return elapsed

    return asyncio.run(main())


def gr_fanout() -> float:
    g = Graph("fanout", reducers={"results": "append"})
    g.add_node("start", lambda s: None, inline=True)
    for i in range(FANOUT):
        g.add_node(f"w{i}", lambda s, i=i: {"results": [i]}, inline=True)
        g.add_edge("start", f"w{i}")
        g.add_edge(f"w{i}", "join")
    g.add_node("join", lambda s: {"total": sum(s["results"])}, inline=True)
    g.add_edge("join", END)
    compiled = g.compile()

    async def main() -> float:
        t0 = time.perf_counter()
        for _ in range(FANOUT_RUNS):
            r = await compiled.ainvoke({"results": []})
            assert r.state["total"] == sum(range(FANOUT)), r
        return time.perf_counter() - t0

    return asyncio.run(main())


# -- LangGraph -----------------------------------------------------------------------


class LoopState(TypedDict):
    n: int


class ChainState(TypedDict):
    x: int


class FanState(TypedDict, total=False):
    results: Annotated[list[int], operator.add]
    total: int


def lg_loop() -> float:
    from langgraph.graph import END as LG_END
    from langgraph.graph import START, StateGraph

    g = StateGraph(LoopState)
    g.add_node("inc", lambda s: {"n": s["n"] + 1})
    g.add_edge(START, "inc")
    g.add_conditional_edges("inc", lambda s: "inc" if s["n"] < LOOP_STEPS else LG_END)
    app = g.compile()
    t0 = time.perf_counter()
    out = app.invoke({"n": 0}, {"recursion_limit": LOOP_STEPS + 10})
    elapsed = time.perf_counter() - t0
    assert out["n"] == LOOP_STEPS
    return elapsed


def lg_concurrent() -> float:
    from langgraph.graph import END as LG_END
    from langgraph.graph import START, StateGraph

    g = StateGraph(ChainState)
    names = [f"n{i}" for i in range(CHAIN_LENGTH)]
    for name in names:
        g.add_node(name, _inc_x)
    g.add_edge(START, names[0])
    for a, b in pairwise(names):
        g.add_edge(a, b)
    g.add_edge(names[-1], LG_END)
    app = g.compile()

    async def main() -> float:
        t0 = time.perf_counter()
        outs = await asyncio.gather(*(app.ainvoke({"x": 0}) for _ in range(CONCURRENT_RUNS)))
        elapsed = time.perf_counter() - t0
        assert all(o["x"] == CHAIN_LENGTH for o in outs)
        return elapsed

    return asyncio.run(main())


def lg_fanout() -> float:
    from langgraph.graph import END as LG_END
    from langgraph.graph import START, StateGraph

    g = StateGraph(FanState)
    g.add_node("start", lambda s: {})
    g.add_edge(START, "start")
    for i in range(FANOUT):
        g.add_node(f"w{i}", lambda s, i=i: {"results": [i]})
        g.add_edge("start", f"w{i}")
    g.add_node("join", lambda s: {"total": sum(s["results"])})
    g.add_edge([f"w{i}" for i in range(FANOUT)], "join")
    g.add_edge("join", LG_END)
    app = g.compile()
    t0 = time.perf_counter()
    for _ in range(FANOUT_RUNS):
        out = app.invoke({"results": []})
        assert out["total"] == sum(range(FANOUT))
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = []

    gr, lg = best_of(args.repeat, gr_loop), best_of(args.repeat, lg_loop)
    rows.append(
        (
            "(a) loop, 2,000 steps",
            "steps/s",
            LOOP_STEPS / gr,
            LOOP_STEPS / lg,
            f"{gr / LOOP_STEPS * 1e6:.1f} µs vs {lg / LOOP_STEPS * 1e6:.1f} µs a step",
        )
    )
    gr, lg = best_of(args.repeat, gr_concurrent), best_of(args.repeat, lg_concurrent)
    rows.append(
        (
            "(b) 1,000 concurrent 5-node async chains",
            "runs/s",
            CONCURRENT_RUNS / gr,
            CONCURRENT_RUNS / lg,
            f"{gr * 1e3:.0f} ms vs {lg * 1e3:.0f} ms in all",
        )
    )
    gr, lg = best_of(args.repeat, gr_fanout), best_of(args.repeat, lg_fanout)
    rows.append(
        (
            "(c) 5-way fan-out + join, repeated",
            "runs/s",
            FANOUT_RUNS / gr,
            FANOUT_RUNS / lg,
            f"{gr / FANOUT_RUNS * 1e6:.0f} µs vs {lg / FANOUT_RUNS * 1e6:.0f} µs a run",
        )
    )

    print(f"{'workload':44} {'unit':8} {'graphrun':>12} {'LangGraph':>12} {'ratio':>8}  detail")
    for name, unit, a, b, detail in rows:
        print(f"{name:44} {unit:8} {a:12,.0f} {b:12,.0f} {a / b:7.1f}x  {detail}")


if __name__ == "__main__":
    main()
