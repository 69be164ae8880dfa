"""Database work written once for both SQL backends, as generators of statements.

A *plan* is a generator that yields :class:`Op` (a SQLAlchemy Core statement with named
``bindparam`` values) and receives each result: a list of rows for a fetch, a row count
for an execute. It knows nothing of drivers, threads or event loops: the SQLite store runs
plans with the stdlib ``sqlite3`` module (:func:`run_sync`), the Postgres store with
asyncpg (:func:`run_async`). Statements are built once (module constants or cached
builders) and compiled once per dialect, so running a plan costs no SQL compilation.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from graphrun.store._rows import Row
from graphrun.store.errors import StoreError

if TYPE_CHECKING:
    import asyncpg  # type: ignore[import-untyped]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Op:
    """One statement to run with its parameters; ``fetch`` says whether rows come back."""

    stmt: ClauseElement
    params: Mapping[str, Any]
    fetch: bool


Plan = Generator[Op, Any, T]


def fetch(stmt: ClauseElement, **params: Any) -> Generator[Op, Any, list[Row]]:
    """``rows = yield from fetch(stmt, name=value)``"""
    rows: list[Row] = yield Op(stmt, params, True)
    return rows


def fetch_one(stmt: ClauseElement, **params: Any) -> Generator[Op, Any, Row | None]:
    rows: list[Row] = yield Op(stmt, params, True)
    return rows[0] if rows else None


def execute(stmt: ClauseElement, **params: Any) -> Generator[Op, Any, int]:
    """``count = yield from execute(stmt, name=value)``: the number of rows changed."""
    count: int = yield Op(stmt, params, False)
    return count


class DuplicateKeyError(StoreError):
    """A unique key was violated (translated from the driver's own error)."""


class Compiler:
    """Compiles statements for one dialect, once each.

    Statements are cached by identity, so plans must yield statements that live as long
    as the program (module constants, or builders under ``functools.cache``). Statements
    use no expanding ``IN`` lists (those need the values at compile time): a list of
    literals is written as ``OR``-ed comparisons.
    """

    def __init__(self, dialect: Dialect, positional: bool) -> None:
        self.dialect = dialect
        self.positional = positional
        self._cache: dict[int, _Compiled] = {}

    def compile(self, stmt: ClauseElement) -> _Compiled:
        entry = self._cache.get(id(stmt))
        if entry is None or entry.stmt is not stmt:
            compiled = cast(SQLCompiler, stmt.compile(dialect=self.dialect))
            names = tuple(compiled.positiontup or ()) if self.positional else ()
            # Literals in a statement (e.g. a fixed status) are binds with values.
            defaults = {
                name: bind.value
                for bind, name in compiled.bind_names.items()
                if bind.value is not None
            }
            entry = _Compiled(stmt, str(compiled), names, defaults)
            if len(self._cache) > 2000:  # a plan broke the rule above: stay bounded
                self._cache.clear()
            self._cache[id(stmt)] = entry
        return entry

    def named(self, op: Op) -> tuple[str, Mapping[str, Any]]:
        """SQL and parameters for a driver taking named parameters (``:name``)."""
        entry = self.compile(op.stmt)
        params = {**entry.defaults, **op.params} if entry.defaults else op.params
        return entry.sql, params

    def positional_args(self, op: Op) -> tuple[str, list[Any]]:
        """SQL and parameters for a driver taking positional parameters (``$1``)."""
        entry = self.compile(op.stmt)
        params = op.params
        defaults = entry.defaults
        return entry.sql, [params[n] if n in params else defaults.get(n) for n in entry.names]


@dataclass(frozen=True, slots=True)
class _Compiled:
    stmt: ClauseElement
    sql: str
    names: tuple[str, ...]
    defaults: dict[str, Any]


def run_sync(conn: sqlite3.Connection, compiler: Compiler, plan: Plan[T]) -> T:
    """Run ``plan`` on a ``sqlite3`` connection (named parameters, rows as ``sqlite3.Row``).
    Transactions are the caller's."""
    result: Any = None
    while True:
        try:
            op = plan.send(result)
        except StopIteration as stop:
            value: T = stop.value
            return value
        sql, params = compiler.named(op)
        try:
            cursor = conn.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc) or "PRIMARY KEY" in str(exc):
                plan.close()
                raise DuplicateKeyError(str(exc)) from exc
            raise
        result = cursor.fetchall() if op.fetch else cursor.rowcount


async def run_async(conn: asyncpg.Connection, compiler: Compiler, plan: Plan[T]) -> T:
    """Run ``plan`` on an asyncpg connection. Transactions are the caller's."""
    import asyncpg

    result: Any = None
    while True:
        try:
            op = plan.send(result)
        except StopIteration as stop:
            value: T = stop.value
            return value
        sql, args = compiler.positional_args(op)
        try:
            if op.fetch:
                result = await conn.fetch(sql, *args)
            else:
                status = await conn.execute(sql, *args)
                result = _row_count(status)
        except asyncpg.UniqueViolationError as exc:
            plan.close()
            raise DuplicateKeyError(str(exc)) from exc


def _row_count(status: str) -> int:
    # asyncpg returns the command tag, e.g. "UPDATE 3" or "INSERT 0 1".
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0
