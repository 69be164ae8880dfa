"""The rules a step record must follow to be written, and the error when it does not.

A record is refused, and nothing of it written, when the run does not exist, the step is
already checkpointed, its first event does not follow the run's last one, or a checkpoint
without a snapshot does not directly follow the previous checkpoint (its delta would not
rebuild the state). The memory store checks these rules up front; the SQL stores enforce
them in the run row's ``UPDATE ... WHERE`` and the primary keys, and call
:func:`step_conflict` only to explain a refusal.
"""

from __future__ import annotations

from graphrun.engine.errors import CheckpointConflictError
from graphrun.store._codec import PreparedStep
from graphrun.store._rows import Row
from graphrun.store.errors import RunNotFoundError, StoreError


def step_conflict(
    p: PreparedStep, run: Row | None, step_checkpointed: bool
) -> CheckpointConflictError | StoreError | None:
    """Why ``p`` cannot be written on top of ``run`` (its row, ``None`` if missing)."""
    if run is None:
        return RunNotFoundError(
            f"run {p.run_id!r} does not exist: create it (create_run) before saving its steps"
        )
    if p.checkpoint and step_checkpointed:
        return CheckpointConflictError(
            f"run {p.run_id!r} already has a checkpoint for step {p.step}"
        )
    last_seq = run["last_seq"]
    if p.events and p.first_seq != last_seq + 1:
        return CheckpointConflictError(
            f"run {p.run_id!r}: event seq {p.first_seq} does not follow {last_seq}"
        )
    if p.checkpoint:
        last_step = run["checkpoint_step"]
        if p.snapshot is None and last_step != p.step - 1:
            return CheckpointConflictError(
                f"run {p.run_id!r}: the checkpoint for step {p.step} has no snapshot and "
                f"does not follow the last checkpoint (step {last_step})"
            )
        if last_step is not None and last_step >= p.step:
            return CheckpointConflictError(
                f"run {p.run_id!r}: step {p.step} is not after the last checkpoint "
                f"(step {last_step})"
            )
    return None
