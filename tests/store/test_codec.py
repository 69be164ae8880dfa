"""Encoding step records: the copy ``save`` takes, and state sizes kept key by key."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphrun.engine import Event, EventType, RunStatus, StepRecord
from graphrun.store._codec import StateSize, decode, encode, prepare
from graphrun.store.errors import StateNotSerializableError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
states = st.dictionaries(st.text(max_size=6), json_values, max_size=6)


@settings(max_examples=50, deadline=None)
@given(first=states, deltas=st.lists(states, max_size=5))
def test_state_size_equals_the_size_of_the_encoded_state(
    first: dict[str, Any], deltas: list[dict[str, Any]]
) -> None:
    size = StateSize()
    size.reset(first)
    state = dict(first)
    for delta in deltas:
        size.update(delta)
        state.update(delta)
        assert size.total == len(encode(state))
    assert encode(state) == json.dumps(state, separators=(",", ":"))


@settings(max_examples=50, deadline=None)
@given(names=st.lists(st.text(max_size=5), max_size=4))
def test_node_lists_decode_to_what_was_given(names: list[str]) -> None:
    record = StepRecord("r", 1, "checkpoint", RunStatus.RUNNING, [], delta={}, pending=names)
    assert decode(prepare(record).pending or "") == names


def _record(**overrides: Any) -> StepRecord:
    fields: dict[str, Any] = {
        "run_id": "r",
        "step": 3,
        "kind": "checkpoint",
        "status": RunStatus.RUNNING,
        "events": [],
        "delta": {"n": 3},
    }
    fields.update(overrides)
    return StepRecord(**fields)


def test_prepare_names_the_part_that_is_not_json() -> None:
    with pytest.raises(StateNotSerializableError, match="run 'r' step 3: the error is not JSON"):
        prepare(_record(error={"when": time}))
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(StateNotSerializableError, match="the state is not JSON"):
        prepare(_record(snapshot={"loop": loop}))


def test_prepare_refuses_events_with_gaps() -> None:
    events = [Event(s, EventType.LOG, "r", None, 3, {}, 0.0) for s in (4, 6)]
    with pytest.raises(ValueError, match=r"event seqs \[4, 6\] are not consecutive"):
        prepare(_record(events=events))


def test_only_records_that_move_the_run_set_its_status_and_pending() -> None:
    running = prepare(_record(kind="events", pending=["x"]))
    assert (running.sets_status, running.pending) == (False, None)
    started = prepare(
        _record(kind="events", events=[Event(2, EventType.RUN_STARTED, "r", None, None)])
    )
    assert started.sets_status
    paused = prepare(_record(kind="events", status=RunStatus.INTERRUPTED, pending=["x"]))
    assert (paused.sets_status, paused.pending, paused.final) == (True, '["x"]', False)
    failed = prepare(_record(kind="events", status=RunStatus.FAILED))
    assert (failed.sets_status, failed.pending, failed.final) == (True, "[]", True)
