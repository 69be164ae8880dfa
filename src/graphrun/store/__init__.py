"""Persistence: graphs, runs, checkpoints and events behind one async protocol.

``await open_store(url)`` returns an open store for a database URL (see
:mod:`graphrun.store.sql.url`): SQLite (the default, a file in the working directory),
Postgres, or memory. Every store is also the engine's checkpointer:
``Executor(compiled, checkpointer=store)``.
"""

from __future__ import annotations

import os

from graphrun.store.base import (
    CheckpointInfo,
    GraphRecord,
    Page,
    RunRecord,
    StatusChange,
    Store,
)
from graphrun.store.errors import (
    DatabaseUrlError,
    GraphExistsError,
    GraphNotFoundError,
    IdempotencyConflictError,
    NotFoundError,
    RunExistsError,
    RunNotFoundError,
    StateNotSerializableError,
    StoreClosedError,
    StoreError,
)
from graphrun.store.memory import MemoryStore
from graphrun.store.sql.url import DEFAULT_DATABASE_URL, DatabaseUrl, parse_database_url

URL_ENV = "GRAPHRUN_DATABASE_URL"


def database_url_from_env() -> str:
    """``GRAPHRUN_DATABASE_URL``, or the default SQLite file in the working directory."""
    return os.environ.get(URL_ENV) or DEFAULT_DATABASE_URL


def create_store(url: str | None = None) -> Store:
    """A store for ``url`` (default: :func:`database_url_from_env`), not yet open."""
    parsed = parse_database_url(url if url is not None else database_url_from_env())
    if parsed.backend == "memory":
        return MemoryStore()
    if parsed.backend == "sqlite":
        from graphrun.store.sql.sqlite import SqliteStore

        assert parsed.path is not None
        return SqliteStore(parsed.path)
    from graphrun.store.sql.postgres import PostgresStore

    assert parsed.dsn is not None
    return PostgresStore(parsed.dsn, schema=parsed.schema)


async def open_store(url: str | None = None) -> Store:
    """A store for ``url``, opened: connected and migrated."""
    store = create_store(url)
    await store.open()
    return store


__all__ = [
    "DEFAULT_DATABASE_URL",
    "URL_ENV",
    "CheckpointInfo",
    "DatabaseUrl",
    "DatabaseUrlError",
    "GraphExistsError",
    "GraphNotFoundError",
    "GraphRecord",
    "IdempotencyConflictError",
    "MemoryStore",
    "NotFoundError",
    "Page",
    "RunExistsError",
    "RunNotFoundError",
    "RunRecord",
    "StateNotSerializableError",
    "StatusChange",
    "Store",
    "StoreClosedError",
    "StoreError",
    "create_store",
    "database_url_from_env",
    "open_store",
    "parse_database_url",
]
