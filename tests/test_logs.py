"""Structured logs: JSON lines carrying the run's context, rotation, console."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from graphrun import Graph
from graphrun.engine import END, Executor, MemoryEventSink
from graphrun.logs import configure_logging, get_logger


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    root.setLevel(level)


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def test_lines_written_inside_a_node_carry_run_graph_node_and_step(
    tmp_path: Path, restore_logging: None
) -> None:
    log_file = tmp_path / "logs.json"
    configure_logging(log_file=log_file, console=False)
    node_log = get_logger("test.node")

    def sync_node(state: dict[str, object]) -> dict[str, object]:
        node_log.info("in a thread", detail=1)
        return {"a": 1}

    async def async_node(state: dict[str, object]) -> None:
        logging.getLogger("plain.stdlib").warning("from stdlib logging")

    g = Graph("logged")
    g.add_node("first", sync_node).add_node("second", async_node)
    g.add_edge("first", "second").add_edge("second", END)
    result = await Executor(g.compile(), sink=MemoryEventSink(), labels={"graph_id": "g1"}).start(
        {}
    )
    node_log.info("outside any node")
    lines = _lines(log_file)
    by_event = {line["event"]: line for line in lines}
    first = by_event["in a thread"]
    assert first["run_id"] == result.run_id
    assert (first["graph_id"], first["node"], first["step"], first["detail"]) == (
        "g1",
        "first",
        1,
        1,
    )
    second = by_event["from stdlib logging"]
    assert (second["node"], second["step"], second["level"]) == ("second", 2, "warning")
    assert "run_id" not in by_event["outside any node"]


def test_the_log_file_rotates_at_its_size(tmp_path: Path, restore_logging: None) -> None:
    log_file = tmp_path / "logs.json"
    configure_logging(log_file=log_file, console=False, max_bytes=2048, backups=2)
    logger = get_logger("test.rotate")
    for i in range(200):
        logger.info("filler line", i=i, pad="x" * 50)
    assert log_file.exists() and (tmp_path / "logs.json.1").exists()
    assert log_file.stat().st_size <= 2048 + 512
    assert not (tmp_path / "logs.json.3").exists()
