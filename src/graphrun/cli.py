"""The ``graphrun`` command line.

Each command is a small function here that imports what it needs when it runs, so
``graphrun --help`` stays fast. Bad input ends with one ``error:`` line on stderr and
exit status 2; a run that fails ends with exit status 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

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


# -- serve ------------------------------------------------------------------------------


def _database_url(database: str | None) -> str | None:
    """A URL as given, or a plain file path turned into a SQLite URL."""
    if database is None or "://" in database:
        return database
    return f"sqlite:///{Path(database).expanduser()}"


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (GRAPHRUN_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (GRAPHRUN_PORT).")] = None,
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            "--db",
            help="Database URL or SQLite file path (GRAPHRUN_DATABASE_URL).",
        ),
    ] = None,
) -> None:
    """Start the HTTP/WebSocket server; runs execute in this process."""
    import uvicorn
    from pydantic import ValidationError

    from graphrun.api import create_app
    from graphrun.settings import Settings

    overrides: dict[str, Any] = {
        key: value
        for key, value in (
            ("host", host),
            ("port", port),
            ("database_url", _database_url(database)),
        )
        if value is not None
    }
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        _fail(f"invalid setting {where}: {first['msg']}")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,  # graphrun configures logging itself
        ws_max_size=settings.max_body_bytes,
        # Events are small JSON: compressing each costs more CPU than it saves.
        ws_per_message_deflate=False,
    )


# -- prune ------------------------------------------------------------------------------

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``45s`` or ``2w`` → seconds."""
    value, unit = text[:-1], text[-1:].lower()
    if unit not in _UNITS or not value:
        raise ValueError(f"{text!r} is not an age such as 30d, 12h, 90m, 45s or 2w")
    try:
        amount = float(value)
    except ValueError:
        raise ValueError(f"{text!r} is not an age such as 30d, 12h, 90m, 45s or 2w") from None
    if amount < 0:
        raise ValueError(f"{text!r}: an age cannot be negative")
    return amount * _UNITS[unit]


@app.command()
def prune(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Age such as 30d, 12h or 2w.", show_default=False)
    ],
    database: Annotated[
        str | None,
        typer.Option("--database", "--db", help="Database URL or SQLite file path."),
    ] = None,
) -> None:
    """Delete finished runs older than an age, with their checkpoints and events."""
    import asyncio
    from datetime import UTC, datetime, timedelta

    from graphrun.settings import Settings
    from graphrun.store import open_store

    try:
        seconds = parse_age(older_than)
    except ValueError as exc:
        _fail(str(exc))
    url = _database_url(database) or Settings().database_url
    cutoff = datetime.now(UTC) - timedelta(seconds=seconds)

    async def run() -> int:
        store = await open_store(url)
        try:
            return await store.prune(cutoff)
        finally:
            await store.close()

    try:
        removed = asyncio.run(run())
    except Exception as exc:
        _fail(f"cannot prune {url}: {exc}")
    Console(highlight=False).print(
        f"removed {removed} finished run(s) older than {older_than} "
        f"(finished before {cutoff:%Y-%m-%d %H:%M} UTC)"
    )


def main() -> None:
    """The console script's entry point."""
    app()
