"""Retries with backoff, timeouts and caching, as the executor applies them."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from typing import Any

from graphrun.engine import (
    END,
    Branch,
    CachePolicy,
    Event,
    EventType,
    Executor,
    Graph,
    MemoryEventSink,
    NodePolicies,
    RetryPolicy,
    RunStatus,
)

FAST = {"initial_delay": 0.001, "max_delay": 0.01, "jitter": False}


class Flaky:
    """Fails ``failures`` times with ``exc``, then returns an update."""

    def __init__(self, failures: int, exc: type[Exception] = ConnectionError) -> None:
        self.failures = failures
        self.exc = exc
        self.calls = 0

    def __call__(self, state: Mapping[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc(f"attempt {self.calls} failed")
        return {"calls": self.calls}


async def run(g: Graph, state: dict[str, Any] | None = None) -> tuple[Any, list[Event]]:
    sink = MemoryEventSink()
    result = await Executor(g.compile(), sink=sink).start(state or {})
    return result, sink.events


def single(fn: Any, **policies: Any) -> Graph:
    return Graph().add_node("n", fn, **policies).add_edge("n", END)


# -- retries --------------------------------------------------------------------------------


async def test_a_flaky_node_succeeds_within_its_attempts() -> None:
    flaky = Flaky(2)
    result, events = await run(single(flaky, retry=RetryPolicy(max_attempts=3, **FAST)))
    assert result.status is RunStatus.COMPLETED
    assert result.state == {"calls": 3}
    retrying = [e for e in events if e.type is EventType.NODE_RETRYING]
    assert [e.data["attempt"] for e in retrying] == [1, 2]
    assert retrying[0].data["error"] == "ConnectionError: attempt 1 failed"
    assert [e.data["delay_s"] for e in retrying] == [0.001, 0.002]
    assert all(e.node == "n" and e.step == 1 for e in retrying)
    assert [e.type for e in events].count(EventType.NODE_COMPLETED) == 1
    assert EventType.NODE_FAILED not in [e.type for e in events]


async def test_retries_run_out() -> None:
    flaky = Flaky(10)
    result, events = await run(single(flaky, retry=RetryPolicy(max_attempts=3, **FAST)))
    assert result.status is RunStatus.FAILED
    assert flaky.calls == 3
    assert result.error is not None
    assert (result.error["attempts"], result.error["message"]) == (3, "attempt 3 failed")
    types = [e.type for e in events]
    assert types.count(EventType.NODE_RETRYING) == 2
    assert types.count(EventType.NODE_FAILED) == 1


async def test_an_int_retry_means_attempts() -> None:
    flaky = Flaky(1)
    result, events = await run(single(flaky, retry=2))  # one retry, after 0.05-0.1 s
    assert result.status is RunStatus.COMPLETED and flaky.calls == 2
    (retry,) = [e for e in events if e.type is EventType.NODE_RETRYING]
    assert 0.05 <= retry.data["delay_s"] <= 0.1


async def test_only_the_named_exceptions_are_retried() -> None:
    flaky = Flaky(1, exc=ValueError)
    policy = RetryPolicy(max_attempts=5, retry_on=("ConnectionError",), **FAST)
    result, events = await run(single(flaky, retry=policy))
    assert result.status is RunStatus.FAILED
    assert flaky.calls == 1
    assert EventType.NODE_RETRYING not in [e.type for e in events]
    assert result.error is not None and result.error["type"] == "ValueError"

    flaky2 = Flaky(1, exc=ConnectionResetError)  # a subclass of the named class
    result2, _ = await run(single(flaky2, retry=policy))
    assert result2.status is RunStatus.COMPLETED and flaky2.calls == 2


async def test_backoff_waits_between_attempts() -> None:
    flaky = Flaky(3)
    policy = RetryPolicy(max_attempts=4, initial_delay=0.02, backoff=2, jitter=False)
    started = time.perf_counter()
    result, _ = await run(single(flaky, retry=policy))
    elapsed = time.perf_counter() - started
    assert result.status is RunStatus.COMPLETED
    assert elapsed >= 0.02 + 0.04 + 0.08 - 0.005


async def test_graph_default_retry_applies_to_every_node() -> None:
    a, b = Flaky(1), Flaky(2)
    g = Graph(defaults=NodePolicies(retry=RetryPolicy(max_attempts=3, **FAST)))
    g.add_node("a", a).add_node("b", b).add_edge("a", "b").add_edge("b", END)
    result, _ = await run(g)
    assert result.status is RunStatus.COMPLETED
    assert (a.calls, b.calls) == (2, 3)


async def test_retrying_an_async_node() -> None:
    calls = 0

    async def flaky(state: Mapping[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise TimeoutError("upstream")
        return {"ok": True}

    result, _ = await run(single(flaky, retry=RetryPolicy(max_attempts=2, **FAST)))
    assert result.status is RunStatus.COMPLETED and calls == 2


async def test_ctx_attempt_counts_retries() -> None:
    attempts: list[int] = []

    def node(state: Mapping[str, Any], ctx: Any) -> None:
        attempts.append(ctx.attempt)
        if ctx.attempt < 3:
            raise RuntimeError("again")

    result, _ = await run(single(node, retry=RetryPolicy(max_attempts=3, **FAST)))
    assert result.status is RunStatus.COMPLETED and attempts == [1, 2, 3]


# -- timeouts ---------------------------------------------------------------------------------


async def test_an_async_node_times_out() -> None:
    async def slow(state: Mapping[str, Any]) -> None:
        await asyncio.sleep(5)

    started = time.perf_counter()
    result, events = await run(single(slow, timeout=0.05))
    assert time.perf_counter() - started < 1
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error["type"] == "NodeTimeoutError"
    assert result.error["message"] == "node 'n' timed out after 0.05s"
    (failed,) = [e for e in events if e.type is EventType.NODE_FAILED]
    assert failed.data["type"] == "NodeTimeoutError"


async def test_a_sync_node_times_out_in_its_thread() -> None:
    release = threading.Event()

    def stuck(state: Mapping[str, Any]) -> None:
        release.wait(5)

    started = time.perf_counter()
    try:
        result, _ = await run(single(stuck, timeout=0.05))
    finally:
        release.set()
    assert time.perf_counter() - started < 1
    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error["type"] == "NodeTimeoutError"


async def test_an_inline_node_with_a_timeout_can_time_out() -> None:
    release = threading.Event()

    def stuck(state: Mapping[str, Any]) -> None:
        release.wait(5)

    try:
        result, _ = await run(single(stuck, inline=True, timeout=0.05))
    finally:
        release.set()
    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error["type"] == "NodeTimeoutError"


async def test_a_timed_out_attempt_is_retried() -> None:
    calls = 0

    async def slow_once(state: Mapping[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(5)
        return {"calls": calls}

    result, events = await run(
        single(slow_once, timeout=0.05, retry=RetryPolicy(max_attempts=2, **FAST))
    )
    assert result.status is RunStatus.COMPLETED and result.state == {"calls": 2}
    (retry,) = [e for e in events if e.type is EventType.NODE_RETRYING]
    assert retry.data["error"] == "NodeTimeoutError: node 'n' timed out after 0.05s"


async def test_a_fast_node_is_not_affected_by_its_timeout() -> None:
    async def quick(state: Mapping[str, Any]) -> dict[str, Any]:
        return {"ok": 1}

    result, _ = await run(single(quick, timeout=5))
    assert result.status is RunStatus.COMPLETED


async def test_an_own_timeout_error_without_a_timeout_policy_is_a_plain_failure() -> None:
    async def raises(state: Mapping[str, Any]) -> None:
        raise TimeoutError("the API timed out")

    result, _ = await run(single(raises))
    assert result.error is not None
    assert (result.error["type"], result.error["message"]) == ("TimeoutError", "the API timed out")


# -- cache ----------------------------------------------------------------------------------


async def test_a_cached_node_runs_once_per_input() -> None:
    calls: list[int] = []

    def square(state: Mapping[str, Any]) -> dict[str, Any]:
        calls.append(state["x"])
        return {"y": state["x"] ** 2}

    compiled = single(square, cache=True).compile()
    results = [await Executor(compiled).start({"x": x}) for x in (2, 3, 2, 2)]
    assert [r.state["y"] for r in results] == [4, 9, 4, 4]
    assert calls == [2, 3]
    node_cache = compiled.nodes["n"].cache
    assert node_cache is not None and (node_cache.hits, node_cache.misses) == (2, 2)


async def test_the_cache_key_can_be_limited_to_some_keys() -> None:
    calls = 0

    def fetch(state: Mapping[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return {"page": f"content of {state['url']}"}

    compiled = single(fetch, cache=CachePolicy(keys=("url",))).compile()
    one = await Executor(compiled).start({"url": "a", "noise": 1})
    two = await Executor(compiled).start({"url": "a", "noise": 2})
    three = await Executor(compiled).start({"url": "b", "noise": 2})
    assert calls == 2
    assert one.state["page"] == two.state["page"] == "content of a"
    assert three.state["page"] == "content of b"


async def test_a_cache_hit_still_reports_the_node() -> None:
    compiled = single(lambda s: {"v": 1}, cache=True).compile()
    await Executor(compiled).start({})
    sink = MemoryEventSink()
    await Executor(compiled, sink=sink).start({})
    (completed,) = [e for e in sink.events if e.type is EventType.NODE_COMPLETED]
    assert completed.data["update"] == {"v": 1}


async def test_a_failure_is_not_cached() -> None:
    flaky = Flaky(1)
    compiled = single(flaky, cache=True).compile()
    first = await Executor(compiled).start({})
    second = await Executor(compiled).start({})
    third = await Executor(compiled).start({})
    assert (first.status, second.status, third.status) == (
        RunStatus.FAILED,
        RunStatus.COMPLETED,
        RunStatus.COMPLETED,
    )
    assert flaky.calls == 2


async def test_a_loop_reuses_the_cache_within_a_run() -> None:
    calls = 0

    def lookup(state: Mapping[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return {"looked_up": True}

    g = Graph().add_node("lookup", lookup, cache=CachePolicy(keys=("q",)))
    g.add_node("inc", tool="increment", args={"key": "i"})
    g.add_edge("lookup", "inc")
    g.add_conditional_edges("inc", [Branch("lookup", "i < 4"), Branch(END)])
    result, _ = await run(g, {"q": "same", "i": 0})
    assert result.state["i"] == 4 and calls == 1
