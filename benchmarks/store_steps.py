"""Microseconds per durable step: graphrun's stores under a loop graph.

The graph is one ``increment`` node looping through a conditional edge (as in the
``Graph`` docstring); every step is checkpointed. Figures:

- the engine alone: without a checkpointer, and with one that stores nothing (what the
  engine itself spends on recording a step), then the memory store;
- SQLite in ``sync`` durability (each step waits for its commit) and ``async``
  (write-behind), with commits on the event loop when the writer is idle (the default)
  and with every commit through the writer thread;
- many concurrent runs through one SQLite store (group commit), as durable steps/s;
- LangGraph with its SqliteSaver on the same loop, when it is installed (``bench`` extra).

Run: ``.venv/bin/python benchmarks/store_steps.py [--steps N] [--repeat R]``. Each figure
is the best of ``--repeat`` rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from graphrun.engine import (
    END,
    Branch,
    CompiledGraph,
    Executor,
    Graph,
    RunCheckpoint,
    StepRecord,
)
from graphrun.engine.executor import Durability
from graphrun.store import MemoryStore, Store
from graphrun.store.sql.sqlite import SqliteStore


class NothingStored:
    """A checkpointer that keeps nothing: the engine's own cost of a durable step."""

    def save(self, record: StepRecord) -> Awaitable[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def load(self, run_id: str) -> RunCheckpoint | None:
        return None


def loop_graph(steps: int) -> CompiledGraph:
    g = Graph("loop", max_steps=steps + 10)
    g.add_node("inc", tool="increment", args={"key": "n"})
    g.add_conditional_edges("inc", [Branch("inc", f"n < {steps}"), Branch(END)])
    return g.compile()


async def best_of(repeat: int, fn: Callable[[], Awaitable[float]]) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        times.append(await fn())
    return min(times)


async def one_run(
    store: Store | NothingStored | None, compiled: CompiledGraph, durability: Durability
) -> float:
    run_id = str(uuid.uuid4())
    after = 0
    if store is not None and not isinstance(store, NothingStored):
        await store.create_run(run_id, "loop", 1, {"n": 0})
        after = 1
    ex = Executor(compiled, checkpointer=store, durability=durability)
    started = time.perf_counter()
    result = await ex.start({"n": 0}, run_id=run_id, after_seq=after)
    elapsed = time.perf_counter() - started
    assert result.state["n"] == result.step, result
    return elapsed


async def many_runs(
    store: Store | NothingStored, compiled: CompiledGraph, durability: Durability, runs: int
) -> float:
    ids = [str(uuid.uuid4()) for _ in range(runs)]
    for run_id in ids:
        if not isinstance(store, NothingStored):
            await store.create_run(run_id, "loop", 1, {"n": 0})
    started = time.perf_counter()
    await asyncio.gather(
        *(
            Executor(compiled, checkpointer=store, durability=durability).start(
                {"n": 0}, run_id=run_id, after_seq=1
            )
            for run_id in ids
        )
    )
    return time.perf_counter() - started


async def with_store(make: Callable[[], Store], fn: Callable[[Store], Awaitable[float]]) -> float:
    store = make()
    await store.open()
    try:
        if await store.get_graph("loop") is None:
            await store.create_graph("loop", "loop", {"nodes": {"inc": {"tool": "increment"}}})
        return await fn(store)
    finally:
        await store.close()


def langgraph_per_step(steps: int, durability: str, path: Path) -> float | None:
    try:
        import sqlite3
        from typing import TypedDict

        from langgraph.checkpoint.sqlite import SqliteSaver
        from langgraph.graph import StateGraph
    except ImportError:
        return None

    class S(TypedDict):
        n: int

    sg: Any = StateGraph(S)
    sg.add_node("inc", lambda s: {"n": s["n"] + 1})
    sg.set_entry_point("inc")
    sg.add_conditional_edges("inc", lambda s: "inc" if s["n"] < steps else END)
    conn = sqlite3.connect(str(path), check_same_thread=False)
    app = sg.compile(checkpointer=SqliteSaver(conn))
    config = {"configurable": {"thread_id": str(uuid.uuid4())}, "recursion_limit": steps + 10}
    started = time.perf_counter()
    app.invoke({"n": 0}, config, durability=durability)
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed / steps


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--runs", type=int, default=100, help="concurrent runs")
    parser.add_argument("--run-steps", type=int, default=200, help="steps per concurrent run")
    args = parser.parse_args()
    steps, repeat = args.steps, args.repeat
    compiled = loop_graph(steps)
    tmp = Path(tempfile.mkdtemp(prefix="graphrun-bench-"))

    def us(seconds: float) -> str:
        return f"{seconds / steps * 1e6:8.1f} µs/step"

    base = await best_of(repeat, lambda: one_run(None, compiled, "async"))
    print(f"engine, no checkpointer              {us(base)}")
    for mode in ("sync", "async"):
        t = await best_of(repeat, lambda mode=mode: one_run(NothingStored(), compiled, mode))
        print(f"engine, nothing stored, {mode:5}        {us(t)}")
    for mode in ("sync", "async"):
        mem = MemoryStore()
        await mem.create_graph("loop", "loop", {})
        t = await best_of(repeat, lambda mode=mode, mem=mem: one_run(mem, compiled, mode))
        print(f"memory store, {mode:5}                  {us(t)}")
    for on_loop in (True, False):
        label = "commit on loop" if on_loop else "writer thread "
        for mode in ("sync", "async"):
            path = tmp / f"one-{on_loop}-{mode}.db"
            t = await with_store(
                lambda path=path, on_loop=on_loop: SqliteStore(path, commit_on_loop=on_loop),
                lambda s, mode=mode: best_of(repeat, lambda: one_run(s, compiled, mode)),
            )
            print(f"sqlite, {label}, {mode:5}        {us(t)}")
    runs, run_steps = args.runs, args.run_steps
    small = loop_graph(run_steps)
    for mode in ("sync", "async"):
        t = await best_of(repeat, lambda mode=mode: many_runs(NothingStored(), small, mode, runs))
        rate = runs * run_steps / t
        print(f"nothing stored, {runs} runs, {mode:5}       {rate:10,.0f} steps/s")
    for mode in ("sync", "async"):
        path = tmp / f"many-{mode}.db"
        t = await with_store(
            lambda path=path: SqliteStore(path),
            lambda s, mode=mode: best_of(repeat, lambda: many_runs(s, small, mode, runs)),
        )
        rate = runs * run_steps / t
        print(f"sqlite, {runs} concurrent runs, {mode:5}   {rate:10,.0f} durable steps/s")
    ours: dict[str, float] = {}
    for mode in ("sync", "async"):
        path = tmp / f"again-{mode}.db"
        ours[mode] = await with_store(
            lambda path=path: SqliteStore(path),
            lambda s, mode=mode: best_of(repeat, lambda: one_run(s, compiled, mode)),
        )
    for mode in ("sync", "async"):
        lg = langgraph_per_step(steps, mode, tmp / f"langgraph-{mode}.db")
        if lg is not None:
            print(f"langgraph SqliteSaver, {mode:5}         {lg * 1e6:8.1f} µs/step")
            ratio = lg * steps / ours[mode]
            print(
                f"  durable steps/s, {mode:5}: graphrun {steps / ours[mode]:9,.0f}  "
                f"LangGraph {1 / lg:7,.0f}  ratio {ratio:5.1f}x"
            )


if __name__ == "__main__":
    asyncio.run(main())
