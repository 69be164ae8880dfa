"""Canonical spec ↔ :class:`Graph`.

Building checks every reference the spec makes (targets, sources, conflicting branch
lists) itself, so each problem names the exact spot in the spec; the graph's own checks
(tools, tool arguments, conditions, reachability, outgoing edges, state schema) run next
and their locations are translated from the graph's names into spec paths.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from pydantic import BaseModel

from graphrun.engine.compiled import END
from graphrun.engine.conditions import ConditionRegistry
from graphrun.engine.errors import GraphSpecError, Problem
from graphrun.engine.graph import Branch, EdgeDefs, Graph
from graphrun.engine.policies import CachePolicy, NodePolicies, RetryPolicy
from graphrun.engine.spec._paths import Issue, Path, PathMap, close_match, render, split_suffix
from graphrun.engine.spec.models import (
    END_TARGET,
    BranchSpec,
    GraphSpec,
    IfSpec,
    NextValue,
    cache_policy,
    retry_policy,
)
from graphrun.engine.tools import ToolRegistry

# -- spec → graph -------------------------------------------------------------------------


def build_graph(
    spec: GraphSpec,
    *,
    tools: ToolRegistry | None = None,
    conditions: ConditionRegistry | None = None,
) -> Graph:
    """Build the graph a spec describes, or raise :class:`GraphSpecError` listing every
    problem (at spec paths) that the spec or ``compile()`` would find."""
    builder = _Builder(spec, tools, conditions)
    problems = builder.problems()
    if problems:
        raise GraphSpecError(problems)
    return builder.graph


class _Builder:
    def __init__(
        self,
        spec: GraphSpec,
        tools: ToolRegistry | None,
        conditions: ConditionRegistry | None,
    ) -> None:
        self.spec = spec
        self.origin: PathMap = spec._origin
        self.issues: list[Issue] = []
        # Graph locations (exact, or a prefix followed by "." / "[") → spec paths.
        self.where: dict[str, Path] = {}
        self.conditional: dict[str, Path] = {}
        self.graph = Graph(
            spec.name,
            entry=spec.entry,
            max_steps=spec.max_steps,
            state_schema=spec.state_schema,
            reducers=spec.reducers,
            defaults=spec.defaults.to_policies() if spec.defaults else None,
            tools=tools,
            conditions=conditions,
            description=spec.description,
        )
        self.conditions = self.graph.conditions
        self._add_nodes()
        for name, node in spec.nodes.items():
            if node.next is not None and name in self.graph.nodes:
                self._add_next(name, node.next, ("nodes", name, "next"))
        for k, edge in enumerate(spec.edges):
            path: Path = ("edges", k)
            if isinstance(edge.source, list):
                self._add_join(edge.source, edge.to or END_TARGET, path)
            elif self._source_ok(edge.source, (*path, "from")):
                self.where.setdefault(f"edges.{edge.source}", path)
                if edge.branches is not None:
                    self._add_branches(edge.source, edge.branches, (*path, "branches"))
                else:
                    target = self._target(edge.to or END_TARGET, (*path, "to"))
                    self.graph.add_edge(edge.source, target)

    def _add_nodes(self) -> None:
        for name, node in self.spec.nodes.items():
            self.where[f"nodes.{name}"] = ("nodes", name)
            self.graph.add_node(
                name,
                tool=node.tool,
                args=node.args,
                retry=retry_policy(node.retry),
                timeout=node.timeout,
                cache=cache_policy(node.cache),
                inline=node.inline,
                final=node.final,
                interrupt_before=node.interrupt_before,
                interrupt_after=node.interrupt_after,
                description=node.description,
            )

    # -- edges ----------------------------------------------------------------------------

    def _add_next(self, name: str, nxt: NextValue, path: Path) -> None:
        self.where.setdefault(f"edges.{name}", path)
        if isinstance(nxt, str):
            self.graph.add_edge(name, self._target(nxt, path))
        elif isinstance(nxt, IfSpec):
            if not self._conditional_from(name, path):
                return
            self.where[f"edges.{name}.branches[0]"] = path
            self.where[f"edges.{name}.branches[0].when"] = (*path, "condition")
            self.where[f"edges.{name}.branches[1]"] = path
            self.graph.add_conditional_edges(
                name,
                [
                    Branch(self._target(nxt.if_true, (*path, "if_true")), nxt.condition),
                    Branch(self._target(nxt.if_false, (*path, "if_false"))),
                ],
            )
        elif nxt and isinstance(nxt[0], BranchSpec):
            self._add_branches(name, nxt, path)
        else:
            for i, target in enumerate(cast(list[str], nxt)):
                self.graph.add_edge(name, self._target(target, (*path, i)))

    def _add_branches(self, source: str, branches: Sequence[BranchSpec], path: Path) -> None:
        if not self._conditional_from(source, path):
            return
        parsed = []
        for i, br in enumerate(branches):
            self.where[f"edges.{source}.branches[{i}]"] = (*path, i)
            when_path = (*path, i, "when")
            named = self.spec._named_conditions
            if br.when is not None and when_path in named and br.when not in self.conditions:
                known = ", ".join(c.source for c in self.conditions) or "none"
                self.issues.append(
                    Issue(
                        when_path,
                        f"unknown named condition {br.when!r} (registered: {known})"
                        + close_match(br.when, [c.source for c in self.conditions]),
                    )
                )
            parsed.append(Branch(self._target(br.to, (*path, i, "to")), br.when))
        self.graph.add_conditional_edges(source, parsed)

    def _conditional_from(self, source: str, path: Path) -> bool:
        first = self.conditional.get(source)
        if first is not None:
            self.issues.append(
                Issue(
                    path,
                    f"node {source!r} already has conditional branches at "
                    f"{render(self.origin(first))}; give all of its branches in one list",
                )
            )
            return False
        self.conditional[source] = path
        return True

    def _add_join(self, sources: list[str], target: str, path: Path) -> None:
        known = [s for j, s in enumerate(sources) if self._source_ok(s, (*path, "from", j))]
        if target == END_TARGET:
            self.issues.append(Issue((*path, "to"), "a waiting edge must lead to a node, not END"))
            target_ok = False
        else:
            target_ok = self._target(target, (*path, "to")) != END
        if target_ok:
            if known:
                self.where[f"joins[{len(self.graph.joins)}]"] = path
                self.graph.add_edge(known, target)
            return
        # Keep the sources' outgoing edges so the graph reports no follow-on problems.
        for s in known:
            self.graph.add_edge(s, END)

    def _target(self, target: str, path: Path) -> str:
        """The graph's name for ``target``. An unknown one is reported and replaced by END
        so that the graph's own checks report no follow-on problems (the graph is never
        returned then)."""
        if target == END_TARGET:
            return END
        if target in self.graph.nodes:
            return target
        hint = close_match(target, self.graph.nodes)
        self.issues.append(Issue(path, f"unknown node {target!r}{hint}"))
        return END

    def _source_ok(self, source: str, path: Path) -> bool:
        if source in self.graph.nodes:
            return True
        hint = close_match(source, self.graph.nodes)
        self.issues.append(Issue(path, f"edge from unknown node {source!r}{hint}"))
        return False

    # -- problems -------------------------------------------------------------------------

    def problems(self) -> list[Problem]:
        issues = list(self.issues)
        for p in self.graph.problems():
            path = self._locate(p)
            message = p.message
            if len(path) == 3 and path[::2] == ("nodes", "tool"):
                nd = self.graph.nodes.get(str(path[1]))
                if nd is not None and message.startswith("unknown tool"):
                    message += close_match(nd.tool or nd.name, self.graph.tools.names())
            issues.append(Issue(path, message))
        return self.origin.problems(issues)

    def _locate(self, problem: Problem) -> Path:
        loc = problem.location
        found = self.where.get(loc)
        if found is not None:
            if loc.startswith("nodes.") and "outgoing edge" in problem.message:
                # The fix for a node without edges is its `next`.
                return (*found, "next")
            return found
        best = ""
        for prefix in self.where:
            if (
                len(prefix) > len(best)
                and loc.startswith(prefix)
                and loc[len(prefix) : len(prefix) + 1] in (".", "[")
            ):
                best = prefix
        if best:
            return self.where[best] + split_suffix(loc[len(best) :])
        if loc.startswith("reducers."):
            return ("reducers", loc.removeprefix("reducers."))
        return split_suffix("." + loc) if loc else ()


# -- graph → spec -------------------------------------------------------------------------


def graph_to_dict(graph: Graph) -> dict[str, Any]:
    """The canonical, JSON-safe spec of ``graph``.

    Raises :class:`GraphSpecError` naming every node bound to a Python callable and every
    router function: a spec can only name registered tools and conditions.
    """
    issues: list[Issue] = []
    for name, nd in graph.nodes.items():
        if nd.fn is not None:
            issues.append(
                Issue(
                    ("nodes", name),
                    f"node {name!r} runs a Python callable; a spec can only name a "
                    "registered tool (register it with @tool and use tool=...)",
                )
            )
    for source, edges in graph.edges.items():
        if edges.router is not None:
            issues.append(
                Issue(
                    ("nodes", source, "next"),
                    f"the edges from {source!r} are a router function; a spec needs "
                    "branches with conditions",
                )
            )
    out: dict[str, Any] = {"name": graph.name}
    if graph.description:
        out["description"] = graph.description
    if graph.entry is not None:
        out["entry"] = graph.entry
    out["max_steps"] = graph.max_steps
    if graph.state_schema is not None:
        schema = graph.state_schema
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            out["state_schema"] = schema.model_json_schema()
        else:
            out["state_schema"] = _json_copy(schema, ("state_schema",), issues)
    if graph.reducers:
        out["reducers"] = {key: reducer.value for key, reducer in graph.reducers.items()}
    defaults = _policies(graph.defaults)
    if defaults:
        out["defaults"] = defaults
    out["nodes"] = {}
    extra_edges: list[dict[str, Any]] = []
    for name, nd in graph.nodes.items():
        node: dict[str, Any] = {"tool": nd.tool or name}
        if nd.args:
            node["args"] = _json_copy(nd.args, ("nodes", name, "args"), issues)
        node.update(_policies(NodePolicies(nd.retry, nd.timeout, nd.cache)))
        if nd.inline is not None:
            node["inline"] = nd.inline
        for flag in ("final", "interrupt_before", "interrupt_after"):
            if getattr(nd, flag):
                node[flag] = True
        if nd.description:
            node["description"] = nd.description
        out_edges = graph.edges.get(name)
        if out_edges is not None:
            nxt, conditional = _next_of(out_edges)
            if nxt is not None:
                node["next"] = nxt
            if conditional is not None:
                extra_edges.append({"from": name, "branches": conditional})
        out["nodes"][name] = node
    # Edges from names that are not nodes: the graph is invalid, but the spec says so too.
    for source, edges in graph.edges.items():
        if source not in graph.nodes:
            extra_edges.extend({"from": source, "to": _target(t)} for t in edges.static)
            if edges.branches is not None:
                extra_edges.append({"from": source, "branches": _branches(edges.branches)})
    for sources, target in graph.joins:
        extra_edges.append({"from": list(sources), "to": _target(target)})
    if extra_edges:
        out["edges"] = extra_edges
    if issues:
        raise GraphSpecError([Problem(render(i.path), i.message) for i in issues])
    return out


def _next_of(edges: EdgeDefs) -> tuple[Any, list[dict[str, Any]] | None]:
    """A node's edges as its ``next``, plus branches that must go to ``edges`` because the
    node also has static edges (``next`` holds one kind)."""
    static = [_target(t) for t in edges.static]
    branches = _branches(edges.branches) if edges.branches is not None else None
    if static:
        return (static[0] if len(static) == 1 else static), branches
    return branches, None


def _branches(branches: Sequence[Branch]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for br in branches:
        item: dict[str, Any] = {} if br.when is None else {"when": br.when}
        item["to"] = _target(br.to)
        out.append(item)
    return out


def _target(name: str) -> str:
    return END_TARGET if name == END else name


def _policies(policies: NodePolicies) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if policies.retry is not None:
        out["retry"] = _retry(policies.retry)
    if policies.timeout is not None:
        out["timeout"] = float(policies.timeout)
    if policies.cache is not None:
        out["cache"] = _cache(policies.cache)
    return out


def _retry(policy: RetryPolicy) -> dict[str, Any]:
    return {
        "max_attempts": policy.max_attempts,
        "initial_delay": float(policy.initial_delay),
        "backoff": float(policy.backoff),
        "max_delay": float(policy.max_delay),
        "jitter": policy.jitter,
        "retry_on": list(policy.retry_on),
    }


def _cache(policy: CachePolicy) -> dict[str, Any]:
    return {
        "keys": list(policy.keys),
        "ttl": None if policy.ttl is None else float(policy.ttl),
        "max_entries": policy.max_entries,
    }


def _json_copy(value: Any, path: Path, issues: list[Issue]) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        issues.append(Issue(path, f"not JSON: {exc}"))
        return None
