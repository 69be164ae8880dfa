"""graphrun: a durable, LangGraph-style workflow engine.

The public API is the engine's; the service lives in :mod:`graphrun.api`.
"""

from graphrun.engine import (
    END,
    Branch,
    CachePolicy,
    Executor,
    Graph,
    MemoryCheckpointer,
    MemoryEventSink,
    NodeContext,
    Reducer,
    RetryPolicy,
    RunResult,
    RunStatus,
    condition,
    tool,
)

__version__ = "0.1.0"

__all__ = [
    "END",
    "Branch",
    "CachePolicy",
    "Executor",
    "Graph",
    "MemoryCheckpointer",
    "MemoryEventSink",
    "NodeContext",
    "Reducer",
    "RetryPolicy",
    "RunResult",
    "RunStatus",
    "__version__",
    "condition",
    "tool",
]
