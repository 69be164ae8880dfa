"""Per-node policies: retry with backoff, timeout, cache."""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retry a failing node.

    ``max_attempts`` counts the first try. The n-th retry waits
    ``min(max_delay, initial_delay * backoff ** (n - 1))``, with "equal jitter" (half fixed,
    half random) so that many runs failing together do not retry in lockstep.
    ``retry_on`` names exception classes (matched against the class and its bases by
    name, so specs can name them; classes given instead are stored by name); empty means
    every ``Exception``.
    """

    max_attempts: int = 3
    initial_delay: float = 0.1
    backoff: float = 2.0
    max_delay: float = 10.0
    jitter: bool = True
    retry_on: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # retry_on="ValueError" or (ValueError,) would otherwise never match anything.
        retry_on: Any = self.retry_on
        if isinstance(retry_on, str | type):
            retry_on = (retry_on,)
        object.__setattr__(self, "retry_on", names_of(tuple(retry_on)))
        if self.max_attempts < 1:
            raise ValueError("retry.max_attempts must be at least 1")
        if self.initial_delay < 0 or self.max_delay < 0:
            raise ValueError("retry delays must not be negative")
        if self.backoff < 1:
            raise ValueError("retry.backoff must be at least 1")

    def should_retry(self, exc: BaseException, attempt: int) -> bool:
        if attempt >= self.max_attempts or not isinstance(exc, Exception):
            return False
        if not self.retry_on:
            return True
        names = {cls.__name__ for cls in type(exc).__mro__} | {
            f"{cls.__module__}.{cls.__qualname__}" for cls in type(exc).__mro__
        }
        return any(name in names for name in self.retry_on)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        base = self.initial_delay
        # Grow step by step, stopping at the cap: backoff ** attempt overflows a float
        # after ~1000 attempts of a "retry for a long time" policy.
        for _ in range(attempt - 1):
            if base >= self.max_delay or base == 0 or self.backoff == 1:
                break
            base *= self.backoff
        base = min(self.max_delay, base)
        if not self.jitter:
            return base
        return base / 2 + random.uniform(0, base / 2)


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """Reuse a node's update when it runs again on the same inputs.

    The key is the node's name, its static args and the values of ``keys`` (all of the
    state when ``keys`` is empty). ``ttl`` is in seconds; ``None`` keeps entries until
    the cache (bounded, least recently used first) evicts them.
    """

    keys: tuple[str, ...] = ()
    ttl: float | None = None
    max_entries: int = 1024

    def __post_init__(self) -> None:
        if isinstance(self.keys, str):
            object.__setattr__(self, "keys", (self.keys,))
        else:
            object.__setattr__(self, "keys", tuple(self.keys))
        if self.ttl is not None and not self.ttl > 0:
            raise ValueError("cache.ttl must be positive (or None to keep entries)")
        if self.max_entries < 1:
            raise ValueError("cache.max_entries must be at least 1")


@dataclass(frozen=True, slots=True)
class NodePolicies:
    """Defaults for every node of a graph; a node's own setting wins."""

    retry: RetryPolicy | None = None
    timeout: float | None = None
    cache: CachePolicy | None = None


@dataclass(slots=True)
class NodeCache:
    """An LRU map from an input key to a node's update."""

    policy: CachePolicy
    _entries: OrderedDict[str, tuple[float, Any]] = field(default_factory=OrderedDict)
    hits: int = 0
    misses: int = 0

    def key(self, node: str, args: Mapping[str, Any], state: Mapping[str, Any]) -> str | None:
        inputs: Any = (
            {k: state.get(k) for k in self.policy.keys} if self.policy.keys else dict(state)
        )
        try:
            raw = json.dumps([node, dict(args), inputs], sort_keys=True, default=_no_default)
        except (TypeError, ValueError):
            return None  # inputs that are not JSON are never cached
        return hashlib.sha256(raw.encode()).hexdigest()

    def get(self, key: str) -> tuple[bool, Any]:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return False, None
        stored_at, value = entry
        if self.policy.ttl is not None and time.monotonic() - stored_at > self.policy.ttl:
            del self._entries[key]
            self.misses += 1
            return False, None
        self._entries.move_to_end(key)
        self.hits += 1
        return True, value

    def put(self, key: str, value: Any) -> None:
        self._entries[key] = (time.monotonic(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.policy.max_entries:
            self._entries.popitem(last=False)


def _no_default(obj: object) -> Any:
    raise TypeError(f"{type(obj).__name__} is not JSON")


def names_of(exceptions: Sequence[type[BaseException] | str]) -> tuple[str, ...]:
    """Exception classes or names → names, for :class:`RetryPolicy.retry_on`."""
    return tuple(e if isinstance(e, str) else e.__name__ for e in exceptions)
