"""Reading and checking the review's inputs from the state.

The code under review comes from ``code`` (or ``raw_code``, as some clients send it); the
loop works on ``improved_code`` once a fix pass has produced one. Every tool reads its
inputs through these functions, so a tool works whichever tools ran before it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_CODE_BYTES = 200_000
DEFAULT_THRESHOLD = 0.9
DEFAULT_MAX_ITERATIONS = 5
MAX_ITERATIONS_LIMIT = 30
DEFAULT_FILENAME = "snippet.py"

_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


class ReviewInputError(ValueError):
    """The state does not hold usable review inputs; the message names the key."""


@dataclass(frozen=True, slots=True)
class ReviewInputs:
    """The normalized inputs of a review."""

    code: str
    filename: str
    quality_threshold: float
    max_iterations: int
    iteration: int


def check_size(code: str, key: str = "code") -> str:
    """Refuse code larger than :data:`MAX_CODE_BYTES` (counted as UTF-8)."""
    try:
        size = len(code.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise ReviewInputError(
            f"{key} holds a character that is not valid Unicode text at position {exc.start}"
        ) from None
    if size > MAX_CODE_BYTES:
        raise ReviewInputError(
            f"{key} is {size:,} bytes; the code review accepts at most {MAX_CODE_BYTES:,} bytes"
        )
    return code


def original_code(state: Mapping[str, Any]) -> str:
    """The submitted code: ``code``, else ``raw_code``."""
    for key in ("code", "raw_code"):
        value = state.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ReviewInputError(
                f"state key {key!r} must be a string of Python source, not {type(value).__name__}"
            )
        return check_size(value, key)
    raise ReviewInputError("the state needs 'code' (or 'raw_code'): the Python source to review")


def current_code(state: Mapping[str, Any]) -> str:
    """The latest version of the code: ``improved_code`` once a fix pass ran."""
    improved = state.get("improved_code")
    if isinstance(improved, str):
        return check_size(improved, "improved_code")
    return original_code(state)


def normalize_threshold(value: Any) -> float:
    """A threshold in 0..1. Values above 1 are read as a percentage (75 means 0.75)."""
    if value is None:
        return DEFAULT_THRESHOLD
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ReviewInputError(
            f"quality_threshold must be a number between 0 and 1 (or a percentage), got {value!r}"
        )
    number = float(value)
    if number > 1:
        number /= 100
    if not 0 <= number <= 1:
        raise ReviewInputError(
            f"quality_threshold must be between 0 and 1 (or a percentage up to 100), got {value!r}"
        )
    return number


def normalize_max_iterations(value: Any) -> int:
    """A whole number of passes between 1 and :data:`MAX_ITERATIONS_LIMIT`."""
    if value is None:
        return DEFAULT_MAX_ITERATIONS
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ReviewInputError(f"max_iterations must be a whole number, got {value!r}")
    if not 1 <= value <= MAX_ITERATIONS_LIMIT:
        raise ReviewInputError(
            f"max_iterations must be between 1 and {MAX_ITERATIONS_LIMIT}, got {value!r}"
        )
    return value


def read_iteration(state: Mapping[str, Any]) -> int:
    """The number of passes evaluated so far (``iteration``, 0 when unset)."""
    value = state.get("iteration", 0)
    if value is None:
        return 0
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ReviewInputError(f"iteration must be a whole number >= 0, got {value!r}")
    return value


def safe_filename(value: Any) -> str:
    """A plain file name for the temporary copy and the diff headers.

    Only the last path component is kept and unusual characters become ``_``, so the
    name can never point outside the temporary directory.
    """
    if not isinstance(value, str) or not value.strip():
        return DEFAULT_FILENAME
    name = value.replace("\\", "/").rsplit("/", 1)[-1]
    name = _SAFE_NAME.sub("_", name).lstrip(".")
    if not name.endswith((".py", ".pyi")):
        name = (name or "snippet") + ".py"
    return name[-100:]


def read_inputs(state: Mapping[str, Any]) -> ReviewInputs:
    """Every input, normalized; raises :class:`ReviewInputError` naming a bad key."""
    return ReviewInputs(
        code=original_code(state),
        filename=safe_filename(state.get("filename")),
        quality_threshold=normalize_threshold(state.get("quality_threshold")),
        max_iterations=normalize_max_iterations(state.get("max_iterations")),
        iteration=read_iteration(state),
    )
