"""A tool module loaded through the GRAPHRUN_TOOL_MODULES setting in tests."""

from __future__ import annotations

from typing import Any

from graphrun.engine.tools import tool


@tool("plugin_echo", inline=True)
def plugin_echo(state: dict[str, Any], key: str = "echo") -> dict[str, Any]:
    """Copy the state's `message` under `key`."""
    return {key: state.get("message")}
