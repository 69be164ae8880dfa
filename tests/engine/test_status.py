"""Run statuses."""

from __future__ import annotations

from graphrun.engine import RunStatus
from graphrun.engine.status import FINAL_STATUSES


def test_statuses_are_the_documented_ones() -> None:
    assert [s.value for s in RunStatus] == [
        "queued",
        "running",
        "interrupted",
        "completed",
        "failed",
        "cancelled",
        "stopped_max_iterations",
    ]


def test_final_statuses() -> None:
    final = {s for s in RunStatus if s.is_final}
    assert final == FINAL_STATUSES
    assert final == {
        RunStatus.COMPLETED,
        RunStatus.FAILED,
        RunStatus.CANCELLED,
        RunStatus.STOPPED_MAX_ITERATIONS,
    }
    assert not RunStatus.INTERRUPTED.is_final  # it waits for input, then goes on


def test_statuses_compare_as_strings() -> None:
    assert RunStatus("failed") is RunStatus.FAILED
    assert RunStatus.FAILED == "failed"
    assert f"{RunStatus.COMPLETED}" == "completed"
