"""Fixtures for the crash-recovery tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.durability.recording_tools import EXECUTION_LOG_ENV


@pytest.fixture
def execution_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The file where ``recorded_step`` records executions in this process."""
    path = tmp_path / "executions.jsonl"
    monkeypatch.setenv(EXECUTION_LOG_ENV, str(path))
    return path
