"""Database URLs: which backend, and where.

Accepted forms (``GRAPHRUN_DATABASE_URL``; the default is a SQLite file ``graphrun.db`` in
the working directory):

- ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``; a driver suffix such as
  ``sqlite+aiosqlite:///…`` or ``sqlite+pysqlite:///…`` names the same file (graphrun
  always writes with the stdlib driver);
- ``postgresql://user:password@host:5432/db`` (also ``postgres://`` and
  ``postgresql+asyncpg://``); ``?schema=name`` keeps graphrun's tables in that schema
  (created if missing), other query options go to the driver;
- ``memory://``: nothing is persisted (tests, demos).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from graphrun.store.errors import DatabaseUrlError

DEFAULT_DATABASE_URL = "sqlite:///./graphrun.db"
"""A SQLite file in the working directory."""

Backend = Literal["memory", "sqlite", "postgres"]


@dataclass(frozen=True, slots=True)
class DatabaseUrl:
    """A parsed database URL: ``path`` for SQLite, ``dsn`` (for asyncpg) and ``schema``
    for Postgres."""

    backend: Backend
    path: str | None = None
    dsn: str | None = None
    schema: str | None = None


def parse_database_url(url: str) -> DatabaseUrl:
    """Parse ``url``; raises :class:`DatabaseUrlError` saying what is wrong."""
    text = url.strip()
    if text in ("memory://", "memory:"):
        return DatabaseUrl("memory")
    try:
        parsed = make_url(text)
    except ArgumentError:
        raise DatabaseUrlError(
            f"cannot parse database URL {url!r}; use e.g. sqlite:///./graphrun.db or "
            "postgresql://user@host:5432/dbname"
        ) from None
    dialect = parsed.get_backend_name()
    if dialect == "sqlite":
        path = parsed.database
        if not path or path == ":memory:" or path.startswith("file:"):
            raise DatabaseUrlError(
                f"database URL {url!r} names no SQLite file; use sqlite:///path/to/file.db "
                "(or memory:// to keep nothing)"
            )
        if parsed.query:
            raise DatabaseUrlError(
                f"database URL {url!r}: SQLite URLs take no options "
                f"(got {', '.join(sorted(parsed.query))})"
            )
        return DatabaseUrl("sqlite", path=path)
    if dialect in ("postgresql", "postgres"):
        query = dict(parsed.query)
        schema = query.pop("schema", None)
        if isinstance(schema, tuple):
            raise DatabaseUrlError(f"database URL {url!r} gives schema more than once")
        if schema is not None and not schema.replace("_", "").isalnum():
            raise DatabaseUrlError(
                f"database URL {url!r}: schema {schema!r} must be letters, digits and _"
            )
        plain = parsed.set(drivername="postgresql", query=query)
        return DatabaseUrl(
            "postgres", dsn=plain.render_as_string(hide_password=False), schema=schema
        )
    raise DatabaseUrlError(
        f"database URL {url!r}: unsupported database {dialect!r}; graphrun stores data in "
        "SQLite (sqlite:///file.db), PostgreSQL (postgresql://…) or memory (memory://)"
    )
