"""Pydantic models of the canonical graph spec.

The models are strict (``"3"`` is not a number, ``1`` is not ``true``) and forbid unknown
fields, so a typo is reported with its path instead of being silently ignored. Every END
spelling (``END``, ``end``, ``__end__``, ``null``) is stored as ``"END"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from graphrun.engine.graph import DEFAULT_MAX_STEPS
from graphrun.engine.policies import CachePolicy, NodePolicies, RetryPolicy
from graphrun.engine.spec._paths import Path, PathMap

if TYPE_CHECKING:
    from graphrun.engine.conditions import ConditionRegistry
    from graphrun.engine.graph import Graph
    from graphrun.engine.tools import ToolRegistry

END_TARGET = "END"
"""How a spec writes the end of a path once normalized."""

END_NAMES = frozenset({"END", "end", "__end__"})
"""Every spelling of END a spec may use as a target (``null`` too)."""


def normalize_target(value: object) -> object:
    """Fold ``null`` and every END spelling into ``"END"``; leave anything else alone."""
    if value is None or (isinstance(value, str) and value in END_NAMES):
        return END_TARGET
    return value


Target = Annotated[str, BeforeValidator(normalize_target)]
"""A node name, or END in any spelling."""

ReducerName = Literal["replace", "append", "add", "merge"]
_Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class SpecModel(BaseModel):
    """Base of every spec model: strict types, unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", strict=True)


# -- policies -----------------------------------------------------------------------------


class RetrySpec(SpecModel):
    """Retry a failing node; ``max_attempts`` counts the first try."""

    max_attempts: int = Field(3, ge=1)
    initial_delay: float = Field(0.1, ge=0, allow_inf_nan=False)
    backoff: float = Field(2.0, ge=1, allow_inf_nan=False)
    max_delay: float = Field(10.0, ge=0, allow_inf_nan=False)
    jitter: bool = True
    retry_on: list[str] = Field(default_factory=list)

    def to_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.max_attempts,
            initial_delay=self.initial_delay,
            backoff=self.backoff,
            max_delay=self.max_delay,
            jitter=self.jitter,
            retry_on=tuple(self.retry_on),
        )


class CacheSpec(SpecModel):
    """Reuse a node's update for the same inputs (``keys``; empty = the whole state)."""

    keys: list[str] = Field(default_factory=list)
    ttl: _Seconds | None = None
    max_entries: int = Field(1024, ge=1)

    def to_policy(self) -> CachePolicy:
        return CachePolicy(keys=tuple(self.keys), ttl=self.ttl, max_entries=self.max_entries)


def _retry_kind(value: Any) -> str | None:
    # Models arrive here too: discriminators also run when a spec is serialized.
    if isinstance(value, Mapping | RetrySpec):
        return "retry:policy"
    if isinstance(value, int) and not isinstance(value, bool):
        return "retry:attempts"
    return None


def _cache_kind(value: Any) -> str | None:
    if isinstance(value, Mapping | CacheSpec):
        return "cache:policy"
    if isinstance(value, bool):
        return "cache:flag"
    return None


RetryField = Annotated[
    Annotated[RetrySpec, Tag("retry:policy")] | Annotated[int, Tag("retry:attempts"), Field(ge=1)],
    Discriminator(
        _retry_kind,
        custom_error_type="retry_shape",
        custom_error_message="retry must be an object {max_attempts, initial_delay, backoff, "
        "max_delay, jitter, retry_on} or a number of attempts",
    ),
]
CacheField = Annotated[
    Annotated[CacheSpec, Tag("cache:policy")] | Annotated[bool, Tag("cache:flag")],
    Discriminator(
        _cache_kind,
        custom_error_type="cache_shape",
        custom_error_message="cache must be an object {keys, ttl, max_entries} or true/false",
    ),
]


def retry_policy(value: RetrySpec | int | None) -> RetryPolicy | None:
    if value is None:
        return None
    if isinstance(value, int):
        return RetryPolicy(max_attempts=value)
    return value.to_policy()


def cache_policy(value: CacheSpec | bool | None) -> CachePolicy | None:
    if value is None or value is False:
        return None
    if value is True:
        return CachePolicy()
    return value.to_policy()


class PoliciesSpec(SpecModel):
    """Policies every node gets unless it sets its own."""

    retry: RetryField | None = None
    timeout: _Seconds | None = None
    cache: CacheField | None = None

    def to_policies(self) -> NodePolicies:
        return NodePolicies(
            retry=retry_policy(self.retry),
            timeout=self.timeout,
            cache=cache_policy(self.cache),
        )


# -- edges --------------------------------------------------------------------------------


class BranchSpec(SpecModel):
    """Go ``to`` when ``when`` holds; without ``when`` this is the default (last) branch.

    ``when`` is a safe expression over the state or the name of a registered condition.
    """

    when: str | None = None
    to: Target


class IfSpec(SpecModel):
    """Seed 004's two-way branch: ``{condition, if_true, if_false}``."""

    condition: str
    if_true: Target
    if_false: Target


def _next_kind(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return "next:target"
    if isinstance(value, IfSpec):
        return "next:if"
    if isinstance(value, Mapping):
        return "next:if" if {"condition", "if_true", "if_false"} & set(value) else None
    if isinstance(value, list):
        maps = sum(isinstance(item, Mapping | BranchSpec) for item in value)
        if maps == 0:
            return "next:fanout"
        return "next:branches" if maps == len(value) else None
    return None


NextField = Annotated[
    Annotated[Target, Tag("next:target")]
    | Annotated[list[Target], Tag("next:fanout"), Field(min_length=1)]
    | Annotated[list[BranchSpec], Tag("next:branches"), Field(min_length=1)]
    | Annotated[IfSpec, Tag("next:if")],
    Discriminator(
        _next_kind,
        custom_error_type="next_shape",
        custom_error_message="next must be a node name, END or null, a list of node names "
        "(fan-out), a list of branches [{when, to}, ...] or {condition, if_true, if_false}; "
        "a list may not mix names and branches",
    ),
]
"""What a node's ``next`` may hold."""

NextValue = str | list[str] | list[BranchSpec] | IfSpec
"""A validated ``next``: a target, a fan-out, branches, or seed 004's two-way branch."""


def _source_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "from:node"
    if isinstance(value, list):
        return "from:nodes"
    return None


SourceField = Annotated[
    Annotated[str, Tag("from:node")] | Annotated[list[str], Tag("from:nodes"), Field(min_length=1)],
    Discriminator(
        _source_kind,
        custom_error_type="from_shape",
        custom_error_message="from must be a node name or a list of node names",
    ),
]


class EdgeSpec(SpecModel):
    """One entry of ``edges``: ``{from, to}`` (``from`` a list: wait for all of them) or
    ``{from, branches}``."""

    source: SourceField = Field(alias="from")
    to: Target | None = None
    branches: list[BranchSpec] | None = Field(None, min_length=1)

    @field_validator("to", mode="before")
    @classmethod
    def _null_is_end(cls, value: Any) -> Any:
        return normalize_target(value)

    @model_validator(mode="after")
    def _one_kind(self) -> EdgeSpec:
        has_to = "to" in self.model_fields_set
        if has_to == (self.branches is not None):
            raise PydanticCustomError(
                "edge_shape", "an edge needs either 'to' or 'branches' (not both)"
            )
        if self.branches is not None and isinstance(self.source, list):
            raise PydanticCustomError(
                "edge_shape", "conditional branches start from one node; 'from' must be a name"
            )
        return self


# -- nodes and the graph ------------------------------------------------------------------


class NodeFields(SpecModel):
    """What a node declares besides its edges."""

    tool: str | None = Field(None, min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)
    retry: RetryField | None = None
    timeout: _Seconds | None = None
    cache: CacheField | None = None
    inline: bool | None = None
    final: bool = False
    interrupt_before: bool = False
    interrupt_after: bool = False
    description: str = ""


class NodeSpec(NodeFields):
    """A node bound to a registered tool (its own name unless ``tool`` says otherwise).

    ``next`` is shorthand for edges from this node; absent means none (then the node must
    be ``final`` or be the source of an entry in ``edges``).
    """

    next: NextField | None = None

    @field_validator("next", mode="before")
    @classmethod
    def _null_is_end(cls, value: Any) -> Any:
        return normalize_target(value) if value is None else value


class GraphSpec(SpecModel):
    """A whole graph in the canonical form. Build one with :func:`graphrun.engine.spec.parse`
    (which also accepts the seed forms) and turn it into a :class:`Graph` with
    :meth:`to_graph`."""

    name: str = Field(min_length=1)
    graph_id: str | None = None
    description: str = ""
    entry: str | None = None
    max_steps: int = Field(DEFAULT_MAX_STEPS, ge=1)
    state_schema: dict[str, Any] | None = None
    reducers: dict[str, ReducerName] = Field(default_factory=dict)
    defaults: PoliciesSpec | None = None
    nodes: dict[str, NodeSpec]
    edges: list[EdgeSpec] = Field(default_factory=list)

    # Rewrites paths of this (normalized) spec into paths of the document it came from.
    _origin: PathMap = PrivateAttr(default_factory=PathMap)
    # Paths of `when` values that must name a registered condition (from seed 003).
    _named_conditions: frozenset[Path] = PrivateAttr(default_factory=frozenset)

    def to_graph(
        self,
        *,
        tools: ToolRegistry | None = None,
        conditions: ConditionRegistry | None = None,
    ) -> Graph:
        """Build the :class:`Graph`, checked: every problem the graph would raise at
        ``compile()`` is raised here as one :class:`~graphrun.engine.errors.GraphSpecError`
        located by JSON paths into the spec. ``tools`` and ``conditions`` default to the
        process-wide registries."""
        # Imported here: the converter imports these models.
        from graphrun.engine.spec._convert import build_graph

        return build_graph(self, tools=tools, conditions=conditions)

    def __eq__(self, other: object) -> bool:
        # Two specs are equal when they say the same; where they were read from is no part
        # of that (pydantic would compare the private attributes too).
        if not isinstance(other, GraphSpec):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def to_dict(self) -> dict[str, Any]:
        """This spec as JSON-safe data in the canonical form, leaving out every field
        that holds its default. ``parse(spec.to_dict()) == spec``."""
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=True)

    @classmethod
    def from_graph(cls, graph: Graph) -> GraphSpec:
        """The canonical spec of a graph built in Python (see :func:`dump`)."""
        from graphrun.engine.spec._api import dump, parse

        return parse(dump(graph))


def policy_model_at(path: Path) -> type[SpecModel] | None:
    """The policy model at ``path`` (graph defaults, a retry, a cache), in any form."""
    if path == ("defaults",):
        return PoliciesSpec
    if path and path[-1] == "retry":
        return RetrySpec
    if path and path[-1] == "cache":
        return CacheSpec
    return None


def model_at(path: Path) -> type[SpecModel] | None:
    """The canonical model describing the object at ``path``, for "did you mean" hints."""
    if not path:
        return GraphSpec
    last = path[-1]
    if len(path) == 2 and path[0] == "nodes":
        return NodeSpec
    if len(path) == 2 and path[0] == "edges":
        return EdgeSpec
    policy = policy_model_at(path)
    if policy is not None:
        return policy
    if len(path) == 3 and path[0] == "nodes" and last == "next":
        return IfSpec
    if isinstance(last, int) and len(path) >= 2 and path[-2] in ("next", "branches"):
        return BranchSpec
    return None
