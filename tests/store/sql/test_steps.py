"""Grouping a batch of step records by run, as the SQLite writer writes them."""

from __future__ import annotations

import time

from graphrun.engine import Event, EventType, RunStatus, StepRecord
from graphrun.store._codec import PreparedStep, prepare
from graphrun.store.sql._steps import StepSql, group_by_run, qmark


def _step(
    run_id: str, step: int, seq: int, *, snapshot: bool = False, kind: str = "checkpoint"
) -> PreparedStep:
    return prepare(
        StepRecord(
            run_id=run_id,
            step=step,
            kind=kind,  # type: ignore[arg-type]
            status=RunStatus.RUNNING,
            events=[Event(seq, EventType.LOG, run_id, None, step, {}, time.time())],
            delta={"n": step},
            snapshot={"n": step} if snapshot else None,
        )
    )


def test_records_that_follow_one_another_make_one_group_per_run() -> None:
    steps = [_step("a", 1, 5), _step("b", 3, 2), _step("a", 2, 6), _step("a", 3, 7, kind="events")]
    groups = group_by_run(steps)
    assert groups is not None
    assert [(g.run_id, [p.step for p in g.steps]) for g in groups] == [
        ("a", [1, 2, 3]),
        ("b", [3]),
    ]
    first_checkpoint = groups[0].first_checkpoint
    assert first_checkpoint is not None
    assert first_checkpoint.step == 1


def test_records_that_do_not_follow_leave_the_batch_to_the_database() -> None:
    assert group_by_run([_step("a", 1, 5), _step("a", 2, 7)]) is None  # a gap in the events
    assert group_by_run([_step("a", 1, 5), _step("a", 3, 6)]) is None  # a step skipped
    assert group_by_run([_step("a", 1, 5), _step("a", 1, 6)]) is None  # a step twice
    assert group_by_run([_step("a", 1, 5), _step("a", 4, 6, snapshot=True)]) is not None


def test_a_group_updates_the_run_row_once_with_the_first_fence_and_the_last_values() -> None:
    groups = group_by_run([_step("a", 1, 5), _step("a", 2, 6)])
    assert groups is not None
    sql, params = StepSql(qmark).group_update(groups[0])
    assert sql.startswith("UPDATE runs SET step = ?")
    assert sql.endswith("WHERE run_id = ? AND last_seq = ? AND checkpoint_step = ?")
    assert params[0] == 2  # the step after the last record
    assert params[-3:] == ["a", 4, 0]  # the first record's fence: seq 4, checkpoint 0
