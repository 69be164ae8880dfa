"""The run event log: the Event type, sinks, and the log the executor writes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any

import pytest

from graphrun.engine import (
    END,
    Event,
    EventType,
    Executor,
    Graph,
    MemoryCheckpointer,
    MemoryEventSink,
    RetryPolicy,
    RunStatus,
    StepRecord,
)
from graphrun.engine.events import TERMINAL_EVENTS

# -- the Event type ---------------------------------------------------------------------------


def test_event_types_are_the_documented_ones() -> None:
    assert {t.value for t in EventType} == {
        "run_queued",
        "run_started",
        "node_started",
        "node_completed",
        "node_retrying",
        "node_failed",
        "log",
        "run_interrupted",
        "run_resumed",
        "run_completed",
        "run_failed",
        "run_cancelled",
        "run_stopped",
    }


def test_terminal_events() -> None:
    assert {t.value for t in TERMINAL_EVENTS} == {
        "run_completed",
        "run_failed",
        "run_cancelled",
        "run_stopped",
    }
    assert Event(1, EventType.RUN_FAILED, "r").is_terminal
    assert not Event(1, EventType.RUN_INTERRUPTED, "r").is_terminal
    assert not Event(1, EventType.NODE_FAILED, "r").is_terminal


def test_event_round_trips_through_a_dict() -> None:
    e = Event(7, EventType.NODE_COMPLETED, "r1", "n", 3, {"update": {"a": 1}}, 123.5)
    raw = e.to_dict()
    assert raw == {
        "seq": 7,
        "type": "node_completed",
        "run_id": "r1",
        "node": "n",
        "step": 3,
        "ts": 123.5,
        "data": {"update": {"a": 1}},
    }
    assert type(raw["type"]) is str
    assert Event.from_dict(raw) == e


def test_event_from_a_sparse_dict() -> None:
    e = Event.from_dict({"seq": "2", "type": "run_started", "run_id": "r"})
    assert (e.seq, e.type, e.node, e.step, e.data, e.ts) == (
        2,
        EventType.RUN_STARTED,
        None,
        None,
        {},
        0.0,
    )
    with pytest.raises(ValueError, match="not_a_type"):
        Event.from_dict({"seq": 1, "type": "not_a_type", "run_id": "r"})


def test_memory_sink_keeps_events_per_run() -> None:
    sink = MemoryEventSink()
    sink.publish([Event(1, EventType.RUN_STARTED, "a"), Event(1, EventType.RUN_STARTED, "b")])
    sink.publish([Event(2, EventType.RUN_COMPLETED, "a")])
    assert [(e.run_id, e.seq) for e in sink.events] == [("a", 1), ("b", 1), ("a", 2)]
    assert [e.seq for e in sink.for_run("a")] == [1, 2]


# -- the log a run writes -------------------------------------------------------------------------


def put(key: str, value: Any) -> Any:
    def node(state: Mapping[str, Any]) -> dict[str, Any]:
        return {key: value}

    return node


def assert_gap_free(events: list[Event], first: int = 1) -> None:
    assert [e.seq for e in events] == list(range(first, first + len(events)))
    terminal = [e for e in events if e.is_terminal]
    assert len(terminal) <= 1
    if terminal:
        assert events[-1] is terminal[0]


def kinds(events: list[Event]) -> list[tuple[str, str | None, int | None]]:
    return [(e.type.value, e.node, e.step) for e in events]


@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
async def test_a_completed_run_logs_each_step_in_order(durability: str) -> None:
    g = Graph("events").add_node("a", put("a", 1)).add_node("b", put("b", 2), inline=True)
    g.add_edge("a", "b").add_edge("b", END)
    cp, sink = MemoryCheckpointer(), MemoryEventSink()
    ex = Executor(g.compile(), checkpointer=cp, sink=sink, durability=durability)  # type: ignore[arg-type]
    result = await ex.start({}, run_id="r")
    assert result.status is RunStatus.COMPLETED
    assert kinds(sink.events) == [
        ("run_started", None, None),
        ("node_started", "a", 1),
        ("node_completed", "a", 1),
        ("node_started", "b", 2),
        ("node_completed", "b", 2),
        ("run_completed", None, 2),
    ]
    assert_gap_free(sink.events)
    assert [e.to_dict() for e in cp.events["r"]] == [e.to_dict() for e in sink.events]
    started, a_started, a_done = sink.events[:3]
    assert a_started.type is EventType.NODE_STARTED
    assert started.data == {"graph": "events"}
    assert a_done.data["update"] == {"a": 1}
    assert a_done.data["duration_ms"] >= 0
    assert sink.events[-1].data == {"steps": 2}
    assert all(e.run_id == "r" for e in sink.events)
    assert [e.ts for e in sink.events] == sorted(e.ts for e in sink.events)


async def test_without_a_checkpointer_the_sink_still_gets_the_log() -> None:
    g = Graph().add_node("a", put("a", 1)).add_edge("a", END)
    sink = MemoryEventSink()
    await Executor(g.compile(), sink=sink).start({})
    assert [e.type.value for e in sink.events] == [
        "run_started",
        "node_started",
        "node_completed",
        "run_completed",
    ]
    assert_gap_free(sink.events)


async def test_a_wave_logs_every_start_before_any_completion() -> None:
    g = Graph().add_node("s", put("s", 1))
    for n in ("x", "y", "z"):
        g.add_node(n, put(n, 1)).add_edge("s", n).add_edge(n, END)
    sink = MemoryEventSink()
    await Executor(g.compile(), sink=sink).start({})
    step2 = [(e.type.value, e.node) for e in sink.events if e.step == 2]
    assert step2 == [
        ("node_started", "x"),
        ("node_started", "y"),
        ("node_started", "z"),
        ("node_completed", "x"),
        ("node_completed", "y"),
        ("node_completed", "z"),
        ("run_completed", None),
    ]


async def test_log_events_come_between_start_and_completion() -> None:
    def chatty(state: Mapping[str, Any], ctx: Any) -> None:
        ctx.log("one")
        ctx.log("two", level="warning", detail={"k": 1})

    g = Graph().add_node("chatty", chatty).add_edge("chatty", END)
    cp, sink = MemoryCheckpointer(), MemoryEventSink()
    await Executor(g.compile(), checkpointer=cp, sink=sink).start({})
    assert kinds(sink.events)[1:5] == [
        ("node_started", "chatty", 1),
        ("log", "chatty", 1),
        ("log", "chatty", 1),
        ("node_completed", "chatty", 1),
    ]
    assert sink.events[3].data == {"message": "two", "level": "warning", "detail": {"k": 1}}
    assert_gap_free(sink.events)


async def test_retries_and_failures_are_logged_with_their_data() -> None:
    def broken(state: Mapping[str, Any]) -> None:
        raise ValueError("still broken")

    policy = RetryPolicy(max_attempts=2, initial_delay=0.001, jitter=False)
    g = Graph().add_node("ok", put("ok", 1)).add_node("broken", broken, retry=policy)
    g.add_edge("ok", "broken").add_edge("broken", END)
    cp, sink = MemoryCheckpointer(), MemoryEventSink()
    result = await Executor(g.compile(), checkpointer=cp, sink=sink).start({}, run_id="r")
    assert result.status is RunStatus.FAILED
    assert kinds(sink.events)[3:] == [
        ("node_started", "broken", 2),
        ("node_retrying", "broken", 2),
        ("node_failed", "broken", 2),
        ("run_failed", None, 2),
    ]
    retrying, failed, run_failed = sink.events[-3:]
    assert retrying.data == {"attempt": 1, "error": "ValueError: still broken", "delay_s": 0.001}
    assert failed.data["node"] == "broken"
    assert failed.data["type"] == "ValueError"
    assert failed.data["message"] == "still broken"
    assert failed.data["attempts"] == 2
    assert "Traceback" in failed.data["traceback"]
    assert run_failed.data["message"] == "node 'broken' failed: ValueError: still broken"
    assert run_failed.data["error"]["type"] == "ValueError"
    assert_gap_free(sink.events)
    assert [e.seq for e in cp.events["r"]] == [e.seq for e in sink.events]
    assert cp.status["r"] is RunStatus.FAILED


async def test_a_stopped_run_logs_run_stopped() -> None:
    g = Graph(max_steps=2).add_node("spin", lambda s: None, inline=True).add_edge("spin", "spin")
    sink = MemoryEventSink()
    result = await Executor(g.compile(), sink=sink).start({})
    last = sink.events[-1]
    assert (last.type, last.step) == (EventType.RUN_STOPPED, 2)
    assert last.data["message"] == result.message
    assert_gap_free(sink.events)


async def test_numbering_continues_after_events_stored_earlier() -> None:
    cp, sink = MemoryCheckpointer(), MemoryEventSink()
    queued = Event(1, EventType.RUN_QUEUED, "r", data={"graph": "g"})
    await cp.save(StepRecord("r", 0, "events", RunStatus.QUEUED, [queued]))
    g = Graph().add_node("a", put("a", 1)).add_edge("a", END)
    await Executor(g.compile(), checkpointer=cp, sink=sink).start({}, run_id="r", after_seq=1)
    assert [e.seq for e in sink.events] == [2, 3, 4, 5]
    assert_gap_free(cp.events["r"])
    assert cp.events["r"][0].type is EventType.RUN_QUEUED


class HeldCheckpointer(MemoryCheckpointer):
    """Stores at once but reports durability only when the test says so."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[asyncio.Future[None]] = []

    def save(self, record: StepRecord) -> Awaitable[None]:
        inner = super().save(record)
        outer: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def relay() -> None:
            await inner

        self.held.append(outer)
        return asyncio.gather(relay(), outer)  # type: ignore[return-value]

    def release_all(self) -> None:
        for fut in self.held:
            if not fut.done():
                fut.set_result(None)


async def test_events_reach_the_sink_only_once_durable() -> None:
    g = Graph().add_node("a", put("a", 1)).add_node("b", put("b", 1))
    g.add_edge("a", "b").add_edge("b", END)
    cp, sink = HeldCheckpointer(), MemoryEventSink()
    task = asyncio.ensure_future(
        Executor(g.compile(), checkpointer=cp, sink=sink, durability="async").start({})
    )
    for _ in range(200):  # until the last record is stored (but not reported durable)
        if cp.status.get(next(iter(cp.status), "")) is RunStatus.COMPLETED:
            break
        await asyncio.sleep(0.005)
    assert list(cp.status.values()) == [RunStatus.COMPLETED]
    await asyncio.sleep(0.01)
    assert not task.done(), "the final commit waits for durability"
    assert len(cp.held) >= 3
    assert sink.events == [], "nothing is published before it is durable"
    cp.release_all()
    result = await asyncio.wait_for(task, 2)
    assert result.status is RunStatus.COMPLETED
    assert_gap_free(sink.events)
    assert sink.events[-1].type is EventType.RUN_COMPLETED
