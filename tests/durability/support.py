"""Helpers for the crash-recovery tests: a `graphrun serve` subprocess that can be killed,
the recorded graph, its uninterrupted reference, and the checks that compare what a run
recorded with what its nodes actually executed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from graphrun.bus.memory import InProcessBus
from graphrun.engine import spec
from graphrun.runtime.graphs import GraphCache
from graphrun.runtime.manager import ManagerLimits, RunManager
from graphrun.store.base import RunRecord
from graphrun.store.sql.sqlite import SqliteStore
from tests.api.support import FINAL, free_port
from tests.durability.recording_tools import EXECUTION_LOG_ENV

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL_MODULE = "tests.durability.recording_tools"
SERVE = (sys.executable, "-m", "graphrun", "serve")


def recorded_spec(pause: float) -> dict[str, Any]:
    """A loop of ``work`` steps (``loops`` of them, from the state), then a fan-out to two
    parallel nodes joined by a third: every node is ``recorded_step``."""

    def node(key: str, **rest: Any) -> dict[str, Any]:
        return {"tool": "recorded_step", "args": {"key": key, "pause": pause}, **rest}

    return {
        "name": "recorded",
        "max_steps": 500,
        "reducers": {"trail": "append", "total": "add"},
        "nodes": {
            "work": node("count", next=[{"when": "count < loops", "to": "work"}, {"to": "fan"}]),
            "fan": node("fanned", next=["left", "right"]),
            "left": node("left"),
            "right": node("right"),
            "join": node("joined", next="END"),
        },
        "edges": [{"from": ["left", "right"], "to": "join"}],
    }


def initial_state(i: int, loops: int) -> dict[str, Any]:
    return {"seed": i, "loops": loops, "count": 0, "total": 0}


async def reference_run(
    spec_data: Mapping[str, Any], states: list[dict[str, Any]], log_path: Path
) -> list[dict[str, Any]]:
    """The final states of uninterrupted in-process runs of the graph, run concurrently,
    their executions recorded to ``log_path``."""
    compiled = spec.load(dict(spec_data)).compile()
    previous = os.environ.get(EXECUTION_LOG_ENV)
    os.environ[EXECUTION_LOG_ENV] = str(log_path)
    try:
        results = await asyncio.gather(*(compiled.ainvoke(dict(s)) for s in states))
    finally:
        if previous is None:
            del os.environ[EXECUTION_LOG_ENV]
        else:
            os.environ[EXECUTION_LOG_ENV] = previous
    for r in results:
        assert r.status.value == "completed", (r.status, r.error)
    return [dict(r.state) for r in results]


def reference_states(
    spec_data: Mapping[str, Any], states: list[dict[str, Any]], log_path: Path
) -> list[dict[str, Any]]:
    """:func:`reference_run` from synchronous code."""
    return asyncio.run(reference_run(spec_data, states, log_path))


# -- the server subprocess ----------------------------------------------------------------


class ServerProcess:
    """`graphrun serve` on a SQLite file, started from the repository root so that the
    recording tools import; each :meth:`start` picks a fresh free port."""

    def __init__(self, tmp: Path, db: Path, execution_log: Path, **settings: Any) -> None:
        self.tmp = tmp
        self.db = db
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
            "GRAPHRUN_TOOL_MODULES": f'["{TOOL_MODULE}"]',
            "GRAPHRUN_LOG_FILE": str(tmp / "server-log.json"),
            "GRAPHRUN_REGISTER_EXAMPLES": "false",
            EXECUTION_LOG_ENV: str(execution_log),
        }
        self.env.pop("GRAPHRUN_DATABASE_URL", None)
        for name, value in settings.items():
            self.env[f"GRAPHRUN_{name.upper()}"] = str(value)
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 30.0) -> httpx.Client:
        """Start the server, wait until it answers, return a client for it."""
        self.port = free_port()
        self.starts += 1
        out = open(self.tmp / f"server-{self.starts}.out", "wb")  # noqa: SIM115 - the child owns it
        try:
            self.proc = subprocess.Popen(
                [*SERVE, "--port", str(self.port), "--db", str(self.db)],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        finally:
            out.close()
        client = httpx.Client(base_url=self.url, timeout=10)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if client.get("/health").status_code == 200:
                    return client
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited at start-up:\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the server did not come up in {timeout}s:\n{self.output()}")
            time.sleep(0.05)

    def output(self) -> str:
        return (self.tmp / f"server-{self.starts}.out").read_text(errors="replace")[-4000:]

    def kill(self) -> int:
        """SIGKILL the server (no clean-up of any kind runs); return its pid."""
        assert self.proc is not None
        pid = self.proc.pid
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        return pid

    def stop(self) -> None:
        """Stop the server cleanly if it is running."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def create_graph(client: httpx.Client, spec_data: Mapping[str, Any]) -> str:
    r = client.post("/graph/create", json=dict(spec_data))
    assert r.status_code == 201, r.text
    graph_id: str = r.json()["graph_id"]
    return graph_id


def start_run(client: httpx.Client, graph_id: str, state: Mapping[str, Any]) -> str:
    r = client.post("/graph/run", json={"graph_id": graph_id, "initial_state": dict(state)})
    assert r.status_code == 202, r.text
    run_id: str = r.json()["run_id"]
    return run_id


def statuses(client: httpx.Client, run_ids: Iterable[str]) -> dict[str, str]:
    wanted = set(run_ids)
    r = client.get("/runs", params={"limit": 500})
    assert r.status_code == 200, r.text
    return {item["run_id"]: item["status"] for item in r.json()["runs"] if item["run_id"] in wanted}


def wait_all_final(client: httpx.Client, run_ids: list[str], deadline: float) -> dict[str, str]:
    """Poll until every run has a final status; fail listing those that did not by
    ``deadline`` (a ``time.monotonic()`` value)."""
    while True:
        found = statuses(client, run_ids)
        unfinished = {r: s for r, s in found.items() if s not in FINAL}
        missing = [r for r in run_ids if r not in found]
        if not unfinished and not missing:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{len(unfinished)} run(s) did not finish: {sorted(unfinished.items())}"
                + (f"; missing: {missing}" if missing else "")
            )
        time.sleep(0.1)


@dataclass(slots=True)
class RunHistory:
    """What the service recorded for one run."""

    run_id: str
    status: str
    state: dict[str, Any]
    events: list[dict[str, Any]]
    checkpoints: list[dict[str, Any]]


def fetch_history(client: httpx.Client, run_id: str) -> RunHistory:
    view = client.get(f"/graph/state/{run_id}")
    assert view.status_code == 200, view.text
    events = client.get(f"/runs/{run_id}/events")
    assert events.status_code == 200, events.text
    cps = client.get(f"/runs/{run_id}/checkpoints")
    assert cps.status_code == 200, cps.text
    return RunHistory(
        run_id=run_id,
        status=view.json()["status"],
        state=view.json()["state"],
        events=events.json()["events"],
        checkpoints=cps.json()["checkpoints"],
    )


# -- checks -------------------------------------------------------------------------------

TERMINAL = {"run_completed", "run_failed", "run_cancelled", "run_stopped"}


def event_problems(h: RunHistory, terminal: str = "run_completed") -> list[str]:
    """Seqs are 1..N without a gap or duplicate; exactly one terminal event, the last one,
    of type ``terminal``."""
    out: list[str] = []
    seqs = [e["seq"] for e in h.events]
    if seqs != list(range(1, len(seqs) + 1)):
        dupes = [s for s, n in Counter(seqs).items() if n > 1]
        out.append(f"{h.run_id}: event seqs are not 1..{len(seqs)} (duplicates {dupes})")
    ends = [e for e in h.events if e["type"] in TERMINAL]
    if len(ends) != 1 or ends[0]["type"] != terminal or h.events[-1] is not ends[0]:
        out.append(f"{h.run_id}: terminal events {[e['type'] for e in ends]}, want [{terminal}]")
    return out


def checkpoint_problems(h: RunHistory) -> list[str]:
    """Each step is checkpointed exactly once, steps 0..N in order, and each node of a
    step has exactly one node_completed event."""
    out: list[str] = []
    steps = [c["step"] for c in h.checkpoints]
    if steps != list(range(len(steps))):
        out.append(f"{h.run_id}: checkpoint steps {steps} are not 0..{len(steps) - 1}")
    completed = Counter((e["node"], e["step"]) for e in h.events if e["type"] == "node_completed")
    expected = Counter((n, c["step"]) for c in h.checkpoints for n in c["nodes"])
    if completed != expected:
        out.append(
            f"{h.run_id}: node_completed events {sorted(completed.items())} do not match "
            f"the checkpoints' nodes {sorted(expected.items())}"
        )
    return out


@dataclass(slots=True)
class ExecutionReport:
    """How a run's recorded steps relate to the executions in the execution log."""

    recorded: dict[tuple[str, int], str] = field(default_factory=dict)
    discarded: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def check_executions(
    h: RunHistory,
    lines: list[dict[str, Any]],
    killed_pids: set[int],
    *,
    once_per_process: bool = True,
    last_wins: bool = True,
) -> ExecutionReport:
    """Compare the run's recorded results with its executions (``lines`` of this run, in
    the order written).

    For every recorded (node, step) the execution whose id the step's ``log`` event
    carries must be in the log, have ended, and be the *last* execution of that
    (node, step): once a step's result is committed, the step never runs again. Every
    other execution was discarded and must have run in a process that was killed (or
    stopped executing the run: ``killed_pids`` may hold the test's own pid). Every
    execution must belong to a recorded (node, step). With ``once_per_process`` no
    process ran the same step twice.
    """
    rep = ExecutionReport()
    for e in h.events:
        if e["type"] == "log" and "exec" in e["data"]:
            key = (e["node"], e["step"])
            if key in rep.recorded:
                rep.problems.append(f"{h.run_id}: two log events recorded for {key}")
            rep.recorded[key] = e["data"]["exec"]
    starts: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    ended = {line["exec"] for line in lines if line["phase"] == "end"}
    for line in lines:
        if line["phase"] == "start":
            starts[(line["node"], line["step"])].append(line)
    checkpointed = {(n, c["step"]) for c in h.checkpoints for n in c["nodes"]}
    if set(rep.recorded) != checkpointed:
        rep.problems.append(
            f"{h.run_id}: log events for {sorted(rep.recorded)}, checkpoints for "
            f"{sorted(checkpointed)}"
        )
    for key, runs in starts.items():
        chosen = rep.recorded.get(key)
        if chosen is None:
            rep.problems.append(f"{h.run_id}: {key} executed but no result was recorded")
            continue
        ids = [line["exec"] for line in runs]
        if chosen not in ids:
            rep.problems.append(f"{h.run_id}: the recorded execution of {key} is not in the log")
            continue
        if chosen not in ended:
            rep.problems.append(f"{h.run_id}: the recorded execution of {key} never ended")
        if last_wins and ids[-1] != chosen:
            rep.problems.append(
                f"{h.run_id}: {key} ran again after the execution whose result was recorded"
            )
        per_process = Counter(line["pid"] for line in runs)
        twice = sorted(pid for pid, n in per_process.items() if n > 1)
        if twice and once_per_process:
            rep.problems.append(f"{h.run_id}: {key} executed more than once in pid(s) {twice}")
        for line in runs:
            if line["exec"] == chosen:
                continue
            rep.discarded.append(line)
            if line["pid"] not in killed_pids:
                rep.problems.append(
                    f"{h.run_id}: {key} executed a discarded time in pid {line['pid']}, "
                    "a process that was not killed"
                )
    for key in rep.recorded:
        if key not in starts:
            rep.problems.append(f"{h.run_id}: {key} was recorded but never executed")
    return rep


def step_order_problems(run_id: str, lines: list[dict[str, Any]]) -> list[str]:
    """With ``sync`` durability: once a step has started, no earlier step starts again
    (the earlier step's checkpoint committed before the next step began)."""
    highest = -1
    for line in lines:
        if line["phase"] != "start":
            continue
        if line["step"] < highest:
            return [
                f"{run_id}: step {line['step']} ({line['node']}) ran again after step "
                f"{highest} had started"
            ]
        highest = max(highest, line["step"])
    return []


def fail_on(problems: list[str], limit: int = 20) -> None:
    if problems:
        shown = "\n".join(problems[:limit])
        more = f"\n... and {len(problems) - limit} more" if len(problems) > limit else ""
        raise AssertionError(f"{len(problems)} problem(s):\n{shown}{more}")


# -- in-process managers ------------------------------------------------------------------


async def open_sqlite(path: Path) -> SqliteStore:
    store = SqliteStore(path)
    await store.open()
    return store


async def store_with_graph(path: Path, graph_id: str, pause: float) -> SqliteStore:
    """A SQLite store holding the recorded graph (pausing ``pause`` per node)."""
    store = await open_sqlite(path)
    spec_data = {**recorded_spec(pause), "graph_id": graph_id}
    await store.create_graph(graph_id, spec_data["name"], spec_data)
    return store


def make_manager(store: SqliteStore, **limits: Any) -> RunManager:
    """A run manager on ``store`` with its own bus and graph cache."""
    return RunManager(store, InProcessBus(), GraphCache(), ManagerLimits(**limits))


async def get_run(store: SqliteStore, run_id: str) -> RunRecord:
    """The stored run, which must exist."""
    run = await store.get_run(run_id)
    assert run is not None, f"run {run_id!r} is not in the store"
    return run


async def store_history(store: SqliteStore, run_id: str) -> RunHistory:
    """A run's history read from a store, in the shape the HTTP API gives it."""
    run = await store.get_run(run_id)
    assert run is not None
    events = [e.to_dict() for e in await store.list_events(run_id)]
    checkpoints = [
        {"step": c.step, "nodes": c.nodes, "status": c.status.value}
        for c in await store.list_checkpoints(run_id)
    ]
    return RunHistory(run_id, run.status.value, run.state or {}, events, checkpoints)


async def wait_for(predicate: Any, seconds: float, what: str) -> None:
    """Poll ``predicate()`` (sync or async) until true, or fail naming ``what``."""
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds}s waiting for {what}")
        await asyncio.sleep(0.01)
