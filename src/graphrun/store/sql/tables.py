"""The SQL schema, shared by SQLite and Postgres (SQLAlchemy Core).

JSON values are stored as compact JSON text: both dialects store it the same way, and the
bytes a checkpoint writes are exactly the bytes counted in ``size_bytes``. Times are seconds
since the epoch (floats), like :attr:`graphrun.engine.Event.ts`.

The step path keeps its writes small: checkpoints and events are clustered on their keys
(``WITHOUT ROWID`` on SQLite), so an insert touches one page, and the run row it updates
holds no large value and changes no indexed column (``status`` is written only when it
changes).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

graphs = sa.Table(
    "graphs",
    metadata,
    sa.Column("graph_id", sa.String, primary_key=True),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),  # the latest version
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("deleted_at", sa.Float, nullable=True),
)

graph_versions = sa.Table(
    "graph_versions",
    metadata,
    sa.Column("graph_id", sa.String, sa.ForeignKey("graphs.graph_id"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sqlite_with_rowid=False,
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String, primary_key=True),
    sa.Column("graph_id", sa.String, nullable=False),
    sa.Column("graph_version", sa.Integer, nullable=False),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("pending", sa.Text, nullable=False),
    sa.Column("nodes", sa.Text, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("interrupt", sa.Text, nullable=True),
    sa.Column("last_seq", sa.Integer, nullable=False),
    # Newest checkpoint and newest snapshot: rebuilding the state reads from the snapshot on.
    sa.Column("checkpoint_step", sa.Integer, nullable=True),
    sa.Column("snapshot_step", sa.Integer, nullable=True),
    sa.Column("idempotency_key", sa.String, nullable=True),
    sa.Column("request_hash", sa.String, nullable=True),
    sa.Column("parent_run_id", sa.String, nullable=True),
    sa.Column("parent_step", sa.Integer, nullable=True),
    sa.Column("lease_owner", sa.String, nullable=True),
    sa.Column("lease_expires_at", sa.Float, nullable=True),
    sa.Column("recovery_attempts", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.ForeignKeyConstraint(
        ["graph_id", "graph_version"], ["graph_versions.graph_id", "graph_versions.version"]
    ),
    sa.Index("ix_runs_created", "created_at"),
    sa.Index("ix_runs_graph_created", "graph_id", "created_at"),
    sa.Index("ix_runs_status_created", "status", "created_at"),
    sa.Index("ix_runs_idempotency_key", "idempotency_key", unique=True),
    sa.Index("ix_runs_parent", "parent_run_id"),
)

# Kept apart from ``runs``: that row is rewritten at every step, and SQLite rewrites a row
# whole (a large input would make every step as costly as the input is big).
run_inputs = sa.Table(
    "run_inputs",
    metadata,
    sa.Column("run_id", sa.String, sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("input", sa.Text, nullable=False),
)

checkpoints = sa.Table(
    "checkpoints",
    metadata,
    sa.Column("run_id", sa.String, sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("step", sa.Integer, primary_key=True),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("nodes", sa.Text, nullable=False),
    sa.Column("delta", sa.Text, nullable=False),
    sa.Column("snapshot", sa.Text, nullable=True),
    sa.Column("pending", sa.Text, nullable=False),
    sa.Column("barriers", sa.Text, nullable=False),
    sa.Column("interrupt", sa.Text, nullable=True),
    sa.Column("size_bytes", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sqlite_with_rowid=False,
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("run_id", sa.String, sa.ForeignKey("runs.run_id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("type", sa.String, nullable=False),
    sa.Column("node", sa.String, nullable=True),
    sa.Column("step", sa.Integer, nullable=True),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sqlite_with_rowid=False,
)

__all__ = ["checkpoints", "events", "graph_versions", "graphs", "metadata", "run_inputs", "runs"]
