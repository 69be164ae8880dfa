"""What a node sees besides the state: ctx, and where the running code is."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import Any

from graphrun.engine import (
    END,
    Event,
    EventType,
    Executor,
    Graph,
    MemoryEventSink,
    NodeContext,
    ToolRegistry,
)
from graphrun.engine.context import where_now


def make(emit: Any) -> NodeContext:
    return NodeContext(
        run_id="r", graph="g", step=4, node="n", attempt=2, tools=ToolRegistry(), emit=emit
    )


def test_log_builds_a_log_event() -> None:
    events: list[Event] = []
    make(events.append).log("hello", level="error", count=2)
    (event,) = events
    assert (event.type, event.run_id, event.node, event.step) == (EventType.LOG, "r", "n", 4)
    assert event.data == {"message": "hello", "level": "error", "count": 2}
    assert event.ts > 0


def test_log_stringifies_the_message() -> None:
    events: list[Event] = []
    make(events.append).log(42)  # type: ignore[arg-type]
    assert events[0].data["message"] == "42"


def test_log_without_a_recorder_is_a_no_op() -> None:
    make(None).log("nobody listens")  # must not raise


def test_where_now_is_empty_outside_nodes() -> None:
    assert where_now() == {}


async def test_where_now_names_the_running_node_even_in_threads() -> None:
    seen: dict[str, Any] = {}

    def sync_node(state: Mapping[str, Any]) -> None:
        seen["sync"] = (where_now(), threading.get_ident())

    async def async_node(state: Mapping[str, Any]) -> None:
        await asyncio.sleep(0)
        seen["async"] = where_now()

    g = Graph().add_node("s", sync_node).add_node("a", async_node)
    g.add_edge("s", "a").add_edge("a", END)
    await Executor(g.compile(), labels={"graph_id": "gid"}).start({}, run_id="r1")
    where_sync, thread = seen["sync"]
    assert thread != threading.get_ident()
    assert where_sync == {"graph_id": "gid", "run_id": "r1", "node": "s", "step": 1}
    assert seen["async"] == {"graph_id": "gid", "run_id": "r1", "node": "a", "step": 2}
    assert where_now() == {}


async def test_ctx_log_from_a_worker_thread_reaches_the_log() -> None:
    def chatty(state: Mapping[str, Any], ctx: NodeContext) -> None:
        for i in range(50):
            ctx.log(f"line {i}")

    sink = MemoryEventSink()
    g = Graph().add_node("c", chatty).add_edge("c", END)
    await Executor(g.compile(), sink=sink).start({})
    lines = [e.data["message"] for e in sink.events if e.type is EventType.LOG]
    assert lines == [f"line {i}" for i in range(50)]
    assert [e.seq for e in sink.events] == list(range(1, len(sink.events) + 1))
