"""Running ruff's binary on submitted code, safely.

The code is written to a file in a fresh temporary directory and ruff runs on that file
with ``--isolated`` (no configuration file is read), no cache, a minimal environment and
a timeout. ruff parses the code; nothing here imports or executes it.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruff import find_ruff_bin  # type: ignore[import-untyped]

RUFF_TIMEOUT = 20.0
TARGET_VERSION = "py310"
LINE_LENGTH = 88
MAX_COMPLEXITY = 10

# The curated rule set: pyflakes, pycodestyle errors and warnings, bugbear, comprehensions,
# mccabe, FIXME/TODO markers, naming, misc. lints, security, simplify, debugger calls,
# prints, and pyupgrade.
SELECT = ("F", "E", "W", "B", "C4", "C90", "FIX", "N", "PIE", "S", "SIM", "T10", "T20", "UP")
IGNORE = (
    "S101",  # assert is normal in snippets and tests
    "S603",  # subprocess without a shell: too noisy to be useful in a review
    "S607",  # partial executable paths: same
    "N999",  # the module name is the temporary file's, not the author's
)

# Fixes ruff marks unsafe that the review applies anyway: each only removes debugging
# output, an unused local or compares with None by identity.
UNSAFE_FIX_ALLOWLIST = frozenset({"T201", "T203", "F841", "E711"})


class RuffError(RuntimeError):
    """ruff could not be run or gave output that cannot be read."""


@functools.cache
def ruff_binary() -> str:
    """The path of the ruff binary that ships with the ``ruff`` package."""
    try:
        return str(find_ruff_bin())
    except FileNotFoundError as exc:
        raise RuffError(f"ruff's binary was not found ({exc}); install the 'ruff' package") from exc


def _environment() -> dict[str, str]:
    # RUFF_* variables could change the rules or the output format; keep only the basics.
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR", "TEMP", "TMP")
    return {k: v for k, v in os.environ.items() if k in keep}


def _rule_options() -> list[str]:
    return [
        "--isolated",
        "--no-cache",
        "--target-version",
        TARGET_VERSION,
        "--line-length",
        str(LINE_LENGTH),
        "--select",
        ",".join(SELECT),
        "--ignore",
        ",".join(IGNORE),
        "--config",
        f"lint.mccabe.max-complexity = {MAX_COMPLEXITY}",
    ]


@dataclass(slots=True)
class _Run:
    returncode: int
    stdout: str
    stderr: str


def _run(args: Sequence[str], cwd: Path, *, ok: Sequence[int] = (0,)) -> _Run:
    command = [ruff_binary(), *args]
    try:
        proc = subprocess.run(
            command,
            cwd=cwd,
            env=_environment(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=RUFF_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuffError(f"ruff {args[0]} did not finish within {RUFF_TIMEOUT:g} s") from exc
    except OSError as exc:
        raise RuffError(f"ruff could not be started: {exc}") from exc
    stdout = proc.stdout.decode("utf-8", errors="replace")
    stderr = proc.stderr.decode("utf-8", errors="replace")
    if proc.returncode not in ok:
        detail = stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        raise RuffError(f"ruff {args[0]} failed: {detail[0]}")
    return _Run(proc.returncode, stdout, stderr)


def _write(directory: Path, filename: str, code: str) -> Path:
    path = directory / filename
    # Bytes, so the line endings reach ruff exactly as submitted.
    path.write_bytes(code.encode("utf-8"))
    return path


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def _findings(stdout: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(stdout or "[]")
    except json.JSONDecodeError as exc:
        raise RuffError(f"ruff's JSON output cannot be read: {exc}") from exc
    if not isinstance(data, list):
        raise RuffError("ruff's JSON output is not a list of findings")
    return [d for d in data if isinstance(d, dict)]


def lint(code: str, filename: str) -> list[dict[str, Any]]:
    """ruff's JSON findings for ``code`` under the curated rule set."""
    with tempfile.TemporaryDirectory(prefix="graphrun-review-") as tmp:
        path = _write(Path(tmp), filename, code)
        run = _run(
            ["check", *_rule_options(), "--output-format", "json", "--", path.name],
            Path(tmp),
            ok=(0, 1),
        )
    return _findings(run.stdout)


@dataclass(frozen=True, slots=True)
class FixOutcome:
    """What one fix-and-format run produced."""

    code: str
    before: list[dict[str, Any]]
    after: list[dict[str, Any]]
    formatted: bool


def fix_and_format(code: str, filename: str) -> FixOutcome:
    """Apply the safe (and allow-listed unsafe) fixes, then ruff format.

    ``before`` and ``after`` are the findings before the fixes and after the formatting,
    so callers can tell which rules went away. ``formatted`` is false when ruff format
    refused the file.
    """
    safe = ", ".join(f"'{code}'" for code in sorted(UNSAFE_FIX_ALLOWLIST))
    with tempfile.TemporaryDirectory(prefix="graphrun-review-") as tmp:
        directory = Path(tmp)
        path = _write(directory, filename, code)
        options = _rule_options()
        lint_args = ["check", *options, "--output-format", "json", "--", path.name]
        before = _run(lint_args, directory, ok=(0, 1))
        _run(
            [
                "check",
                *options,
                "--config",
                f"lint.extend-safe-fixes = [{safe}]",
                "--fix-only",
                "--quiet",
                "--",
                path.name,
            ],
            directory,
            ok=(0, 1),
        )
        fmt = _run(
            [
                "format",
                "--isolated",
                "--no-cache",
                "--quiet",
                "--target-version",
                TARGET_VERSION,
                "--line-length",
                str(LINE_LENGTH),
                "--",
                path.name,
            ],
            directory,
            ok=(0, 2),
        )
        after = _run(lint_args, directory, ok=(0, 1))
        fixed = _read(path)
    return FixOutcome(
        code=fixed,
        before=_findings(before.stdout),
        after=_findings(after.stdout),
        formatted=fmt.returncode == 0,
    )
