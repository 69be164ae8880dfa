"""The store protocol: everything graphrun keeps about graphs and runs.

A store is the engine's :class:`~graphrun.engine.Checkpointer` (``save`` a step's record,
``load`` a run to resume it) plus graphs (versioned), runs, the event log, checkpoint
history (time travel), leases and retention. Every backend (memory, SQLite, Postgres)
passes the same conformance suite.

Conventions: ``get_*`` and ``find_*`` return ``None`` for what does not exist; methods that
change a missing thing raise :class:`~graphrun.store.errors.NotFoundError`. Times are
timezone-aware UTC datetimes; a naive datetime passed in is taken as UTC.
"""

from __future__ import annotations

from collections.abc import Awaitable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from graphrun.engine.checkpoint import RunCheckpoint, StepRecord
from graphrun.engine.events import Event, EventType
from graphrun.engine.state import State
from graphrun.engine.status import RunStatus

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class GraphRecord:
    """One version of a stored graph. ``created_at`` is when the graph was first created,
    ``updated_at`` when this version was made."""

    graph_id: str
    name: str
    version: int
    spec: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    deleted: bool = False


@dataclass(slots=True)
class RunRecord:
    """A run as stored.

    ``state`` is the current state (the input until the first checkpoint); listings leave
    it ``None`` unless asked for. ``step`` is the last step recorded (checkpointed, or the
    step a run stopped in); ``pending`` the nodes due next; ``nodes`` those of the last
    checkpointed step; ``interrupt`` what an interrupted run waits for.
    """

    run_id: str
    graph_id: str
    graph_version: int
    status: RunStatus
    input: State
    state: State | None
    step: int
    pending: list[str]
    nodes: list[str]
    error: dict[str, Any] | None
    last_seq: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    interrupt: Any = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    parent_run_id: str | None = None
    parent_step: int | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    recovery_attempts: int = 0


@dataclass(frozen=True, slots=True)
class CheckpointInfo:
    """One checkpoint as the history view lists it.

    ``size_bytes`` is what the checkpoint stored (delta, plus the snapshot if it has one);
    ``state_bytes`` the size of the full state after that step, both as compact JSON.
    """

    step: int
    status: RunStatus
    nodes: list[str]
    delta: State
    pending: list[str]
    has_snapshot: bool
    size_bytes: int
    state_bytes: int
    created_at: datetime
    interrupt: Any = None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing and the number of items in the whole listing."""

    items: list[T]
    total: int


@dataclass(frozen=True, slots=True)
class StatusChange:
    """What :meth:`Store.set_status` did: ``status`` is the run's status afterwards and
    ``event`` the event it appended (already durable, ready to publish)."""

    changed: bool
    status: RunStatus
    event: Event | None = None


class Store(Protocol):
    """Persistence for graphs, runs, checkpoints and events (see the module docstring)."""

    # -- lifecycle ----------------------------------------------------------------------

    async def open(self) -> None:
        """Connect and bring the schema up to date. Call once before anything else."""
        ...

    async def close(self) -> None:
        """Commit what ``save`` accepted, then release connections and threads."""
        ...

    async def migrate(self) -> None:
        """Apply pending schema migrations (``open`` does it; safe to call again)."""
        ...

    # -- the engine's Checkpointer --------------------------------------------------------

    def save(self, record: StepRecord) -> Awaitable[None]:
        """Queue one step's record (checkpoint, events, run row) for one transaction.

        Everything needed is copied before returning; a record that is not JSON raises
        ``TypeError`` (``StateNotSerializableError``) right here and writes nothing. The
        awaitable completes once the record is durable. It fails, writing nothing of the
        record, with ``CheckpointConflictError`` if the step is already checkpointed, the
        events do not follow the run's last stored event, or a checkpoint without a
        snapshot does not follow the last checkpoint; with ``RunNotFoundError`` if the run
        was never created. Each record is judged against what is stored, and records of
        one run are committed in the order ``save`` was called.
        """
        ...

    async def load(self, run_id: str) -> RunCheckpoint | None:
        """The run after its last checkpoint (what resuming needs); ``None`` if none."""
        ...

    # -- graphs -------------------------------------------------------------------------

    async def create_graph(self, graph_id: str, name: str, spec: Mapping[str, Any]) -> GraphRecord:
        """Store version 1 of a new graph (raises ``GraphExistsError`` if the id is live;
        a deleted id is revived with the next version number)."""
        ...

    async def update_graph(
        self, graph_id: str, spec: Mapping[str, Any], *, name: str | None = None
    ) -> GraphRecord:
        """Store a new version; runs keep the version they were created on."""
        ...

    async def get_graph(self, graph_id: str, version: int | None = None) -> GraphRecord | None:
        """The latest version (``None`` if missing or deleted), or the given version (also
        of a deleted graph, so pinned runs keep working)."""
        ...

    async def list_graphs(self, *, limit: int | None = None, offset: int = 0) -> Page[GraphRecord]:
        """Live graphs at their latest version, newest first."""
        ...

    async def list_graph_versions(self, graph_id: str) -> list[GraphRecord]:
        """Every version of a graph, oldest first (empty if the graph never existed)."""
        ...

    async def delete_graph(self, graph_id: str) -> bool:
        """Soft-delete a graph: it disappears from listings and takes no new runs; its
        versions stay readable. ``False`` if there was no live graph with that id."""
        ...

    # -- runs ---------------------------------------------------------------------------

    async def create_run(
        self,
        run_id: str,
        graph_id: str,
        graph_version: int,
        input: State,
        *,
        idempotency_key: str | None = None,
        request_hash: str | None = None,
        parent_run_id: str | None = None,
        parent_step: int | None = None,
    ) -> RunRecord:
        """Create a queued run and its ``run_queued`` event (seq 1) in one transaction.

        With an idempotency key already used: the same ``request_hash`` returns the
        existing run (compare its ``run_id``), another raises
        ``IdempotencyConflictError``. The graph version must exist and the graph must not
        be deleted.
        """
        ...

    async def get_run(self, run_id: str) -> RunRecord | None:
        """The run with its current state."""
        ...

    async def list_runs(
        self,
        *,
        graph_id: str | None = None,
        status: RunStatus | Collection[RunStatus] | None = None,
        limit: int = 50,
        offset: int = 0,
        with_state: bool = False,
    ) -> Page[RunRecord]:
        """Runs newest first, filtered by graph and status, with the total count."""
        ...

    async def set_status(
        self,
        run_id: str,
        status: RunStatus,
        *,
        error: Mapping[str, Any] | None = None,
        only_from: Collection[RunStatus] | None = None,
        event: EventType | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> StatusChange:
        """Set a run's status and error (``None`` clears it) outside the executor, e.g. to
        cancel a queued run, if its current status is in ``only_from`` (any, when
        ``None``); with ``event``, append that event (with ``data``) in the same
        transaction."""
        ...

    async def find_run_by_idempotency_key(self, key: str) -> RunRecord | None:
        """The run created with this idempotency key."""
        ...

    # -- events and history ---------------------------------------------------------------

    async def list_events(
        self, run_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        """The run's events with ``seq > after_seq``, in order."""
        ...

    async def list_checkpoints(self, run_id: str) -> list[CheckpointInfo]:
        """Every checkpoint of the run, in step order."""
        ...

    async def checkpoint_at(self, run_id: str, step: int) -> RunCheckpoint | None:
        """The run as it stood after the newest checkpoint at or before ``step``."""
        ...

    async def state_at(self, run_id: str, step: int) -> State:
        """The full state after ``step`` (raises ``NotFoundError`` if nothing was
        checkpointed at or before it)."""
        ...

    # -- leases -------------------------------------------------------------------------

    async def acquire_lease(
        self, run_id: str, owner: str, seconds: float, *, now: datetime | None = None
    ) -> bool:
        """Take the run's lease if it is free, expired, or already ``owner``'s."""
        ...

    async def renew_lease(
        self, run_id: str, owner: str, seconds: float, *, now: datetime | None = None
    ) -> bool:
        """Extend ``owner``'s lease; ``False`` if someone else holds it now."""
        ...

    async def release_lease(self, run_id: str, owner: str) -> bool:
        """Give up ``owner``'s lease; ``False`` if it was not theirs."""
        ...

    async def expired_runs(
        self, *, now: datetime | None = None, limit: int = 100, include_unleased: bool = False
    ) -> list[RunRecord]:
        """Unfinished (queued or running) runs whose lease has expired, oldest first; with
        ``include_unleased`` also those that never had a lease. States are not loaded."""
        ...

    async def add_recovery_attempt(self, run_id: str) -> int:
        """Count one more recovery attempt for the run and return the new count."""
        ...

    # -- retention ----------------------------------------------------------------------

    async def prune(self, older_than: datetime) -> int:
        """Delete finished runs that finished before ``older_than``, with their
        checkpoints and events; returns how many runs were deleted."""
        ...


__all__ = [
    "CheckpointInfo",
    "GraphRecord",
    "Page",
    "RunRecord",
    "StatusChange",
    "Store",
]
