"""``open_store``: a URL (or ``GRAPHRUN_DATABASE_URL``) to an open store."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphrun.store import (
    URL_ENV,
    DatabaseUrlError,
    MemoryStore,
    create_store,
    database_url_from_env,
    open_store,
)
from graphrun.store.sql.postgres import PostgresStore
from graphrun.store.sql.sqlite import SqliteStore


async def test_the_default_is_a_sqlite_file_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(URL_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert database_url_from_env() == "sqlite:///./graphrun.db"
    store = await open_store()
    try:
        assert isinstance(store, SqliteStore)
    finally:
        await store.close()
    assert (tmp_path / "graphrun.db").exists()


async def test_the_environment_names_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_ENV, f"sqlite:///{tmp_path}/from-env.db")
    store = await open_store()
    await store.close()
    assert (tmp_path / "from-env.db").exists()
    monkeypatch.setenv(URL_ENV, "memory://")
    assert isinstance(await open_store(), MemoryStore)


def test_each_url_gets_its_backend() -> None:
    pg = create_store("postgresql://u@db/x?schema=runs")
    assert isinstance(pg, PostgresStore)
    assert (pg.dsn, pg.schema) == ("postgresql://u@db/x", "runs")
    lite = create_store("sqlite:///a/b.db")
    assert isinstance(lite, SqliteStore)
    assert lite.path == Path("a/b.db")
    with pytest.raises(DatabaseUrlError, match="unsupported database"):
        create_store("oracle://x")
