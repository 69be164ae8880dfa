"""Crash recovery with real kills.

`graphrun serve` runs as a subprocess on a SQLite file. The test starts 50 runs of a graph
whose every node records each execution in a file outside graphrun (see
``recording_tools``), SIGKILLs the server at random moments (a seeded ``random.Random``;
the seed is printed, and ``GRAPHRUN_TEST_KILL_SEED`` replays it) several times,
restarts it on the same file each time, and lets everything finish. Then:

- every run completed, and its final state equals an uninterrupted in-process run of the
  same graph on the same input;
- every step is checkpointed exactly once (steps 0..N) and each node of a step has
  exactly one ``node_completed`` event;
- each run's event seqs are 1..N with no gap or duplicate, and it has exactly one terminal
  event, ``run_completed``, the last one;
- node execution is at least once, recording exactly once: the execution whose result a
  step recorded (its id travels in the step's ``log`` event, committed with the
  checkpoint) is the last execution of that step, so *a step whose checkpoint committed
  never runs again*; every other execution ran in a process that was killed, and no
  process ran the same step of a run twice.

What may run again depends on the durability mode:

- ``sync``: a step waits for its commit before the next step starts, so only the step
  in flight at the kill runs again: per run and killed process, the discarded executions
  all belong to one step, and once a step has started no earlier step starts again.
- ``async`` (write-behind, the default): the last few checkpoints may not have been
  committed when the process died, so a few steps that had finished (and whose
  successors had started) may run again. The test asserts the weaker property: each
  re-executed step ran in a killed process, and per run and killed process only a few
  steps ran again.
"""

from __future__ import annotations

import os
import random
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.api.support import FINAL
from tests.durability.recording_tools import read_lines
from tests.durability.support import (
    ServerProcess,
    check_executions,
    checkpoint_problems,
    create_graph,
    event_problems,
    fail_on,
    fetch_history,
    initial_state,
    recorded_spec,
    reference_states,
    start_run,
    statuses,
    step_order_problems,
    wait_all_final,
)

RUNS = 50
KILLS = 4
PAUSE = 0.05  # seconds per node: most of a step is spent here, where kills land
LEASE_SECONDS = 1.0
CONCURRENCY = 8  # runs executing at once; the rest queue, so the work outlasts the kills
ASYNC_RERUN_LIMIT = 3  # steps of one run that one killed process may leave to run again


def kill_seed() -> int:
    given = os.environ.get("GRAPHRUN_TEST_KILL_SEED")
    return int(given) if given else random.SystemRandom().randrange(2**32)


@pytest.mark.slow
@pytest.mark.parametrize("durability", ["sync", "async"])
def test_runs_survive_repeated_sigkills(tmp_path: Path, durability: str) -> None:
    seed = kill_seed()
    # Every failure names the seed: GRAPHRUN_TEST_KILL_SEED=<seed> replays the schedule.
    where = f"[{durability}, kill schedule seed {seed}]"
    rng = random.Random(seed)
    began = time.monotonic()
    execution_log = tmp_path / "executions.jsonl"
    server = ServerProcess(
        tmp_path,
        tmp_path / "graphrun.db",
        execution_log,
        durability=durability,
        lease_seconds=LEASE_SECONDS,
        max_concurrent_runs=CONCURRENCY,
        # A kill may land before a recovered run records its next step: allow that for
        # every kill (progress resets the count).
        recovery_max_attempts=KILLS + 1,
    )
    spec_data = recorded_spec(PAUSE)
    states = [initial_state(i, loops=10 + (i * 7) % 10) for i in range(RUNS)]
    killed: list[int] = []
    unfinished_at_kill: list[int] = []
    try:
        client = server.start()
        graph_id = create_graph(client, spec_data)
        run_ids = [start_run(client, graph_id, s) for s in states]
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.2, 1.0))
            found = statuses(client, run_ids)
            unfinished_at_kill.append(sum(s not in FINAL for s in found.values()))
            client.close()
            killed.append(server.kill())
            client = server.start()
        try:
            wait_all_final(client, run_ids, began + 120)
        except AssertionError as exc:
            raise AssertionError(f"{where} {exc}") from None
        histories = [fetch_history(client, r) for r in run_ids]
        client.close()
    finally:
        server.stop()

    assert all(n > 0 for n in unfinished_at_kill), (
        f"{where} a kill landed after every run had ended (unfinished runs at each kill: "
        f"{unfinished_at_kill}); the workload is too small to test recovery"
    )
    not_completed = [(h.run_id, h.status, h.state) for h in histories if h.status != "completed"]
    assert not not_completed, f"{where} runs that did not complete: {not_completed}"

    reference_log = tmp_path / "reference.jsonl"
    expected = reference_states(spec_data, states, reference_log)
    per_ref_run: dict[str, list[Any]] = defaultdict(list)
    for line in read_lines(reference_log):
        if line["phase"] == "start":
            per_ref_run[line["run"]].append((line["node"], line["step"]))
    assert all(len(v) == len(set(v)) for v in per_ref_run.values())
    mismatched = [
        (h.run_id, h.state, want) for h, want in zip(histories, expected, strict=True)
        if h.state != want
    ]  # fmt: skip
    assert not mismatched, f"{where} {len(mismatched)} final state(s) differ: {mismatched[:3]}"

    lines_by_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in read_lines(execution_log):
        lines_by_run[line["run"]].append(line)
    assert set(lines_by_run) == set(run_ids)
    problems: list[str] = []
    discarded = 0
    for h in histories:
        problems += event_problems(h)
        problems += checkpoint_problems(h)
        lines = lines_by_run[h.run_id]
        report = check_executions(h, lines, set(killed))
        problems += report.problems
        discarded += len(report.discarded)
        steps_by_pid: dict[int, set[int]] = defaultdict(set)
        for line in report.discarded:
            steps_by_pid[line["pid"]].add(line["step"])
        if durability == "sync":
            problems += step_order_problems(h.run_id, lines)
            problems += [
                f"{h.run_id}: pid {pid} left steps {sorted(steps)} to run again; with sync "
                "durability only the step in flight may"
                for pid, steps in steps_by_pid.items()
                if len(steps) > 1
            ]
        else:
            problems += [
                f"{h.run_id}: pid {pid} left steps {sorted(steps)} to run again "
                f"(more than {ASYNC_RERUN_LIMIT})"
                for pid, steps in steps_by_pid.items()
                if len(steps) > ASYNC_RERUN_LIMIT
            ]
    fail_on([f"{where} {p}" for p in problems])
    # The kills landed mid-step: some executions were cut off and ran again.
    assert discarded > 0, f"{where} no execution was cut off by {KILLS} kills"
