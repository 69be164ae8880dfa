"""Live event delivery: publish a run's committed events to its subscribers."""

from graphrun.bus.base import EventBus, Subscription
from graphrun.bus.memory import InProcessBus

__all__ = ["EventBus", "InProcessBus", "Subscription"]
