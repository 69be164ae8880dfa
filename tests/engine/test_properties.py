"""Random graphs run by the executor end where a simple sequential interpreter ends.

The reference interpreter below is deliberately naive: it runs the pending set node by
node in declaration order on one snapshot, merges the updates in that order, routes every
node of the wave on the merged state, and repeats. The executor must agree on the final
status, state and step count for random DAGs, random graphs with loops, and after a crash
followed by a resume.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphrun.engine import (
    END,
    Branch,
    Executor,
    Graph,
    MemoryCheckpointer,
    RunStatus,
    StepRecord,
)

Predicate = Callable[[Mapping[str, Any]], bool]

# Conditions as (expression, the same test in Python). They read only keys that exist
# when they are evaluated: 'count' and 'trace' from the start, a node's own 'visits_*'
# once it has run (edges are evaluated after their node).
CONDITIONS: list[tuple[str, Callable[[str], Predicate]]] = [
    ("count % 2 == 0", lambda n: lambda s: s["count"] % 2 == 0),
    ("count > 4", lambda n: lambda s: s["count"] > 4),
    ("len(trace) % 3 == 1", lambda n: lambda s: len(s["trace"]) % 3 == 1),
    ("visits_{n} < 2", lambda n: lambda s: s[f"visits_{n}"] < 2),
    ("v_{n} >= 3 and count < 9", lambda n: lambda s: s[f"v_{n}"] >= 3 and s["count"] < 9),
]


@dataclass
class NodeSpec:
    name: str
    mode: str  # inline | thread | async
    static: list[str] = field(default_factory=list)
    branches: list[tuple[str | None, str, Predicate | None]] = field(default_factory=list)
    router: list[str] | None = None


@dataclass
class GraphSpec:
    nodes: list[NodeSpec]
    joins: list[tuple[tuple[str, ...], str]]
    max_steps: int

    def index(self, name: str) -> int:
        return [n.name for n in self.nodes].index(name)

    def node(self, name: str) -> NodeSpec:
        return self.nodes[self.index(name)]


def update_of(name: str, state: Mapping[str, Any]) -> dict[str, Any]:
    """What node ``name`` returns: a function of its snapshot only."""
    return {
        "trace": name,  # append
        "count": 1,  # add
        f"v_{name}": state["count"] + len(state["trace"]),  # replace, only this node
        f"visits_{name}": state.get(f"visits_{name}", 0) + 1,
    }


def router_of(targets: list[str]) -> Callable[[Mapping[str, Any]], str]:
    return lambda s: targets[s["count"] % len(targets)]


REDUCERS = {"trace": "append", "count": "add"}
INITIAL: dict[str, Any] = {"count": 0, "trace": []}


@st.composite
def graph_specs(draw: st.DrawFn, *, loops: bool) -> GraphSpec:
    size = draw(st.integers(2, 6))
    names = [f"n{i}" for i in range(size)]
    nodes = [NodeSpec(n, draw(st.sampled_from(["inline", "thread", "async"]))) for n in names]
    # a static edge from an earlier node keeps every node reachable
    for i in range(1, size):
        nodes[draw(st.integers(0, i - 1))].static.append(names[i])
    for i, node in enumerate(nodes):
        targets = [*names, END] if loops else [*names[i + 1 :], END]
        node.static.extend(draw(st.lists(st.sampled_from(targets), max_size=2)))
        kind = draw(st.sampled_from(["none", "branches", "router"]))
        if kind == "branches":
            for _ in range(draw(st.integers(1, 3))):
                text, make = draw(st.sampled_from(CONDITIONS))
                node.branches.append(
                    (text.format(n=node.name), draw(st.sampled_from(targets)), make(node.name))
                )
            if draw(st.booleans()):
                node.branches.append((None, draw(st.sampled_from(targets)), None))
        elif kind == "router":
            node.router = draw(st.lists(st.sampled_from(targets), min_size=1, max_size=3))
        if not node.static and not node.branches and not node.router:
            node.static.append(END)
    joins: list[tuple[tuple[str, ...], str]] = []
    if not loops and size >= 3 and draw(st.booleans()):
        target = draw(st.integers(2, size - 1))
        sources = draw(
            st.lists(st.sampled_from(names[:target]), min_size=2, max_size=3, unique=True)
        )
        joins.append((tuple(sources), names[target]))
    max_steps = draw(st.integers(1, 25)) if loops else 100
    return GraphSpec(nodes, joins, max_steps)


def build(spec: GraphSpec) -> Graph:
    g = Graph("random", max_steps=spec.max_steps, reducers=REDUCERS)
    for node in spec.nodes:
        if node.mode == "async":
            g.add_node(node.name, _bind_async(node.name))
        else:
            g.add_node(node.name, _bind_sync(node.name), inline=node.mode == "inline")
    for node in spec.nodes:
        for target in node.static:
            g.add_edge(node.name, target)
        if node.branches:
            g.add_conditional_edges(
                node.name, [Branch(target, when) for when, target, _ in node.branches]
            )
        elif node.router is not None:
            g.add_conditional_edges(
                node.name, router_of(node.router), targets=[n.name for n in spec.nodes]
            )
    for sources, target in spec.joins:
        g.add_edge(list(sources), target)
    return g


def _bind_sync(name: str) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    return lambda state: update_of(name, state)


def _bind_async(name: str) -> Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]:
    async def node(state: Mapping[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        return update_of(name, state)

    return node


def reference(spec: GraphSpec) -> tuple[RunStatus, dict[str, Any], int]:
    """The sequential reference interpreter."""
    state: dict[str, Any] = {"count": 0, "trace": []}
    pending = [spec.nodes[0].name]
    barriers: dict[str, list[str]] = {}
    step = 0
    while pending:
        if step >= spec.max_steps:
            return RunStatus.STOPPED_MAX_ITERATIONS, state, step
        step += 1
        snapshot = dict(state)
        updates = [(name, update_of(name, dict(snapshot))) for name in pending]
        for _, update in updates:
            for key, value in update.items():
                if key == "trace":
                    state["trace"] = [*state["trace"], value]
                elif key == "count":
                    state["count"] += value
                else:
                    state[key] = value
        nxt: set[str] = set()
        for name in pending:
            node = spec.node(name)
            targets = list(node.static)
            if node.branches:
                for _when, target, holds in node.branches:
                    if holds is None or holds(state):
                        targets.append(target)
                        break
            elif node.router is not None:
                targets.append(router_of(node.router)(state))
            nxt.update(t for t in targets if t != END)
            for sources, join in spec.joins:
                if name in sources:
                    arrived = barriers.setdefault(join, [])
                    if name not in arrived:
                        arrived.append(name)
                    if set(sources) <= set(arrived):
                        del barriers[join]
                        nxt.add(join)
        pending = sorted(nxt, key=spec.index)
    return RunStatus.COMPLETED, state, step


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def check_against_reference(spec: GraphSpec) -> None:
    expected_status, expected_state, expected_step = reference(spec)
    result = run(Executor(build(spec).compile()).start(dict(INITIAL)))
    assert result.status is expected_status, result.message
    assert result.state == expected_state
    assert result.step == expected_step


@SETTINGS
@given(spec=graph_specs(loops=False))
def test_random_dags_match_the_reference_interpreter(spec: GraphSpec) -> None:
    check_against_reference(spec)


@SETTINGS
@given(spec=graph_specs(loops=True))
def test_random_loop_graphs_match_the_reference_interpreter(spec: GraphSpec) -> None:
    check_against_reference(spec)


class StopsAfter(MemoryCheckpointer):
    """A store that fails every write after ``last_step``: the executor dies there."""

    def __init__(self, last_step: int) -> None:
        super().__init__()
        self.last_step = last_step

    def save(self, record: StepRecord) -> Awaitable[None]:
        if record.step > self.last_step:
            failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            failed.set_exception(OSError("store gone"))
            return failed
        return super().save(record)


@SETTINGS
@given(
    spec=graph_specs(loops=True),
    crash_after=st.integers(0, 12),
    durability=st.sampled_from(["sync", "async"]),
)
def test_a_resumed_run_ends_where_an_uninterrupted_run_ends(
    spec: GraphSpec, crash_after: int, durability: str
) -> None:
    expected_status, expected_state, expected_step = reference(spec)

    async def scenario() -> Any:
        compiled = build(spec).compile()
        broken = StopsAfter(crash_after)
        try:
            first = await Executor(compiled, checkpointer=broken, durability=durability).start(  # type: ignore[arg-type]
                dict(INITIAL), run_id="r"
            )
        except Exception:
            first = None
        healthy = MemoryCheckpointer()
        healthy.rows, healthy.events = broken.rows, broken.events
        healthy.status, healthy.errors = broken.status, broken.errors
        resumed = await Executor(compiled, checkpointer=healthy).resume("r")
        events = healthy.events["r"]
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        return first, resumed

    first, resumed = run(scenario())
    if first is not None:  # the run ended before the store broke
        assert first.status is expected_status
    assert resumed.status is expected_status
    assert resumed.state == expected_state
    assert resumed.step == expected_step
