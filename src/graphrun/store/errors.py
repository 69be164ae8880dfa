"""Errors a store raises on purpose. Every message names the thing at fault."""

from __future__ import annotations

from graphrun.engine.errors import GraphrunError


class StoreError(GraphrunError):
    """Base class of the store's errors."""


class NotFoundError(StoreError, LookupError):
    """A graph, graph version or run does not exist."""


class GraphNotFoundError(NotFoundError):
    """No such graph (or version, or the graph was deleted)."""


class RunNotFoundError(NotFoundError):
    """No such run."""


class GraphExistsError(StoreError):
    """A graph with that id already exists."""


class RunExistsError(StoreError):
    """A run with that id already exists."""


class IdempotencyConflictError(StoreError):
    """An idempotency key was reused with a different request."""


class StateNotSerializableError(StoreError, TypeError):
    """A value to store is not JSON: the message names the run, step and part."""


class StoreClosedError(StoreError):
    """The store is not open (never opened, or already closed)."""


class DatabaseUrlError(StoreError, ValueError):
    """The database URL cannot be used; the message says why and what would work."""


__all__ = [
    "DatabaseUrlError",
    "GraphExistsError",
    "GraphNotFoundError",
    "IdempotencyConflictError",
    "NotFoundError",
    "RunExistsError",
    "RunNotFoundError",
    "StateNotSerializableError",
    "StoreClosedError",
    "StoreError",
]
