"""Initial schema: graphs, graph versions, runs, checkpoints, events.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "graphs",
        sa.Column("graph_id", sa.String, primary_key=True),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("deleted_at", sa.Float, nullable=True),
    )
    op.create_table(
        "graph_versions",
        sa.Column("graph_id", sa.String, sa.ForeignKey("graphs.graph_id"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "runs",
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
    )
    op.create_index("ix_runs_created", "runs", ["created_at"])
    op.create_index("ix_runs_graph_created", "runs", ["graph_id", "created_at"])
    op.create_index("ix_runs_status_created", "runs", ["status", "created_at"])
    op.create_index("ix_runs_idempotency_key", "runs", ["idempotency_key"], unique=True)
    op.create_index("ix_runs_parent", "runs", ["parent_run_id"])
    op.create_table(
        "run_inputs",
        sa.Column("run_id", sa.String, sa.ForeignKey("runs.run_id"), primary_key=True),
        sa.Column("input", sa.Text, nullable=False),
    )
    op.create_table(
        "checkpoints",
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
    op.create_table(
        "events",
        sa.Column("run_id", sa.String, sa.ForeignKey("runs.run_id"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("type", sa.String, nullable=False),
        sa.Column("node", sa.String, nullable=True),
        sa.Column("step", sa.Integer, nullable=True),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("checkpoints")
    op.drop_table("run_inputs")
    op.drop_index("ix_runs_parent", "runs")
    op.drop_index("ix_runs_idempotency_key", "runs")
    op.drop_index("ix_runs_status_created", "runs")
    op.drop_index("ix_runs_graph_created", "runs")
    op.drop_index("ix_runs_created", "runs")
    op.drop_table("runs")
    op.drop_table("graph_versions")
    op.drop_table("graphs")
