"""The event bus protocol and the bounded per-subscriber queue."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol

from graphrun.engine.events import Event


class Subscription:
    """One subscriber's bounded buffer of one run's events.

    A subscriber that falls ``maxsize`` events behind is dropped (``overflowed``) rather
    than slowing the run or growing without bound; it can reconnect from its last seq.
    """

    def __init__(self, run_id: str, maxsize: int, on_close: Callable[[Subscription], None]) -> None:
        self.run_id = run_id
        self.maxsize = maxsize
        self.overflowed = False
        self.closed = False
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize + 1)
        self._on_close = on_close

    def push(self, events: Sequence[Event]) -> None:
        """Called by the bus on the event loop's thread."""
        if self.closed:
            return
        for event in events:
            if self._queue.qsize() >= self.maxsize:
                self.overflowed = True
                self.close()
                return
            self._queue.put_nowait(event)

    async def get(self) -> Event | None:
        """The next event, or None once the subscription is closed and drained."""
        if self.closed and self._queue.empty():
            return None
        return await self._queue.get()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._on_close(self)
        # Wakes a reader blocked in get(); the slot is reserved by maxsize + 1.
        self._queue.put_nowait(None)


class EventBus(Protocol):
    """An EventSink that subscribers can attach to, run by run."""

    def publish(self, events: Sequence[Event]) -> None: ...

    def subscribe(self, run_id: str, maxsize: int) -> Subscription: ...

    def subscriber_count(self, run_id: str) -> int: ...
