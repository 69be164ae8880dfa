"""Building graphs in Python, and checking them before they run."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from graphrun.engine.compiled import (
    END,
    CompiledBranch,
    CompiledGraph,
    CompiledNode,
    NodeMode,
    Router,
    bind_callable,
    callable_takes_ctx,
    is_async_callable,
)
from graphrun.engine.conditions import ConditionRegistry, default_conditions, resolve_condition
from graphrun.engine.errors import (
    ConditionError,
    GraphValidationError,
    Problem,
    StateError,
    ToolError,
)
from graphrun.engine.policies import CachePolicy, NodeCache, NodePolicies, RetryPolicy
from graphrun.engine.state import Reducer, StateSchema
from graphrun.engine.tools import ToolRegistry, default_registry

RESERVED_NAMES = frozenset({END, "__start__", "END", "end", "START"})
DEFAULT_MAX_STEPS = 100


@dataclass(frozen=True, slots=True)
class Branch:
    """One entry of a conditional edge list: go ``to`` when ``when`` holds.

    ``when`` is an expression over the state, or the name of a registered condition;
    ``None`` makes the branch the default, which must come last.
    """

    to: str
    when: str | None = None


@dataclass(slots=True)
class NodeDef:
    """A node as declared; :meth:`Graph.compile` turns it into a CompiledNode."""

    name: str
    fn: Callable[..., Any] | None = None
    tool: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    retry: RetryPolicy | None = None
    timeout: float | None = None
    cache: CachePolicy | None = None
    inline: bool | None = None
    final: bool = False
    interrupt_before: bool = False
    interrupt_after: bool = False
    description: str = ""


@dataclass(slots=True)
class EdgeDefs:
    static: list[str] = field(default_factory=list)
    branches: list[Branch] | None = None
    router: Router | None = None
    router_targets: list[str] | None = None


class Graph:
    """A workflow graph under construction.

    >>> g = Graph("counter")
    >>> _ = g.add_node("inc", tool="increment", args={"key": "n"})
    >>> _ = g.add_conditional_edges("inc", [Branch("inc", "n < 3"), Branch(END)])
    >>> g.compile().invoke({"n": 0}).state["n"]
    3
    """

    def __init__(
        self,
        name: str = "graph",
        *,
        entry: str | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        state_schema: Mapping[str, Any] | type[BaseModel] | None = None,
        reducers: Mapping[str, Reducer | str] | None = None,
        defaults: NodePolicies | None = None,
        tools: ToolRegistry | None = None,
        conditions: ConditionRegistry | None = None,
        description: str = "",
    ) -> None:
        self.name = name
        self.entry = entry
        self.max_steps = max_steps
        self.state_schema = state_schema
        self.reducers: dict[str, Reducer] = {}
        self.defaults = defaults or NodePolicies()
        self.tools = tools or default_registry
        self.conditions = conditions or default_conditions
        self.description = description
        self.nodes: dict[str, NodeDef] = {}
        self.edges: dict[str, EdgeDefs] = {}
        self.joins: list[tuple[tuple[str, ...], str]] = []
        self._problems: list[Problem] = []
        for key, reducer in (reducers or {}).items():
            self.set_reducer(key, reducer)

    # -- building ---------------------------------------------------------------------

    def add_node(
        self,
        name: str,
        fn: Callable[..., Any] | None = None,
        *,
        tool: str | None = None,
        args: Mapping[str, Any] | None = None,
        retry: RetryPolicy | int | None = None,
        timeout: float | None = None,
        cache: CachePolicy | bool | None = None,
        inline: bool | None = None,
        final: bool = False,
        interrupt_before: bool = False,
        interrupt_after: bool = False,
        description: str = "",
    ) -> Graph:
        """Add a node bound to a callable ``fn(state[, ctx])`` or to a registered tool.

        Without ``fn`` and ``tool`` the node uses the tool of the same name.
        """
        if not isinstance(name, str) or not name:
            self._problems.append(Problem("nodes", f"node names must be non-empty, got {name!r}"))
            return self
        loc = f"nodes.{name}"
        if name in self.nodes:
            self._problems.append(Problem(loc, f"duplicate node name {name!r}"))
            return self
        if name in RESERVED_NAMES:
            self._problems.append(Problem(loc, f"{name!r} is reserved and cannot name a node"))
            return self
        if fn is not None and tool is not None:
            self._problems.append(Problem(loc, "give a callable or a tool name, not both"))
        if isinstance(retry, bool) or (
            retry is not None and not isinstance(retry, int | RetryPolicy)
        ):
            self._problems.append(
                Problem(f"{loc}.retry", "retry must be a RetryPolicy or a number of attempts")
            )
            retry = None
        elif isinstance(retry, int):
            if retry < 1:
                self._problems.append(
                    Problem(f"{loc}.retry", f"retry needs at least 1 attempt, got {retry}")
                )
                retry = None
            else:
                retry = RetryPolicy(max_attempts=retry)
        if cache is True:
            cache = CachePolicy()
        elif cache is False:
            cache = None
        elif cache is not None and not isinstance(cache, CachePolicy):
            self._problems.append(
                Problem(f"{loc}.cache", "cache must be True, False or a CachePolicy")
            )
            cache = None
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, int | float):
                self._problems.append(
                    Problem(
                        f"{loc}.timeout", f"timeout must be a number of seconds, got {timeout!r}"
                    )
                )
                timeout = None
            elif not timeout > 0:
                self._problems.append(Problem(f"{loc}.timeout", "timeout must be positive"))
        if args is not None and not isinstance(args, Mapping):
            self._problems.append(
                Problem(f"{loc}.args", "args must be a mapping of names to values")
            )
            args = None
        self.nodes[name] = NodeDef(
            name=name,
            fn=fn,
            tool=tool if fn is None else None,
            args=dict(args or {}),
            retry=retry,
            timeout=timeout,
            cache=cache or None,
            inline=inline,
            final=final,
            interrupt_before=interrupt_before,
            interrupt_after=interrupt_after,
            description=description,
        )
        if self.entry is None:
            self.entry = name
        return self

    def set_entry(self, name: str) -> Graph:
        self.entry = name
        return self

    def set_reducer(self, key: str, reducer: Reducer | str) -> Graph:
        try:
            self.reducers[key] = Reducer(reducer)
        except ValueError:
            allowed = ", ".join(r.value for r in Reducer)
            self._problems.append(
                Problem(f"reducers.{key}", f"unknown reducer {reducer!r} (use {allowed})")
            )
        return self

    def add_edge(self, source: str | Sequence[str], target: str) -> Graph:
        """``a -> b``. A list of sources makes ``target`` wait until all of them ran."""
        if isinstance(source, str):
            self.edges.setdefault(source, EdgeDefs()).static.append(target)
        else:
            self.joins.append((tuple(source), target))
        return self

    def add_conditional_edges(
        self,
        source: str,
        branches: Sequence[Branch | Mapping[str, Any]] | Router,
        *,
        targets: Iterable[str] | None = None,
    ) -> Graph:
        """Ordered branches (first true ``when`` wins) or a router ``fn(state) -> name``.

        A router returns a node name, ``END``, a list of names (fan-out) or None (end).
        ``targets`` lists what a router may return, for validation and drawing.
        """
        edges = self.edges.setdefault(source, EdgeDefs())
        loc = f"edges.{source}"
        if edges.branches is not None or edges.router is not None:
            self._problems.append(Problem(loc, "conditional edges are already set"))
            return self
        if callable(branches):
            edges.router = branches
            edges.router_targets = list(targets) if targets is not None else None
            return self
        parsed: list[Branch] = []
        for i, br in enumerate(branches):
            if isinstance(br, Branch):
                parsed.append(br)
            elif isinstance(br, Mapping) and "to" in br:
                parsed.append(Branch(to=br["to"], when=br.get("when")))
            else:
                self._problems.append(
                    Problem(f"{loc}.branches[{i}]", "a branch needs 'to' (and optional 'when')")
                )
        edges.branches = parsed
        return self

    # -- checking and compiling ---------------------------------------------------------

    def problems(self) -> list[Problem]:
        """Everything wrong with the graph, each naming the node or edge."""
        return self._check()[0]

    def compile(self) -> CompiledGraph:
        """Check the whole graph and raise :class:`GraphValidationError` listing every
        problem, or return a :class:`CompiledGraph`."""
        problems, compiled = self._check()
        if problems or compiled is None:
            raise GraphValidationError(problems)
        return compiled

    def _check(self) -> tuple[list[Problem], CompiledGraph | None]:
        problems = list(self._problems)
        if not self.nodes:
            problems.append(Problem("nodes", "a graph needs at least one node"))
        if self.entry is None:
            problems.append(Problem("entry", "no entry node"))
        elif self.entry not in self.nodes:
            problems.append(Problem("entry", f"entry node {self.entry!r} does not exist"))
        if (
            isinstance(self.max_steps, bool)
            or not isinstance(self.max_steps, int)
            or self.max_steps < 1
        ):
            problems.append(Problem("max_steps", "max_steps must be a positive integer"))
        schema: StateSchema | None = None
        if self.state_schema is not None:
            try:
                schema = StateSchema(self.state_schema)
            except StateError as exc:
                problems.append(Problem("state_schema", str(exc)))
        compiled_nodes: dict[str, CompiledNode] = {}
        for index, nd in enumerate(self.nodes.values()):
            node = self._compile_node(nd, index, problems)
            if node is not None:
                compiled_nodes[nd.name] = node
        self._compile_edges(compiled_nodes, problems)
        self._check_reachable(problems)
        if problems:
            return problems, None
        assert self.entry is not None
        joins = {target: frozenset(sources) for sources, target in self.joins}
        return [], CompiledGraph(
            name=self.name,
            nodes=compiled_nodes,
            entry=self.entry,
            max_steps=self.max_steps,
            reducers=dict(self.reducers),
            schema=schema,
            tools=self.tools,
            source=self,
            joins=joins,
        )

    def _compile_node(
        self, nd: NodeDef, index: int, problems: list[Problem]
    ) -> CompiledNode | None:
        loc = f"nodes.{nd.name}"
        retry = nd.retry or self.defaults.retry
        timeout = nd.timeout if nd.timeout is not None else self.defaults.timeout
        cache = nd.cache or self.defaults.cache
        fn = nd.fn
        takes_ctx = False
        inline = bool(nd.inline)
        if fn is None:
            tool_name = nd.tool or nd.name
            try:
                tool = self.tools.get(tool_name)
            except ToolError:
                problems.append(Problem(f"{loc}.tool", f"unknown tool {tool_name!r}"))
                return None
            problems.extend(tool.check_args(nd.args, f"{loc}.args"))
            fn, takes_ctx, is_async = tool.fn, tool.takes_ctx, tool.is_async
            inline = tool.inline if nd.inline is None else nd.inline
        else:
            if not callable(fn):
                problems.append(Problem(loc, f"{fn!r} is not callable"))
                return None
            try:
                takes_ctx = callable_takes_ctx(fn)
            except (TypeError, ValueError):
                takes_ctx = False
            is_async = is_async_callable(fn)
            problems.extend(_check_callable_args(fn, nd.args, takes_ctx, f"{loc}.args"))
        mode: NodeMode
        if is_async:
            mode = "async"
        elif inline and timeout is None:
            # A timeout needs a thread to walk away from; inline code cannot be interrupted.
            mode = "inline"
        else:
            mode = "thread"
        return CompiledNode(
            name=nd.name,
            call=bind_callable(fn, nd.args, takes_ctx),
            mode=mode,
            index=index,
            takes_ctx=takes_ctx,
            tool=nd.tool or (nd.name if nd.fn is None else None),
            args=dict(nd.args),
            retry=retry,
            timeout=timeout,
            cache=NodeCache(cache) if cache else None,
            final=nd.final,
            interrupt_before=nd.interrupt_before,
            interrupt_after=nd.interrupt_after,
            description=nd.description,
        )

    def _target_ok(self, target: str, loc: str, problems: list[Problem]) -> bool:
        if not isinstance(target, str):
            problems.append(Problem(loc, f"a target must be a node name, got {target!r}"))
            return False
        if target == END or target in self.nodes:
            return True
        problems.append(Problem(loc, f"unknown node {target!r}"))
        return False

    def _compile_edges(self, nodes: dict[str, CompiledNode], problems: list[Problem]) -> None:
        for source, edges in self.edges.items():
            loc = f"edges.{source}"
            if source not in self.nodes:
                problems.append(Problem(loc, f"edge from unknown node {source!r}"))
                continue
            static = [t for t in edges.static if self._target_ok(t, loc, problems)]
            branches: list[CompiledBranch] = []
            for i, br in enumerate(edges.branches or []):
                bloc = f"{loc}.branches[{i}]"
                self._target_ok(br.to, bloc, problems)
                if br.when is None:
                    if i != len(edges.branches or []) - 1:
                        problems.append(
                            Problem(bloc, "the default branch (no 'when') must come last")
                        )
                    branches.append(CompiledBranch(br.to, None))
                    continue
                try:
                    branches.append(
                        CompiledBranch(br.to, resolve_condition(br.when, self.conditions))
                    )
                except ConditionError as exc:
                    problems.append(Problem(f"{bloc}.when", str(exc)))
            if edges.branches is not None and not edges.branches:
                problems.append(Problem(loc, "a conditional edge needs at least one branch"))
            for t in edges.router_targets or []:
                self._target_ok(t, f"{loc}.targets", problems)
            node = nodes.get(source)
            if node is not None:
                node.static = tuple(static)
                node.branches = tuple(branches)
                node.router = edges.router
        for i, (sources, target) in enumerate(self.joins):
            loc = f"joins[{i}]"
            if not sources:
                problems.append(Problem(loc, "a waiting edge needs at least one source"))
            if target == END:
                problems.append(Problem(loc, "a waiting edge must lead to a node, not END"))
                continue
            self._target_ok(target, loc, problems)
            for s in sources:
                if s not in self.nodes:
                    problems.append(Problem(loc, f"edge from unknown node {s!r}"))
                elif s in nodes:
                    nodes[s].waits[target] = frozenset(sources)
        for name, nd in self.nodes.items():
            out = self.edges.get(name)
            has_out = bool(out and (out.static or out.branches or out.router)) or any(
                name in sources for sources, _ in self.joins
            )
            if not has_out and not nd.final:
                problems.append(
                    Problem(
                        f"nodes.{name}",
                        f"node {name!r} has no outgoing edge; add one (to END to finish "
                        "there) or mark the node final",
                    )
                )

    def _check_reachable(self, problems: list[Problem]) -> None:
        if self.entry not in self.nodes:
            return
        if any(e.router is not None and e.router_targets is None for e in self.edges.values()):
            return  # a router may go anywhere
        succ: dict[str, set[str]] = {n: set() for n in self.nodes}
        for source, edges in self.edges.items():
            if source not in succ:
                continue
            succ[source].update(edges.static)
            succ[source].update(b.to for b in edges.branches or [])
            succ[source].update(edges.router_targets or [])
        for sources, target in self.joins:
            for s in sources:
                if s in succ:
                    succ[s].add(target)
        seen = {self.entry}
        todo = [self.entry]
        while todo:
            for nxt in succ.get(todo.pop(), ()):
                if nxt in self.nodes and nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        for name in self.nodes:
            if name not in seen:
                problems.append(
                    Problem(f"nodes.{name}", f"node {name!r} cannot be reached from the entry")
                )


def _check_callable_args(
    fn: Callable[..., Any], args: Mapping[str, Any], takes_ctx: bool, location: str
) -> list[Problem]:
    """A callable node's static ``args`` must bind to its parameters (after the state and
    ``ctx``), or the node would fail with a TypeError on every call."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []  # builtins without a signature: found out when called
    name = getattr(fn, "__name__", repr(fn))
    params = sig.parameters.values()
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        known = {
            p.name
            for p in params
            if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        }
        unknown = [
            Problem(f"{location}.{arg}", f"{name!r} takes no argument {arg!r}")
            for arg in args
            if arg not in known
        ]
        if unknown:
            return unknown
    leading = (None, None) if takes_ctx else (None,)
    try:
        sig.bind(*leading, **args)
    except TypeError as exc:
        return [Problem(location, f"{name!r} cannot be called with these args: {exc}")]
    return []
