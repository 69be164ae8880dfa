"""Fixtures shared by the engine tests."""

from __future__ import annotations

import pytest

from graphrun.engine import ToolRegistry, default_registry


@pytest.fixture
def tools() -> ToolRegistry:
    """A private registry holding the built-in tools, so tests can add their own."""
    registry = ToolRegistry()
    registry._entry_points_loaded = True  # no installed plugins in these tests
    for t in default_registry:
        registry.register(t)
    return registry
