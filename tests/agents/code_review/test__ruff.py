from __future__ import annotations

from pathlib import Path

import pytest

from graphrun.agents.code_review import _ruff


def test_lint_returns_ruffs_json_findings_for_the_curated_rules() -> None:
    findings = _ruff.lint("import os\nprint('x')\n", "snippet.py")
    assert [(f["code"], f["location"]["row"]) for f in findings] == [("F401", 1), ("T201", 2)]
    assert findings[0]["fix"]["applicability"] == "safe"


def test_configuration_files_and_ruff_environment_variables_are_ignored(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A config that would switch every rule off, and env variables that change the output.
    (tmp_path / "ruff.toml").write_text('[lint]\nselect = []\nignore = ["ALL"]\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RUFF_OUTPUT_FORMAT", "concise")
    monkeypatch.setenv("RUFF_NO_CACHE", "false")
    findings = _ruff.lint("import os\n", "snippet.py")
    assert [f["code"] for f in findings] == ["F401"]


def test_fix_and_format_reports_findings_before_and_after() -> None:
    outcome = _ruff.fix_and_format("import os\ndef f( x ):\n    print(x)\n    return x\n", "a.py")
    assert outcome.code == "def f(x):\n    return x\n"
    assert outcome.formatted is True
    assert sorted(f["code"] for f in outcome.before) == ["F401", "T201"]
    assert outcome.after == []


def test_unsafe_fixes_outside_the_allow_list_are_not_applied() -> None:
    code = "def f(x=[]):\n    return x\n"
    outcome = _ruff.fix_and_format(code, "a.py")
    assert outcome.code == code
    assert [f["code"] for f in outcome.after] == ["B006"]


def test_a_slow_ruff_is_stopped_by_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_ruff, "RUFF_TIMEOUT", 1e-6)
    with pytest.raises(_ruff.RuffError, match="did not finish within"):
        _ruff.lint("x = 1\n", "snippet.py")


def test_a_missing_binary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> str:
        raise FileNotFoundError("no ruff here")

    monkeypatch.setattr(_ruff, "find_ruff_bin", missing)
    _ruff.ruff_binary.cache_clear()
    try:
        with pytest.raises(_ruff.RuffError, match="install the 'ruff' package"):
            _ruff.lint("x = 1\n", "snippet.py")
    finally:
        _ruff.ruff_binary.cache_clear()


def test_ruff_failing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_ruff, "SELECT", ("NOT-A-RULE",))
    with pytest.raises(_ruff.RuffError, match="ruff check failed"):
        _ruff.lint("x = 1\n", "snippet.py")
