"""Structured logging: JSON lines to a rotating file and a readable console.

Lines written while a node runs carry ``run_id``, ``graph_id``, ``node`` and ``step``: the
engine publishes them in a context variable that a processor here reads, so the engine
itself needs no logging library.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import structlog

from graphrun.engine.context import where_now

_configured = False


def _add_run_context(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in where_now().items():
        event_dict.setdefault(key, value)
    return event_dict


def configure_logging(
    *,
    level: str = "INFO",
    log_file: Path | None = None,
    max_bytes: int = 1_000_000,
    backups: int = 5,
    console: bool = True,
) -> None:
    """Route structlog and the standard library's logging to the console and a file."""
    global _configured
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        _add_run_context,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_graphrun", False):
            root.removeHandler(handler)
            handler.close()
    if console:
        out = logging.StreamHandler(sys.stderr)
        out.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
                ],
                foreign_pre_chain=shared,
            )
        )
        out._graphrun = True  # type: ignore[attr-defined]
        root.addHandler(out)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        jsonl = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
        jsonl.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(),
                ],
                foreign_pre_chain=shared,
            )
        )
        jsonl._graphrun = True  # type: ignore[attr-defined]
        root.addHandler(jsonl)
    root.setLevel(level.upper())
    _configured = True


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
