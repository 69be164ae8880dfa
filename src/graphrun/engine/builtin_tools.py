"""Utility tools every graph can use from a spec: noop, set, increment, sleep, log, fail."""

from __future__ import annotations

import asyncio
import re
import string
from collections.abc import Mapping
from typing import Any

from graphrun.engine.context import NodeContext
from graphrun.engine.tools import tool


class ToolFailureError(Exception):
    """Raised by the ``fail`` tool."""


@tool("noop", inline=True)
def noop(state: Mapping[str, Any]) -> None:
    """Do nothing."""
    return


@tool("set", inline=True)
def set_values(state: Mapping[str, Any], /, **values: Any) -> dict[str, Any]:
    """Set state keys to the given values (the tool's args are the keys)."""
    return dict(values)


@tool("increment", inline=True)
def increment(state: Mapping[str, Any], key: str = "counter", by: float = 1) -> dict[str, Any]:
    """Add ``by`` (default 1) to the number under ``key`` (missing counts as 0)."""
    current = state.get(key, 0)
    if not isinstance(current, int | float) or isinstance(current, bool):
        raise TypeError(
            f"increment: state key {key!r} holds {type(current).__name__}, not a number"
        )
    return {key: current + by}


@tool("sleep")
async def sleep(state: Mapping[str, Any], seconds: float = 0.1) -> None:
    """Wait ``seconds`` without blocking other runs."""
    await asyncio.sleep(float(seconds))


MAX_FORMAT_WIDTH = 1_000
"""Largest width or precision a ``log`` message's format spec may ask for."""


class _StateFormatter(string.Formatter):
    """``{key}`` reads a state key; attribute and index lookups are refused."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        if not field_name.isidentifier():
            raise ValueError(f"log: only plain state keys may be interpolated, not {field_name!r}")
        return super().get_field(field_name, args, kwargs)

    def get_value(self, key: int | str, args: Any, kwargs: Any) -> Any:
        if isinstance(key, int):
            raise ValueError("log: positional fields are not supported")
        return kwargs.get(key, "{" + key + "}")

    def format_field(self, value: Any, format_spec: str) -> Any:
        # A width or precision such as '{x:>999999999}' would build a gigabyte string.
        for number in re.findall(r"\d+", format_spec):
            if int(number) > MAX_FORMAT_WIDTH:
                raise ValueError(
                    f"log: width or precision {number} in {format_spec!r} is larger than "
                    f"{MAX_FORMAT_WIDTH}"
                )
        return super().format_field(value, format_spec)


_formatter = _StateFormatter()


@tool("log", inline=True)
def log(state: Mapping[str, Any], ctx: NodeContext, message: str = "", level: str = "info") -> None:
    """Write a log event; ``{key}`` in the message is replaced by that state value."""
    ctx.log(_formatter.vformat(message, (), dict(state)), level=level)


@tool("fail", inline=True)
def fail(state: Mapping[str, Any], message: str = "failed on purpose") -> None:
    """Raise an error with ``message`` (for testing failure paths)."""
    raise ToolFailureError(message)
