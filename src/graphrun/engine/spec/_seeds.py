"""The two older spec forms (seed 003 and seed 004): detection and normalization.

Seed 004 (``{name, start_node, nodes: {name: {tool, next}}}`` with ``next`` a name,
``"end"`` or ``{condition, if_true, if_false}``) is a subset of the canonical form, so the
canonical models read it as it is. Seed 003 (``{graph_id, start_node, nodes: [names],
edges: {node: {default_next, branches: [{condition, target}]}}}``) is validated with its
own models, so errors point into the document as written, then rewritten into the
canonical form together with a :class:`PathMap` from canonical paths back to seed paths.
"""

from __future__ import annotations

import keyword
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator

from graphrun.engine.graph import DEFAULT_MAX_STEPS
from graphrun.engine.spec._paths import Issue, Path, PathMap
from graphrun.engine.spec.models import (
    END_TARGET,
    BranchSpec,
    GraphSpec,
    IfSpec,
    NodeFields,
    PoliciesSpec,
    ReducerName,
    SpecModel,
    Target,
    normalize_target,
    policy_model_at,
)

SpecForm = Literal["canonical", "edge_map", "next_map"]


def detect_form(data: Mapping[str, Any]) -> SpecForm:
    """Which form a spec is written in.

    Seed 003 lists its nodes (``nodes`` is a list) or keys its edges by node (``edges``
    is an object). Seed 004 is told apart from the canonical form only by ``start_node``
    or a ``{condition, if_true, if_false}`` next; both read the same way.
    """
    nodes = data.get("nodes")
    if isinstance(nodes, list) or isinstance(data.get("edges"), Mapping):
        return "edge_map"
    if "start_node" in data:
        return "next_map"
    if isinstance(nodes, Mapping) and any(
        isinstance(node, Mapping) and isinstance(node.get("next"), Mapping)
        for node in nodes.values()
    ):
        return "next_map"
    return "canonical"


def normalize_if_branches(spec: GraphSpec) -> PathMap:
    """Rewrite every ``{condition, if_true, if_false}`` next (seed 004) in ``spec`` as the
    branch list it stands for; return the map from the new paths to the fields written."""
    origin = PathMap()
    for name, node in spec.nodes.items():
        nxt = node.next
        if not isinstance(nxt, IfSpec):
            continue
        node.next = [BranchSpec(when=nxt.condition, to=nxt.if_true), BranchSpec(to=nxt.if_false)]
        base: Path = ("nodes", name, "next")
        origin.add((*base, 0), base, keep_suffix=False)
        origin.add((*base, 0, "when"), (*base, "condition"))
        origin.add((*base, 0, "to"), (*base, "if_true"))
        origin.add((*base, 1), base, keep_suffix=False)
        origin.add((*base, 1, "to"), (*base, "if_false"))
    return origin


# -- seed 003 models ----------------------------------------------------------------------


class Seed003Branch(SpecModel):
    """``{condition: <registered condition or expression>, target: node | null}``."""

    condition: str
    target: Target


def _default_next_kind(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return "default_next:target"
    if isinstance(value, list):
        return "default_next:fanout"
    return None


DefaultNextField = Annotated[
    Annotated[Target, Tag("default_next:target")]
    | Annotated[list[Target], Tag("default_next:fanout"), Field(min_length=1)],
    Discriminator(
        _default_next_kind,
        custom_error_type="default_next_shape",
        custom_error_message="default_next must be a node name, null, or a list of node "
        "names (fan-out)",
    ),
]


class Seed003Edge(SpecModel):
    """Where a node goes: the first branch whose condition holds, else ``default_next``."""

    default_next: DefaultNextField | None = None
    branches: list[Seed003Branch] = Field(default_factory=list)

    @field_validator("default_next", mode="before")
    @classmethod
    def _null_is_end(cls, value: Any) -> Any:
        return normalize_target(value) if value is None else value


class Seed003Node(NodeFields):
    """A node written as an object, to give it the canonical extras (args, policies...)."""

    name: str = Field(min_length=1)


def _node_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "node:name"
    if isinstance(value, Mapping | Seed003Node):
        return "node:object"
    return None


NodeEntry = Annotated[
    Annotated[str, Tag("node:name"), Field(min_length=1)]
    | Annotated[Seed003Node, Tag("node:object")],
    Discriminator(
        _node_kind,
        custom_error_type="node_shape",
        custom_error_message="a node must be a name or an object {name, tool, args, ...}",
    ),
]


class Seed003Spec(SpecModel):
    """Seed 003's graph, plus the canonical graph-level extras."""

    graph_id: str | None = Field(None, min_length=1)
    name: str | None = Field(None, min_length=1)
    description: str = ""
    entry: str | None = None
    max_steps: int = Field(DEFAULT_MAX_STEPS, ge=1)
    state_schema: dict[str, Any] | None = None
    reducers: dict[str, ReducerName] = Field(default_factory=dict)
    defaults: PoliciesSpec | None = None
    nodes: list[NodeEntry]
    edges: dict[str, Seed003Edge] = Field(default_factory=dict)


def edge_map_model_at(path: Path) -> type[SpecModel] | None:
    """The edge-map model describing the object at ``path``."""
    if not path:
        return Seed003Spec
    if len(path) == 2 and path[0] == "nodes":
        return Seed003Node
    if len(path) == 2 and path[0] == "edges":
        return Seed003Edge
    if len(path) == 4 and path[0] == "edges":
        return Seed003Branch
    return policy_model_at(path)


# -- seed 003 → canonical -----------------------------------------------------------------


@dataclass(slots=True)
class Normalized:
    """A seed document rewritten in the canonical form.

    ``origin`` maps canonical paths back to the seed document's; ``issues`` are the
    problems only the whole document shows (duplicate nodes, edges of unknown nodes);
    ``named_conditions`` holds the canonical paths of ``when`` values that must be
    registered condition names (seed 003 names its conditions).
    """

    data: dict[str, Any]
    origin: PathMap = field(default_factory=PathMap)
    issues: list[Issue] = field(default_factory=list)
    named_conditions: set[Path] = field(default_factory=set)


def edge_map_to_canonical(raw: Mapping[str, Any]) -> Normalized:
    """Validate a seed 003 document and rewrite it in the canonical form.

    Raises :class:`pydantic.ValidationError` with seed paths for malformed input.
    """
    seed = Seed003Spec.model_validate(raw)
    result = Normalized({})
    issues, origin = result.issues, result.origin
    out: dict[str, Any] = seed.model_dump(
        exclude_unset=True, exclude={"nodes", "edges", "graph_id", "name"}
    )
    if seed.name is None and seed.graph_id is None:
        issues.append(Issue(("graph_id",), "a graph needs a graph_id (or a name)"))
    out["name"] = seed.name or seed.graph_id or "graph"
    if seed.graph_id is not None:
        out["graph_id"] = seed.graph_id
    nodes: dict[str, dict[str, Any]] = {}
    index: dict[str, int] = {}
    for i, entry in enumerate(seed.nodes):
        if isinstance(entry, str):
            name, fields = entry, {}
        else:
            name, fields = entry.name, entry.model_dump(exclude_unset=True, exclude={"name"})
        if name in index:
            issues.append(
                Issue(("nodes", i), f"duplicate node name {name!r} (first at nodes[{index[name]}])")
            )
            continue
        # A bare name has no fields to point into: every problem of its node is the entry's.
        origin.add(("nodes", name), ("nodes", i), keep_suffix=not isinstance(entry, str))
        index[name] = i
        nodes[name] = fields
    for name, edge in seed.edges.items():
        if name not in index:
            issues.append(Issue(("edges", name), f"edges given for unknown node {name!r}"))
            continue
        nodes[name]["next"] = _next_of(name, edge, result)
    for name, fields in nodes.items():
        if "next" not in fields:
            # Seed 003 ends a run at a node without an edges entry.
            fields["next"] = END_TARGET
            origin.add(("nodes", name, "next"), ("nodes", index[name]), keep_suffix=False)
    out["nodes"] = nodes
    result.data = out
    return result


def _next_of(name: str, edge: Seed003Edge, result: Normalized) -> Any:
    origin, issues = result.origin, result.issues
    base: Path = ("nodes", name, "next")
    seed: Path = ("edges", name)
    default = edge.default_next if edge.default_next is not None else END_TARGET
    if not edge.branches:
        origin.add(base, (*seed, "default_next"))
        return default
    if isinstance(default, list):
        issues.append(
            Issue(
                (*seed, "default_next"),
                "with branches, default_next must be one node or null; fan out from a node "
                "without branches",
            )
        )
        default = END_TARGET
    origin.add(base, seed)
    branches: list[dict[str, Any]] = []
    for j, br in enumerate(edge.branches):
        branches.append({"when": br.condition, "to": br.target})
        if br.condition.isidentifier() and not keyword.iskeyword(br.condition):
            # A bare name here is a registered condition; as an expression it would
            # silently test a state key instead, and fail only when the run gets there.
            result.named_conditions.add((*base, j, "when"))
        origin.add((*base, j), (*seed, "branches", j))
        origin.add((*base, j, "when"), (*seed, "branches", j, "condition"))
        origin.add((*base, j, "to"), (*seed, "branches", j, "target"))
    branches.append({"to": default})
    origin.add((*base, len(edge.branches)), (*seed, "default_next"), keep_suffix=False)
    return branches
