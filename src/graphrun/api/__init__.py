"""The HTTP/WebSocket service. ``uvicorn graphrun.api:app`` serves it."""

from functools import cache
from typing import Any

from fastapi import FastAPI

from graphrun.api.application import create_app

__all__ = ["app", "create_app"]


@cache
def _default_app() -> FastAPI:
    return create_app()


def __getattr__(name: str) -> Any:
    # Built from the environment on first use, so importing the package opens nothing.
    if name == "app":
        return _default_app()
    raise AttributeError(name)
