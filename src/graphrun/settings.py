"""Every setting of the service, read from ``GRAPHRUN_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """graphrun's settings. Each field is ``GRAPHRUN_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="GRAPHRUN_", env_file=".env", extra="ignore")

    database_url: str = Field(
        "sqlite+aiosqlite:///./graphrun.db",
        description="Where graphs, runs, checkpoints and events live. SQLite "
        "(sqlite:///path or sqlite+aiosqlite:///path) or PostgreSQL (postgresql://...).",
    )
    host: str = Field("127.0.0.1", description="Address `graphrun serve` binds to.")
    port: int = Field(8000, ge=0, le=65535, description="Port `graphrun serve` listens on.")
    max_concurrent_runs: int = Field(
        64, ge=1, description="Runs executing at once in this process; the rest wait queued."
    )
    durability: Literal["sync", "async", "exit"] = Field(
        "async",
        description="sync: each step waits for its commit; async: write-behind (a crash "
        "may re-run the last few steps); exit: write when the run stops.",
    )
    snapshot_every: int = Field(
        20, ge=1, description="A full state snapshot every N steps (deltas in between)."
    )
    max_body_bytes: int = Field(1_000_000, ge=1024, description="Largest request body accepted.")
    max_state_bytes: int = Field(
        500_000, ge=1024, description="Largest initial state (as JSON) a run may start with."
    )
    max_graph_nodes: int = Field(200, ge=1, description="Most nodes a graph spec may have.")
    max_steps_limit: int = Field(
        10_000, ge=1, description="Highest max_steps a graph spec may ask for."
    )
    subscriber_buffer: int = Field(
        1_000,
        ge=1,
        description="Events buffered per WebSocket subscriber; a subscriber that falls this "
        "far behind is closed and may reconnect with ?after=<last seq>.",
    )
    wait_timeout: float = Field(
        60.0, gt=0, description="Longest a `?wait=true` run request waits for the run to end."
    )
    lease_seconds: float = Field(
        30.0, gt=0, description="How long a run's lease lasts without a heartbeat."
    )
    recovery_max_attempts: int = Field(
        3, ge=1, description="Recoveries after which a run that keeps dying is marked failed."
    )
    retention_days: float | None = Field(
        None, gt=0, description="Prune finished runs older than this many days (off if unset)."
    )
    log_file: Path | None = Field(
        Path("logs.json"), description="JSON-lines log file (rotated); empty for none."
    )
    log_max_bytes: int = Field(1_000_000, ge=1024, description="Rotate the log file at this size.")
    log_backups: int = Field(5, ge=0, description="Rotated log files kept.")
    log_level: str = Field("INFO", description="Lowest level logged.")
    tool_modules: list[str] = Field(
        default_factory=list,
        description="Python modules imported at start-up so that their @tool and @condition "
        'functions register (JSON list, e.g. ["myapp.tools"]); packages can also use the '
        "graphrun.tools entry point.",
    )
    register_examples: bool = Field(
        True, description="Register the code review graph as `code_review` at start-up."
    )

    @field_validator("log_file", mode="before")
    @classmethod
    def _empty_means_no_file(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def database_kind(self) -> str:
        """``sqlite`` or ``postgresql``: the URL's scheme without its driver."""
        return self.database_url.split(":", 1)[0].split("+", 1)[0]
