"""The in-process bus: ordered fan-out, bounded subscribers that never slow publishers."""

from __future__ import annotations

import asyncio

from graphrun.bus.memory import InProcessBus
from graphrun.engine.events import Event, EventType


def _events(run_id: str, start: int, count: int) -> list[Event]:
    return [Event(seq, EventType.LOG, run_id) for seq in range(start, start + count)]


async def test_every_subscriber_gets_its_runs_events_in_order() -> None:
    bus = InProcessBus()
    a, b = bus.subscribe("r1", maxsize=10), bus.subscribe("r1", maxsize=10)
    other = bus.subscribe("r2", maxsize=10)
    bus.publish(_events("r1", 1, 3) + _events("r2", 1, 1))
    for sub in (a, b):
        got = [await sub.get() for _ in range(3)]
        assert [e.seq for e in got if e] == [1, 2, 3]
    only = await other.get()
    assert only is not None and only.run_id == "r2"
    assert bus.subscriber_count("r1") == 2


async def test_a_subscriber_that_falls_behind_is_closed_and_others_keep_going() -> None:
    bus = InProcessBus()
    slow = bus.subscribe("r", maxsize=5)
    fast = bus.subscribe("r", maxsize=100)
    bus.publish(_events("r", 1, 20))  # returns at once: publishing never waits
    assert slow.overflowed and slow.closed
    got = [await slow.get() for _ in range(6)]
    assert [e.seq for e in got if e] == [1, 2, 3, 4, 5]
    assert got[-1] is None  # closed, drained
    assert not fast.overflowed
    assert [(await fast.get()).seq for _ in range(20)] == list(range(1, 21))  # type: ignore[union-attr]
    assert bus.subscriber_count("r") == 1


async def test_close_wakes_a_waiting_reader_and_forgets_the_subscriber() -> None:
    bus = InProcessBus()
    sub = bus.subscribe("r", maxsize=5)
    reader = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    sub.close()
    assert await asyncio.wait_for(reader, 1) is None
    assert bus.subscriber_count("r") == 0
    bus.publish(_events("r", 1, 1))  # nobody listening: no error
