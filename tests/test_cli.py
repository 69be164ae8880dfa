from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from graphrun.agents.code_review import MAX_CODE_BYTES
from graphrun.cli import app

runner = CliRunner()

CODE = 'import os\n\n\ndef greet(name):\n    """Greet."""\n    print("hi", name)\n    return name\n'


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = Path("greet.py")
    path.write_text(CODE, encoding="utf-8")
    return path


def test_help_lists_the_review_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "review" in result.output


def test_review_prints_a_report(source: Path) -> None:
    result = runner.invoke(app, ["review", str(source)])
    assert result.exit_code == 0, result.output
    assert f"Code review of {source}" in result.output
    assert "stopped: quality_threshold_reached" in result.output
    assert "F401 ×1, T201 ×1" in result.output
    assert "-import os" in result.output
    assert source.read_text(encoding="utf-8") == CODE  # the file itself is not modified


def test_review_json_prints_the_results(source: Path) -> None:
    result = runner.invoke(app, ["review", str(source), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["stop_reason"] == "quality_threshold_reached"
    assert "import os" not in data["improved_code"]
    assert data["score_history"][-1] > data["score_history"][0]


def test_threshold_and_max_iterations_reach_the_graph(source: Path) -> None:
    result = runner.invoke(
        app, ["review", str(source), "--threshold", "100", "--max-iterations", "1", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["stop_reason"] == "max_iterations_reached"
    assert data["iteration"] == 1


def test_a_missing_file_is_one_error_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing.py"
    result = runner.invoke(app, ["review", str(missing)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: no such file: {missing}"
    assert "Traceback" not in result.output


def test_a_too_large_file_is_refused_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.py"
    big.write_text("#" * (MAX_CODE_BYTES + 10), encoding="utf-8")
    result = runner.invoke(app, ["review", str(big)])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: {big} is 200,010 bytes; the code review accepts at most 200,000 bytes"
    )
    assert "Traceback" not in result.output


def test_a_directory_or_binary_file_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["review", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: not a file: {tmp_path}"
    binary = tmp_path / "blob.py"
    binary.write_bytes(b"x = '\xff'\n")
    result = runner.invoke(app, ["review", str(binary)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {binary} is not UTF-8 text (byte 5)"


def test_a_bad_threshold_is_refused(source: Path) -> None:
    result = runner.invoke(app, ["review", str(source), "--threshold", "250"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: quality_threshold must be between 0 and 1")


def test_a_file_with_a_syntax_error_still_gets_a_report(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n    pass\n", encoding="utf-8")
    result = runner.invoke(app, ["review", str(broken)])
    assert result.exit_code == 0, result.output
    assert "Syntax error at line 1, column 7" in result.output
    assert "stopped: syntax_error" in result.output


# -- serve and prune --------------------------------------------------------------------


def test_serve_starts_the_server_on_a_sqlite_file(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    import httpx

    from tests.api.support import free_port

    port = free_port()
    db = tmp_path / "served.db"
    env = {**os.environ, "GRAPHRUN_LOG_FILE": str(tmp_path / "logs.json")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "graphrun", "serve", "--port", str(port), "--db", str(db)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.1)
        assert r.json()["status"] == "ok"
        r = httpx.post(
            f"http://127.0.0.1:{port}/graph/run?wait=true",
            json={"graph_id": "code_review", "initial_state": {"code": "x = 1\n"}},
            timeout=60,
        )
        assert r.json()["status"] == "completed"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert db.exists()
    assert (tmp_path / "logs.json").read_text().count('"event"') > 0


def test_serve_refuses_a_bad_setting(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", "--port", "70000", "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 2
    assert "port" in result.output


def test_prune_removes_finished_runs_older_than_an_age(tmp_path: Path) -> None:
    import asyncio

    from graphrun.engine import END, Executor, Graph
    from graphrun.store import open_store

    url = f"sqlite:///{tmp_path / 'p.db'}"

    async def one_finished_run() -> str:
        store = await open_store(url)
        try:
            g = Graph("g")
            g.add_node("a", tool="noop")
            g.add_edge("a", END)
            await store.create_graph("g", "g", {"name": "g", "nodes": {"a": {"next": "END"}}})
            run = await store.create_run("r1", "g", 1, {})
            await Executor(g.compile(), checkpointer=store).start(
                {}, run_id=run.run_id, after_seq=1
            )
            return run.run_id
        finally:
            await store.close()

    asyncio.run(one_finished_run())
    kept = runner.invoke(app, ["prune", "--older-than", "1d", "--db", str(tmp_path / "p.db")])
    assert kept.exit_code == 0, kept.output
    assert "removed 0" in kept.output
    gone = runner.invoke(app, ["prune", "--older-than", "0s", "--db", str(tmp_path / "p.db")])
    assert gone.exit_code == 0, gone.output
    assert "removed 1" in gone.output


@pytest.mark.parametrize("age", ["3x", "d", "-1d", "abc"])
def test_prune_refuses_a_bad_age(age: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["prune", "--older-than", age, "--db", str(tmp_path / "p.db")])
    assert result.exit_code == 2
    assert "error:" in result.output
