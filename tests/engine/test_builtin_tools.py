"""The built-in tools: noop, set, increment, sleep, log, fail."""

from __future__ import annotations

import time
from typing import Any

import pytest

from graphrun.engine import (
    END,
    Event,
    EventType,
    Graph,
    MemoryEventSink,
    NodeContext,
    RunStatus,
    ToolRegistry,
    default_registry,
)
from graphrun.engine.builtin_tools import (
    MAX_FORMAT_WIDTH,
    ToolFailureError,
    fail,
    increment,
    log,
    noop,
    set_values,
    sleep,
)


def make_ctx(events: list[Event]) -> NodeContext:
    return NodeContext(
        run_id="r",
        graph="g",
        step=1,
        node="n",
        attempt=1,
        tools=ToolRegistry(),
        emit=events.append,
    )


def test_the_builtins_are_described() -> None:
    described = {t.name: t.describe() for t in default_registry}
    assert described["noop"]["inline"] is True
    assert described["sleep"]["async"] is True
    assert (
        described["log"]["signature"] == "log(state, ctx, message: str = '', level: str = 'info')"
    )
    for name in ("noop", "set", "increment", "sleep", "log", "fail"):
        assert described[name]["description"], f"{name} needs a description"


def test_noop() -> None:
    assert noop({"a": 1}) is None


def test_set() -> None:
    assert set_values({"a": 1}, a=2, b=[3]) == {"a": 2, "b": [3]}
    assert set_values({}) == {}


def test_set_can_write_keys_named_state_or_ctx() -> None:
    g = Graph().add_node("s", tool="set", args={"state": "done", "ctx": 1}).add_edge("s", END)
    result = g.compile().invoke({})
    assert result.status is RunStatus.COMPLETED
    assert result.state == {"state": "done", "ctx": 1}


def test_increment() -> None:
    assert increment({}) == {"counter": 1}
    assert increment({"n": 2}, key="n", by=3) == {"n": 5}
    assert increment({"n": 2.5}, key="n", by=-1) == {"n": 1.5}


@pytest.mark.parametrize("bad", ["3", [1], None, True])
def test_increment_refuses_non_numbers(bad: Any) -> None:
    with pytest.raises(TypeError, match=f"increment: state key 'n' holds {type(bad).__name__}"):
        increment({"n": bad}, key="n")


async def test_sleep_waits_without_blocking() -> None:
    started = time.perf_counter()
    assert await sleep({}, seconds=0.02) is None
    assert time.perf_counter() - started >= 0.019


def test_fail() -> None:
    with pytest.raises(ToolFailureError, match="failed on purpose"):
        fail({})
    with pytest.raises(ToolFailureError, match="custom"):
        fail({}, message="custom")


# -- log ---------------------------------------------------------------------------------


def logged(message: str, state: dict[str, Any], level: str = "info") -> Event:
    events: list[Event] = []
    log(state, make_ctx(events), message=message, level=level)
    (event,) = events
    return event


def test_log_interpolates_state_keys() -> None:
    event = logged(
        "step {n} of {total}: {name!r} {ratio:.2f}", {"n": 2, "total": 5, "name": "x", "ratio": 0.5}
    )
    assert event.type is EventType.LOG
    assert event.data == {"message": "step 2 of 5: 'x' 0.50", "level": "info"}
    assert (event.run_id, event.node, event.step) == ("r", "n", 1)


def test_log_keeps_unknown_keys_and_escaped_braces() -> None:
    assert logged("{missing} {{literal}}", {}).data["message"] == "{missing} {literal}"


def test_log_level() -> None:
    assert logged("careful", {}, level="warning").data["level"] == "warning"


@pytest.mark.parametrize(
    "message",
    [
        "{x.__class__}",
        "{x.__class__.__init__.__globals__}",
        "{x[0]}",
        "{x[__class__]}",
        "{0}",
        "{}",
        "{x:{x.__class__}}",
    ],
)
def test_log_refuses_attribute_index_and_positional_fields(message: str) -> None:
    events: list[Event] = []
    with pytest.raises(ValueError, match="log: "):
        log({"x": [1, 2]}, make_ctx(events), message=message)
    assert events == []


@pytest.mark.parametrize(
    "message", ["{x:>999999999}", "{x:.999999999}", "{x:{w}}", f"{{x:0>{MAX_FORMAT_WIDTH + 1}}}"]
)
def test_log_refuses_huge_padding(message: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ValueError, match="width or precision"):
        log({"x": 1.5, "w": "999999999"}, make_ctx([]), message=message)
    assert time.perf_counter() - started < 0.5


def test_log_allows_reasonable_padding() -> None:
    assert logged(f"{{x:>{MAX_FORMAT_WIDTH}}}", {"x": "a"}).data["message"] == "a".rjust(
        MAX_FORMAT_WIDTH
    )


# -- in a graph --------------------------------------------------------------------------------


async def test_builtins_in_a_graph() -> None:
    g = Graph("builtins")
    g.add_node("init", tool="set", args={"name": "world", "n": 1})
    g.add_node("inc", tool="increment", args={"key": "n", "by": 2})
    g.add_node("nap", tool="sleep", args={"seconds": 0.001})
    g.add_node("say", tool="log", args={"message": "hello {name}, n={n}", "level": "debug"})
    g.add_node("noop")
    for a, b in [("init", "inc"), ("inc", "nap"), ("nap", "say"), ("say", "noop"), ("noop", END)]:
        g.add_edge(a, b)
    sink = MemoryEventSink()
    result = await g.compile().ainvoke({}, sink=sink)
    assert result.status is RunStatus.COMPLETED
    assert result.state == {"name": "world", "n": 3}
    (event,) = [e for e in sink.events if e.type is EventType.LOG]
    assert event.data == {"message": "hello world, n=3", "level": "debug"}
    assert event.node == "say" and event.step == 4


async def test_fail_in_a_graph_fails_the_run() -> None:
    g = Graph().add_node("boom", tool="fail", args={"message": "no way"}).add_edge("boom", END)
    result = await g.compile().ainvoke({})
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error["type"] == "ToolFailureError"
    assert result.error["message"] == "no way"
    assert result.error["node"] == "boom"
