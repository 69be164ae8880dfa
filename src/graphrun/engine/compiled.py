"""A validated, ready-to-run graph: nodes bound to callables and compiled routing."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from graphrun.engine.conditions import ExpressionCondition, NamedCondition
from graphrun.engine.errors import ConditionError
from graphrun.engine.policies import CachePolicy, NodeCache, RetryPolicy
from graphrun.engine.state import Reducer, State, StateSchema
from graphrun.engine.tools import ToolRegistry

if TYPE_CHECKING:
    from graphrun.engine.results import RunResult

END = "__end__"
"""The target that ends a path. Specs may write it ``END``, ``end`` or ``null``."""

NodeMode = Literal["inline", "thread", "async"]
Router = Callable[[Mapping[str, Any]], "str | Sequence[str] | None"]


@dataclass(frozen=True, slots=True)
class CompiledBranch:
    target: str
    when: ExpressionCondition | NamedCondition | None


@dataclass(slots=True)
class CompiledNode:
    """A node ready to call: ``call(state, ctx)`` returns an update or an awaitable."""

    name: str
    call: Callable[[State, Any], Any]
    mode: NodeMode
    index: int
    takes_ctx: bool = True
    tool: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    retry: RetryPolicy | None = None
    timeout: float | None = None
    cache: NodeCache | None = None
    final: bool = False
    interrupt_before: bool = False
    interrupt_after: bool = False
    description: str = ""
    static: tuple[str, ...] = ()
    branches: tuple[CompiledBranch, ...] = ()
    router: Router | None = None
    # Join targets this node feeds through a waiting edge: join -> its full source set.
    waits: dict[str, frozenset[str]] = field(default_factory=dict)

    def route(self, state: Mapping[str, Any]) -> list[str]:
        """Every target this node leads to once it has run (may include END)."""
        out = list(self.static)
        if self.branches:
            for br in self.branches:
                if br.when is None:
                    out.append(br.target)
                    break
                try:
                    hit = br.when(state)
                except ConditionError as exc:
                    raise ConditionError(f"edge {self.name} -> {br.target}: {exc}") from None
                if hit:
                    out.append(br.target)
                    break
        elif self.router is not None:
            try:
                chosen = self.router(state)
            except Exception as exc:
                raise ConditionError(
                    f"router of node {self.name!r} failed: {type(exc).__name__}: {exc}"
                ) from exc
            if chosen is None:
                out.append(END)
            elif isinstance(chosen, str):
                out.append(chosen)
            else:
                out.extend(chosen)
        return out


def bind_callable(
    fn: Callable[..., Any], args: Mapping[str, Any], takes_ctx: bool
) -> Callable[[State, Any], Any]:
    """Wrap ``fn`` so the executor can always call ``call(state, ctx)``."""
    if args:
        bound = dict(args)
        if takes_ctx:
            return lambda state, ctx: fn(state, ctx, **bound)
        return lambda state, ctx: fn(state, **bound)
    if takes_ctx:
        return fn
    return lambda state, ctx: fn(state)


def callable_takes_ctx(fn: Callable[..., Any]) -> bool:
    params = [
        p
        for p in inspect.signature(fn).parameters.values()
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    # A second positional parameter with a default (``lambda s, i=i: ...``) is not ctx.
    return len(params) >= 2 and (
        params[1].name == "ctx" or params[1].default is inspect.Parameter.empty
    )


def is_async_callable(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - async callable objects
    )


@dataclass(slots=True)
class CompiledGraph:
    """The validated graph. Run it with :meth:`ainvoke` / :meth:`invoke`, or give it to
    an :class:`~graphrun.engine.executor.Executor` for persistence and events."""

    name: str
    nodes: dict[str, CompiledNode]
    entry: str
    max_steps: int
    reducers: dict[str, Reducer]
    schema: StateSchema | None
    tools: ToolRegistry
    source: Any = None  # the builder, kept so specs can be dumped again
    joins: dict[str, frozenset[str]] = field(default_factory=dict)

    def order(self, names: Sequence[str] | set[str]) -> list[str]:
        """Node names in declaration order (the order of a wave and of its merges)."""
        return sorted(names, key=lambda n: self.nodes[n].index)

    def new_caches(self) -> None:
        for node in self.nodes.values():
            if node.cache is not None:
                node.cache = NodeCache(node.cache.policy)

    async def ainvoke(self, state: Mapping[str, Any] | None = None, **kwargs: Any) -> RunResult:
        """Run the graph to its end in memory and return the result."""
        from graphrun.engine.executor import Executor

        return await Executor(self, **kwargs).start(dict(state or {}))

    def invoke(self, state: Mapping[str, Any] | None = None, **kwargs: Any) -> RunResult:
        """Blocking :meth:`ainvoke`, for scripts and notebooks without a running loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.ainvoke(state, **kwargs))
        raise RuntimeError("invoke() cannot run inside a running event loop; await ainvoke()")

    def mermaid(self) -> str:
        """A Mermaid flowchart of the graph."""
        lines = ["flowchart TD", "    __start__([start])", "    __end__([end])"]
        lines.append(f"    __start__ --> {_mid(self.entry)}")
        for node in self.nodes.values():
            label = node.name if node.tool is None else f"{node.name}<br/><i>{node.tool}</i>"
            lines.append(f'    {_mid(node.name)}["{label}"]')
        for node in self.nodes.values():
            for t in node.static:
                lines.append(f"    {_mid(node.name)} --> {_mid(t)}")
            for br in node.branches:
                text = "else" if br.when is None else br.when.source.replace('"', "'")
                lines.append(f'    {_mid(node.name)} -. "{text}" .-> {_mid(br.target)}')
            if node.router is not None:
                lines.append(f"    {_mid(node.name)} -. router .-> __end__")
            for join in node.waits:
                lines.append(f"    {_mid(node.name)} ==> {_mid(join)}")
        return "\n".join(lines)


def _mid(name: str) -> str:
    """A Mermaid-safe node id."""
    if name == END:
        return "__end__"
    return "n_" + "".join(c if c.isalnum() else "_" for c in name)


__all__ = ["END", "CachePolicy", "CompiledBranch", "CompiledGraph", "CompiledNode"]
