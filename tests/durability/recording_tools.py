"""Tools that record every execution outside the engine, for the crash-recovery tests.

A server loads them with ``GRAPHRUN_TOOL_MODULES='["tests.durability.recording_tools"]'``
(run from the repository root so that ``tests`` imports). Each execution of
``recorded_step`` appends two JSON lines to the file named by the environment variable
``GRAPHRUN_TEST_EXECUTION_LOG``: ``phase: "start"`` before it does its work and
``phase: "end"`` after, both carrying the run, node, step, attempt, the server's pid and an
execution id. The execution id also goes into the run's own event log through
``ctx.log``, in the same transaction as the step's checkpoint, so a test can tell which
execution's result was recorded.

Each line is one ``write`` to a file opened with ``O_APPEND``: once ``write`` returns, the
line is in the kernel and survives a SIGKILL of the process (the tests kill processes, not
machines, so no ``fsync`` is needed; it would stall the event loop on a real disk).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from graphrun.engine.context import NodeContext
from graphrun.engine.tools import tool

EXECUTION_LOG_ENV = "GRAPHRUN_TEST_EXECUTION_LOG"


def append_line(path: str | Path, entry: dict[str, Any]) -> None:
    """Append ``entry`` as one JSON line with a single ``write`` (atomic with O_APPEND)."""
    data = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def read_lines(path: str | Path) -> list[dict[str, Any]]:
    """Every line of an execution log, in the order written (a missing file is empty)."""
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


def _record(ctx: NodeContext, phase: str, exec_id: str) -> None:
    path = os.environ.get(EXECUTION_LOG_ENV)
    if not path:
        raise RuntimeError(
            f"set {EXECUTION_LOG_ENV} to the file that records executions of recorded_step"
        )
    append_line(
        path,
        {
            "run": ctx.run_id,
            "node": ctx.node,
            "step": ctx.step,
            "attempt": ctx.attempt,
            "exec": exec_id,
            "pid": os.getpid(),
            "phase": phase,
            "t": time.time(),
        },
    )


@tool("recorded_step")
async def recorded_step(
    state: dict[str, Any], ctx: NodeContext, key: str = "count", pause: float = 0.05
) -> dict[str, Any]:
    """Record this execution, pause (so a kill can land mid-step), record its end and
    return a deterministic update: ``key`` counts up, ``trail`` gets ``node@step``
    appended and ``total`` gets ``step * (seed + 1)`` added."""
    exec_id = uuid.uuid4().hex
    _record(ctx, "start", exec_id)
    ctx.log("executed", exec=exec_id, pid=os.getpid())
    await asyncio.sleep(pause)
    _record(ctx, "end", exec_id)
    return {
        key: int(state.get(key, 0)) + 1,
        "trail": [f"{ctx.node}@{ctx.step}"],
        "total": ctx.step * (int(state.get("seed", 0)) + 1),
    }
