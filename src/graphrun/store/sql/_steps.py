"""The SQL of the step path: one run-row update, one checkpoint insert, the events.

Hand-built from the table definitions (not compiled per call) because it runs for every
step of every run. The run-row ``UPDATE`` carries the fencing rules of ``_fencing`` in its
``WHERE`` clause, so a refused record changes no row and the store can roll it back:

- the run exists, and its last event seq is the one before the record's first event;
- a record that only confirms ``running`` leaves the status column (indexed) alone;
- a checkpoint with only a delta directly follows the previous checkpoint, and one with a
  snapshot comes after it; the ``(run_id, step)`` key then refuses a second checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from graphrun.store._codec import PreparedStep
from graphrun.store._rows import CHECKPOINT_COLUMNS, EVENT_COLUMNS
from graphrun.store.sql.tables import checkpoints, events, runs

Placeholder = Callable[[int], str]
"""The text of the i-th parameter (from 1): ``?`` for sqlite3, ``$i`` for asyncpg."""


def qmark(_: int) -> str:
    return "?"


def dollar(i: int) -> str:
    return f"${i}"


def _insert(table: str, columns: tuple[str, ...], ph: Placeholder) -> str:
    marks = ", ".join(ph(i + 1) for i in range(len(columns)))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


if (
    tuple(c.name for c in checkpoints.c) != CHECKPOINT_COLUMNS
    or tuple(c.name for c in events.c) != EVENT_COLUMNS
):  # pragma: no cover - caught by any test run
    raise RuntimeError("CHECKPOINT_COLUMNS/EVENT_COLUMNS do not match the tables")


@dataclass(slots=True)
class StepGroup:
    """Consecutive records of one run in a batch, written as one: a single fenced update of
    the run row (the first record's fence, the values after the last record) and the rows
    of all of them. ``first_checkpoint`` carries the checkpoint fence."""

    run_id: str
    steps: list[PreparedStep]
    first_checkpoint: PreparedStep | None
    last_seq: int | None
    last_step: int | None


def group_by_run(steps: Sequence[PreparedStep]) -> list[StepGroup] | None:
    """Group a batch by run, checking each run's records follow one another as the fence
    would; ``None`` when one of them could only be judged by the database."""
    groups: dict[str, StepGroup] = {}
    for p in steps:
        g = groups.get(p.run_id)
        if g is None:
            groups[p.run_id] = StepGroup(
                p.run_id,
                [p],
                p if p.checkpoint else None,
                p.last_seq if p.events else None,
                p.step if p.checkpoint else None,
            )
            continue
        if p.events:
            if g.last_seq is None or p.first_seq != g.last_seq + 1:
                return None
            g.last_seq = p.last_seq
        if p.checkpoint:
            if g.last_step is None:
                if g.first_checkpoint is None:
                    g.first_checkpoint = p
            elif p.step <= g.last_step or (p.snapshot is None and p.step != g.last_step + 1):
                return None
            g.last_step = p.step
        g.steps.append(p)
    return list(groups.values())


class StepSql:
    """The step path's statements for one placeholder style."""

    def __init__(self, ph: Placeholder) -> None:
        self._ph = ph
        self.insert_checkpoint = _insert(checkpoints.name, CHECKPOINT_COLUMNS, ph)
        self.insert_event = _insert(events.name, EVENT_COLUMNS, ph)
        self._inserts: dict[tuple[str, int], str] = {}
        self._updates: dict[tuple[Any, ...], str] = {}

    def insert_rows(self, table: str, columns: tuple[str, ...], count: int) -> str:
        """One ``INSERT`` of ``count`` rows (one statement instead of ``count``)."""
        sql = self._inserts.get((table, count))
        if sql is None:
            n = len(columns)
            rows = ", ".join(
                "(" + ", ".join(self._ph(r * n + i + 1) for i in range(n)) + ")"
                for r in range(count)
            )
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES {rows}"
            if len(self._inserts) < 256:
                self._inserts[(table, count)] = sql
        return sql

    def run_update(self, p: PreparedStep) -> tuple[str, list[Any]]:
        """The fenced ``UPDATE runs`` for ``p`` and its parameters."""
        return self.group_update(StepGroup(p.run_id, [p], p if p.checkpoint else None, None, None))

    def group_update(self, g: StepGroup) -> tuple[str, list[Any]]:
        """The fenced ``UPDATE runs`` for a group: the values after its last record,
        checked against what its first record (and first checkpoint) must follow."""
        values: dict[str, Any] = {}
        for p in g.steps:
            values.update(p.run_assignments())
        first, cp = g.steps[0], g.first_checkpoint
        params = [*values.values(), g.run_id]
        if first.events:
            params.append(first.first_seq - 1)
        if cp is not None:
            params.append(cp.step - 1 if cp.snapshot is None else cp.step)
        key = (tuple(values), bool(first.events), cp is not None, cp is None or cp.snapshot is None)
        sql = self._updates.get(key)
        if sql is None:
            sql = self._build_update(key)
            if len(self._updates) < 256:
                self._updates[key] = sql
        return sql, params

    def _build_update(self, key: tuple[Any, ...]) -> str:
        columns, has_events, checkpoint, delta_only = key
        ph = self._ph
        n = 0

        def mark() -> str:
            nonlocal n
            n += 1
            return ph(n)

        sets = ", ".join(f"{col} = {mark()}" for col in columns)
        where = [f"run_id = {mark()}"]
        if has_events:
            where.append(f"last_seq = {mark()}")
        if checkpoint:
            if delta_only:
                where.append(f"checkpoint_step = {mark()}")
            else:
                where.append(f"(checkpoint_step IS NULL OR checkpoint_step < {mark()})")
        return f"UPDATE {runs.name} SET {sets} WHERE {' AND '.join(where)}"
