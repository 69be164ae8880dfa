"""Arguments shared by the listing methods, checked the same way by every backend."""

from __future__ import annotations

from collections.abc import Collection

from graphrun.engine.status import RunStatus


def check_page(limit: int | None, offset: int) -> None:
    """Refuse negative pagination with a message naming the argument."""
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be a non-negative integer, not {limit!r}")
    if not isinstance(offset, int) or offset < 0:
        raise ValueError(f"offset must be a non-negative integer, not {offset!r}")


def status_filter(status: RunStatus | Collection[RunStatus] | None) -> set[str] | None:
    """The status values to keep (``None``: all); unknown statuses are refused."""
    if status is None:
        return None
    wanted = [status] if isinstance(status, str) else list(status)
    try:
        return {RunStatus(s).value for s in wanted}
    except ValueError:
        known = ", ".join(s.value for s in RunStatus)
        raise ValueError(f"unknown run status in {wanted!r}; known: {known}") from None
