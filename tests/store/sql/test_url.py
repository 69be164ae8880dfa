"""Database URLs: every accepted form, and a clear error for the rest."""

from __future__ import annotations

import pytest

from graphrun.store.errors import DatabaseUrlError
from graphrun.store.sql.url import DEFAULT_DATABASE_URL, DatabaseUrl, parse_database_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (DEFAULT_DATABASE_URL, DatabaseUrl("sqlite", path="./graphrun.db")),
        ("sqlite:///data/runs.db", DatabaseUrl("sqlite", path="data/runs.db")),
        ("sqlite:////var/lib/graphrun.db", DatabaseUrl("sqlite", path="/var/lib/graphrun.db")),
        ("sqlite+aiosqlite:///./graphrun.db", DatabaseUrl("sqlite", path="./graphrun.db")),
        ("sqlite+pysqlite:///x.db", DatabaseUrl("sqlite", path="x.db")),
        ("memory://", DatabaseUrl("memory")),
        (
            "postgresql://u:secret@db:5433/runs",
            DatabaseUrl("postgres", dsn="postgresql://u:secret@db:5433/runs"),
        ),
        (
            "postgresql+asyncpg://u@db/runs?schema=graphrun&sslmode=require",
            DatabaseUrl(
                "postgres", dsn="postgresql://u@db/runs?sslmode=require", schema="graphrun"
            ),
        ),
        ("postgres://u@db/runs", DatabaseUrl("postgres", dsn="postgresql://u@db/runs")),
    ],
)
def test_accepted_urls(url: str, expected: DatabaseUrl) -> None:
    assert parse_database_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "cannot parse database URL"),
        ("sqlite://", "names no SQLite file"),
        ("sqlite:///:memory:", "names no SQLite file"),
        ("sqlite:///x.db?timeout=3", "SQLite URLs take no options"),
        ("mysql://u@h/db", "unsupported database 'mysql'"),
        ("postgresql://u@h/db?schema=a;drop", "must be letters, digits and _"),
    ],
)
def test_unusable_urls_say_why(url: str, message: str) -> None:
    with pytest.raises(DatabaseUrlError, match=message):
        parse_database_url(url)
