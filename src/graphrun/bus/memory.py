"""The embedded default: subscribers in this process."""

from __future__ import annotations

from collections.abc import Sequence

from graphrun.bus.base import Subscription
from graphrun.engine.events import Event


class InProcessBus:
    """Fans a run's events out to its subscribers. Publishing never blocks and never
    waits for a subscriber; it must be called on the event loop's thread (or through
    :meth:`publish_threadsafe`)."""

    def __init__(self) -> None:
        self._subs: dict[str, set[Subscription]] = {}

    def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        by_run: dict[str, list[Event]] = {}
        for e in events:
            by_run.setdefault(e.run_id, []).append(e)
        for run_id, run_events in by_run.items():
            for sub in list(self._subs.get(run_id, ())):
                sub.push(run_events)

    def subscribe(self, run_id: str, maxsize: int = 1000) -> Subscription:
        sub = Subscription(run_id, maxsize, self._forget)
        self._subs.setdefault(run_id, set()).add(sub)
        return sub

    def subscriber_count(self, run_id: str) -> int:
        return len(self._subs.get(run_id, ()))

    def _forget(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.run_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.run_id]
