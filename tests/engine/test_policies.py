"""Retry, timeout and cache policies."""

from __future__ import annotations

import random

import pytest

from graphrun.engine import CachePolicy, NodePolicies, RetryPolicy
from graphrun.engine import policies as policies_module
from graphrun.engine.policies import NodeCache, names_of


class TransientError(Exception):
    pass


class FlakyNetworkError(TransientError):
    pass


# -- retry ---------------------------------------------------------------------------------


def test_retry_defaults() -> None:
    p = RetryPolicy()
    assert (p.max_attempts, p.initial_delay, p.backoff, p.max_delay, p.jitter, p.retry_on) == (
        3,
        0.1,
        2.0,
        10.0,
        True,
        (),
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_attempts": 0}, "max_attempts must be at least 1"),
        ({"initial_delay": -1}, "delays must not be negative"),
        ({"max_delay": -0.1}, "delays must not be negative"),
        ({"backoff": 0.5}, "backoff must be at least 1"),
    ],
)
def test_retry_policy_validation(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_attempts_count_the_first_try() -> None:
    p = RetryPolicy(max_attempts=3)
    exc = RuntimeError("x")
    assert [p.should_retry(exc, attempt) for attempt in (1, 2, 3, 4)] == [True, True, False, False]
    assert RetryPolicy(max_attempts=1).should_retry(exc, 1) is False


def test_only_exceptions_are_retried() -> None:
    p = RetryPolicy(max_attempts=5)
    assert p.should_retry(KeyboardInterrupt(), 1) is False
    assert p.should_retry(SystemExit(), 1) is False


def test_retry_on_matches_class_names_and_their_bases() -> None:
    p = RetryPolicy(max_attempts=5, retry_on=("TransientError",))
    assert p.should_retry(TransientError(), 1)
    assert p.should_retry(FlakyNetworkError(), 1)  # a subclass
    assert not p.should_retry(ValueError(), 1)
    qualified = f"{__name__}.TransientError"
    assert RetryPolicy(retry_on=(qualified,)).should_retry(FlakyNetworkError(), 1)
    assert RetryPolicy(retry_on=("builtins.OSError",)).should_retry(ConnectionError(), 1)
    assert RetryPolicy(retry_on=("Exception",)).should_retry(ValueError(), 1)


def test_retry_on_accepts_a_single_name_or_classes() -> None:
    single = RetryPolicy(retry_on="TransientError")  # type: ignore[arg-type]
    assert single.retry_on == ("TransientError",)
    assert single.should_retry(TransientError(), 1)
    assert not single.should_retry(ValueError(), 1)
    classes = RetryPolicy(retry_on=(TransientError, "ValueError"))  # type: ignore[arg-type]
    assert classes.retry_on == ("TransientError", "ValueError")
    assert classes.should_retry(FlakyNetworkError(), 1)
    assert RetryPolicy(retry_on=[KeyError]).retry_on == ("KeyError",)  # type: ignore[arg-type]


def test_names_of() -> None:
    assert names_of([ValueError, "KeyError", TransientError]) == (
        "ValueError",
        "KeyError",
        "TransientError",
    )


def test_backoff_is_exponential_and_capped() -> None:
    p = RetryPolicy(max_attempts=10, initial_delay=0.5, backoff=3.0, max_delay=10.0, jitter=False)
    assert [p.delay(n) for n in range(1, 6)] == [0.5, 1.5, 4.5, 10.0, 10.0]


def test_backoff_for_very_many_attempts_stays_at_the_cap() -> None:
    p = RetryPolicy(max_attempts=100_000, initial_delay=0.1, max_delay=2.0, jitter=False)
    assert p.delay(1025) == 2.0  # 2.0 ** 1024 would overflow a float
    assert p.delay(99_999) == 2.0
    assert RetryPolicy(initial_delay=0.5, backoff=1, jitter=False).delay(10**6) == 0.5


def test_jitter_stays_between_half_and_the_full_delay() -> None:
    p = RetryPolicy(initial_delay=1.0, backoff=2.0, max_delay=100.0)
    rng_state = random.getstate()
    try:
        random.seed(1234)
        delays = [p.delay(3) for _ in range(500)]
    finally:
        random.setstate(rng_state)
    assert all(2.0 <= d <= 4.0 for d in delays)
    assert len(set(delays)) > 400, "jitter must spread the retries"
    assert min(delays) < 2.4 and max(delays) > 3.6


def test_zero_delay_retries_at_once() -> None:
    assert RetryPolicy(initial_delay=0).delay(5) == 0


# -- node policies -------------------------------------------------------------------------


def test_node_policies_default_to_nothing() -> None:
    assert NodePolicies() == NodePolicies(retry=None, timeout=None, cache=None)


# -- cache ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ttl": 0}, "ttl must be positive"),
        ({"ttl": -5}, "ttl must be positive"),
        ({"max_entries": 0}, "max_entries must be at least 1"),
    ],
)
def test_cache_policy_validation(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CachePolicy(**kwargs)  # type: ignore[arg-type]


def test_cache_keys_are_normalised_to_a_tuple() -> None:
    assert CachePolicy(keys="query").keys == ("query",)  # type: ignore[arg-type]
    assert CachePolicy(keys=["a", "b"]).keys == ("a", "b")  # type: ignore[arg-type]


def test_the_cache_key_depends_on_node_args_and_inputs() -> None:
    cache = NodeCache(CachePolicy())
    base = cache.key("n", {"a": 1}, {"x": 1, "y": [1, 2]})
    assert base is not None and len(base) == 64
    assert cache.key("n", {"a": 1}, {"y": [1, 2], "x": 1}) == base  # key order is irrelevant
    assert cache.key("m", {"a": 1}, {"x": 1, "y": [1, 2]}) != base
    assert cache.key("n", {"a": 2}, {"x": 1, "y": [1, 2]}) != base
    assert cache.key("n", {"a": 1}, {"x": 2, "y": [1, 2]}) != base


def test_the_cache_key_reads_only_the_chosen_keys() -> None:
    cache = NodeCache(CachePolicy(keys=("x",)))
    assert cache.key("n", {}, {"x": 1, "noise": 1}) == cache.key("n", {}, {"x": 1, "noise": 2})
    assert cache.key("n", {}, {"x": 1}) != cache.key("n", {}, {"x": 2})
    assert cache.key("n", {}, {}) == cache.key("n", {}, {"x": None})


def test_inputs_that_are_not_json_are_never_cached() -> None:
    cache = NodeCache(CachePolicy())
    assert cache.key("n", {}, {"x": object()}) is None
    assert cache.key("n", {}, {"x": {1, 2}}) is None
    looped: list[object] = []
    looped.append(looped)
    assert cache.key("n", {}, {"x": looped}) is None


def test_get_and_put_count_hits_and_misses() -> None:
    cache = NodeCache(CachePolicy())
    assert cache.get("k") == (False, None)
    cache.put("k", {"out": 1})
    assert cache.get("k") == (True, {"out": 1})
    cache.put("none", None)
    assert cache.get("none") == (True, None)  # a node that returned nothing is cached too
    assert (cache.hits, cache.misses) == (2, 1)


def test_entries_expire_after_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(policies_module.time, "monotonic", lambda: now[0])
    cache = NodeCache(CachePolicy(ttl=10))
    cache.put("k", 1)
    now[0] += 9.9
    assert cache.get("k") == (True, 1)
    now[0] += 0.2
    assert cache.get("k") == (False, None)
    assert cache.get("k") == (False, None)  # dropped, not only hidden
    assert cache.misses == 2


def test_least_recently_used_entries_are_evicted() -> None:
    cache = NodeCache(CachePolicy(max_entries=2))
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == (True, 1)  # now b is the least recently used
    cache.put("c", 3)
    assert cache.get("b") == (False, None)
    assert cache.get("a") == (True, 1)
    assert cache.get("c") == (True, 3)
    cache.put("a", 10)  # replacing keeps the size
    assert cache.get("a") == (True, 10) and cache.get("c") == (True, 3)
