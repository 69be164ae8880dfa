"""graphrun's engine: graphs, conditions, state, tools and the superstep executor.

It imports no web framework, database driver or task queue: persistence and event
delivery come in through the :class:`Checkpointer` and :class:`EventSink` protocols.
"""

from graphrun.engine import builtin_tools as _builtin_tools  # registers the utility tools
from graphrun.engine.checkpoint import (
    Checkpointer,
    CheckpointRow,
    MemoryCheckpointer,
    RunCheckpoint,
    StepRecord,
    rebuild_state,
)
from graphrun.engine.compiled import END, CompiledGraph
from graphrun.engine.conditions import (
    ConditionRegistry,
    compile_expression,
    condition,
    default_conditions,
)
from graphrun.engine.context import NodeContext
from graphrun.engine.errors import (
    CheckpointConflictError,
    ConditionError,
    GraphrunError,
    GraphSpecError,
    GraphValidationError,
    NodeTimeoutError,
    Problem,
    StateError,
    ToolError,
)
from graphrun.engine.events import Event, EventSink, EventType, MemoryEventSink
from graphrun.engine.executor import Durability, Executor
from graphrun.engine.graph import Branch, Graph
from graphrun.engine.policies import CachePolicy, NodePolicies, RetryPolicy
from graphrun.engine.results import RunResult
from graphrun.engine.state import Reducer
from graphrun.engine.status import RunStatus
from graphrun.engine.tools import Tool, ToolRegistry, default_registry, tool

del _builtin_tools

__all__ = [
    "END",
    "Branch",
    "CachePolicy",
    "CheckpointConflictError",
    "CheckpointRow",
    "Checkpointer",
    "CompiledGraph",
    "ConditionError",
    "ConditionRegistry",
    "Durability",
    "Event",
    "EventSink",
    "EventType",
    "Executor",
    "Graph",
    "GraphSpecError",
    "GraphValidationError",
    "GraphrunError",
    "MemoryCheckpointer",
    "MemoryEventSink",
    "NodeContext",
    "NodePolicies",
    "NodeTimeoutError",
    "Problem",
    "Reducer",
    "RetryPolicy",
    "RunCheckpoint",
    "RunResult",
    "RunStatus",
    "StateError",
    "StepRecord",
    "Tool",
    "ToolError",
    "ToolRegistry",
    "compile_expression",
    "condition",
    "default_conditions",
    "default_registry",
    "rebuild_state",
    "tool",
]
