"""The ``graphrun`` command line.

Each command is a small function here that imports what it needs when it runs, so
``graphrun --help`` stays fast. Bad input ends with one ``error:`` line on stderr and
exit status 2; a run that fails ends with exit status 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

app = typer.Typer(
    name="graphrun",
    help="graphrun: a durable, LangGraph-style workflow engine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main() -> None:
    """graphrun: a durable, LangGraph-style workflow engine."""


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _read_source(path: Path, limit: int) -> str:
    if not path.exists():
        _fail(f"no such file: {path}")
    if not path.is_file():
        _fail(f"not a file: {path}")
    size = path.stat().st_size
    if size > limit:
        _fail(f"{path} is {size:,} bytes; the code review accepts at most {limit:,} bytes")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        _fail(f"{path} is not UTF-8 text (byte {exc.start})")
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror or exc}")


# -- review -----------------------------------------------------------------------------


@app.command()
def review(
    file: Annotated[Path, typer.Argument(help="The Python file to review.", show_default=False)],
    threshold: Annotated[
        float,
        typer.Option(help="Quality score (0..1, or a percentage) at which the loop stops."),
    ] = 0.9,
    max_iterations: Annotated[
        int, typer.Option(help="Most review passes before the loop stops.")
    ] = 5,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the review's results as JSON.")
    ] = False,
) -> None:
    """Review a Python file: find issues, apply safe fixes, and score it, in a loop.

    The file is parsed and linted, never imported or executed; it is not modified (the
    improved version is in the report).
    """
    from graphrun.agents.code_review import MAX_CODE_BYTES, ReviewInputError
    from graphrun.agents.code_review import review as run_review
    from graphrun.agents.code_review.inputs import (
        normalize_max_iterations,
        normalize_threshold,
    )
    from graphrun.agents.code_review.report import output_of, render_report
    from graphrun.engine.status import RunStatus

    try:
        quality_threshold = normalize_threshold(threshold)
        passes = normalize_max_iterations(max_iterations)
    except ReviewInputError as exc:
        _fail(str(exc))
    code = _read_source(file, MAX_CODE_BYTES)
    console = Console(highlight=False)
    with console.status("Reviewing…"):
        result = run_review(
            code,
            filename=file.name,
            quality_threshold=quality_threshold,
            max_iterations=passes,
        )
    if result.status is not RunStatus.COMPLETED:
        reason = (result.error or {}).get("message") or result.message or result.status.value
        _fail(f"the review did not complete ({result.status.value}): {reason}", code=1)
    if json_output:
        typer.echo(json.dumps(output_of(result.state), indent=2, ensure_ascii=False))
        return
    render_report(result.state, console, source=str(file))


def main() -> None:
    """The console script's entry point."""
    app()
