"""The snippet corpus (tests/agents/corpus) and its expected findings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load(
    (CORPUS / "expected.yaml").read_text(encoding="utf-8")
)
SNIPPETS = sorted(EXPECTED)


def snippet(name: str) -> str:
    """The source of corpus snippet ``name``, byte for byte."""
    return (CORPUS / f"{name}.py.txt").read_bytes().decode("utf-8")


def located(issues: list[dict[str, Any]]) -> list[str]:
    """Issues as ``RULE:LINE`` strings, in their order."""
    return [f"{i['rule']}:{i['line']}" for i in issues]
