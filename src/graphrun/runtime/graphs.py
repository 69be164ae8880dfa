"""Compiled graphs by (graph_id, version), built from stored specs."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from graphrun.engine import spec
from graphrun.engine.compiled import CompiledGraph
from graphrun.engine.conditions import ConditionRegistry
from graphrun.engine.errors import GraphSpecError, Problem
from graphrun.engine.tools import ToolRegistry


class GraphCache:
    """Specs are immutable per version, so a compiled graph can be reused by every run
    pinned to that version. Bounded: least recently used first out."""

    def __init__(
        self,
        *,
        tools: ToolRegistry | None = None,
        conditions: ConditionRegistry | None = None,
        max_entries: int = 256,
    ) -> None:
        self.tools = tools
        self.conditions = conditions
        self.max_entries = max_entries
        self._items: OrderedDict[tuple[str, int], CompiledGraph] = OrderedDict()

    def compile(self, spec_data: dict[str, Any]) -> CompiledGraph:
        """Check a spec and compile it; raises GraphSpecError listing every problem."""
        graph = spec.load(spec_data, tools=self.tools, conditions=self.conditions)
        try:
            return graph.compile()
        except GraphSpecError:
            raise
        except Exception as exc:  # the loader already reported every known problem
            raise GraphSpecError([Problem("", str(exc))]) from exc

    def get(self, graph_id: str, version: int, spec_data: dict[str, Any]) -> CompiledGraph:
        key = (graph_id, version)
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
            return found
        compiled = self.compile(spec_data)
        self._items[key] = compiled
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)
        return compiled

    def forget(self, graph_id: str) -> None:
        for key in [k for k in self._items if k[0] == graph_id]:
            del self._items[key]
