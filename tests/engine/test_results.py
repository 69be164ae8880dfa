"""What a failed node leaves for the run's error view."""

from __future__ import annotations

from graphrun.engine.results import NodeFailedError


def test_a_node_failure_carries_type_message_traceback_and_attempts() -> None:
    try:
        raise KeyError("missing")
    except KeyError as exc:
        failure = NodeFailedError("fetch", exc, attempts=3)
    assert failure.info["node"] == "fetch"
    assert failure.info["type"] == "KeyError"
    assert failure.info["message"] == "'missing'"
    assert failure.info["attempts"] == 3
    assert "Traceback" in failure.info["traceback"]
    assert 'raise KeyError("missing")' in failure.info["traceback"]
    assert str(failure) == "node 'fetch' failed: KeyError: 'missing'"
