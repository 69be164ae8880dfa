"""Bytes stored per step: checkpoints stay proportional to what a step changed.

Two runs on a fresh SQLite store, read back through the checkpoint history
(``size_bytes`` is what each checkpoint stored: its delta, plus the full state on snapshot
steps, as compact JSON):

- a loop graph whose state carries a 100 kB string it never changes, and a counter that
  each step increments;
- the code review graph on a small snippet.

The database file's growth is printed too (measured after closing the store, which folds the
write-ahead log into it; it includes events, indexes and SQLite's page overhead).

Run: ``.venv/bin/python benchmarks/checkpoint_bytes.py``
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
from pathlib import Path

from graphrun.agents.code_review import load_spec
from graphrun.engine import END, Branch, Executor, Graph, spec
from graphrun.store import open_store

STEPS = 200
BLOB = "x" * 100_000
SNIPPET = (
    "import os\nimport sys\n\ndef foo(a, b=[]):\n    print('debug')\n    x = 1\n    return a\n"
)


def report(name: str, sizes: list[int], snapshots: list[int], state_bytes: int) -> None:
    deltas = [s for s, snap in zip(sizes, snapshots, strict=True) if not snap]
    snaps = [s for s, snap in zip(sizes, snapshots, strict=True) if snap]
    print(
        f"{name:38} steps {len(sizes):4}  state {state_bytes:>8,} B  "
        f"delta checkpoint median {statistics.median(deltas) if deltas else 0:>6,.0f} B  "
        f"snapshots {len(snaps)} (median {statistics.median(snaps) if snaps else 0:,.0f} B)  "
        f"mean {statistics.mean(sizes):>8,.0f} B/step"
    )


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bytes.db"
        url = f"sqlite:///{db}"
        g = Graph("big_loop", max_steps=STEPS + 10)
        g.add_node("inc", tool="increment", args={"key": "n"})
        g.add_conditional_edges("inc", [Branch("inc", f"n < {STEPS}"), Branch(END)])

        store = await open_store(url)
        await store.create_graph("big_loop", "big_loop", spec.dump(g))
        await store.create_graph("code_review", "code_review", load_spec())
        await store.close()  # closing folds the write-ahead log into the file
        baseline = db.stat().st_size

        store = await open_store(url)
        try:
            await store.create_run("loop-run", "big_loop", 1, {"n": 0, "blob": BLOB})
            await Executor(g.compile(), checkpointer=store, durability="sync").start(
                {"n": 0, "blob": BLOB}, run_id="loop-run", after_seq=1
            )
            infos = await store.list_checkpoints("loop-run")
            report(
                "loop graph, 100 kB state, 1 key/step",
                [c.size_bytes for c in infos[1:]],
                [c.has_snapshot for c in infos[1:]],
                infos[-1].state_bytes,
            )
        finally:
            await store.close()
        grown = db.stat().st_size - baseline
        print(
            f"{'':38} the database file grew {grown:,} B: {grown / STEPS:,.0f} B/step "
            "with events, indexes and the input"
        )

        store = await open_store(url)
        try:
            review = spec.load(load_spec()).compile()
            await store.create_run("review-run", "code_review", 1, {"code": SNIPPET})
            result = await Executor(review, checkpointer=store, durability="sync").start(
                {"code": SNIPPET}, run_id="review-run", after_seq=1
            )
            infos = await store.list_checkpoints("review-run")
            report(
                f"code review graph ({result.status.value})",
                [c.size_bytes for c in infos[1:]],
                [c.has_snapshot for c in infos[1:]],
                infos[-1].state_bytes,
            )
        finally:
            await store.close()


if __name__ == "__main__":
    asyncio.run(main())
