"""Migrations: rendered per dialect by Alembic, applied by the store when it opens."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from graphrun.store.sql.migrations import head_revision, upgrade_statements
from graphrun.store.sql.sqlite import SqliteStore
from graphrun.store.sql.tables import metadata


def _version(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")]
    finally:
        conn.close()


async def test_a_fresh_database_is_migrated_to_head_on_open(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    store = SqliteStore(path)
    await store.open()
    await store.close()
    assert _version(path) == [head_revision()]


async def test_the_migrated_schema_is_the_one_the_code_declares(tmp_path: Path) -> None:
    path = tmp_path / "schema.db"
    store = SqliteStore(path)
    await store.open()
    await store.close()
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    assert diff == []


async def test_reopening_and_migrating_again_change_nothing(tmp_path: Path) -> None:
    path = tmp_path / "again.db"
    first = SqliteStore(path)
    await first.open()
    await first.create_graph("g", "kept", {"a": 1})
    await first.migrate()
    await first.close()
    second = SqliteStore(path)
    await second.open()
    try:
        graph = await second.get_graph("g")
        assert graph is not None
        assert graph.name == "kept"
    finally:
        await second.close()
    assert _version(path) == [head_revision()]
    assert upgrade_statements("sqlite", head_revision()) == ()


async def test_two_stores_opening_one_new_file_at_once_both_work(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    stores = [SqliteStore(path), SqliteStore(path)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        await stores[0].create_graph("g", "g", {})
        assert await stores[1].get_graph("g") is not None
    finally:
        for s in stores:
            await s.close()
    assert _version(path) == [head_revision()]


def test_statements_are_rendered_for_each_dialect() -> None:
    lite = upgrade_statements("sqlite", None)
    pg = upgrade_statements("postgresql", None)
    assert lite[0].startswith("CREATE TABLE alembic_version")
    assert lite[-1].startswith("INSERT INTO alembic_version")
    assert any("WITHOUT ROWID" in s for s in lite)
    assert not any("WITHOUT ROWID" in s for s in pg)
    assert sum(s.startswith("CREATE TABLE") for s in pg) == len(metadata.tables) + 1
    assert not any(s.upper() in ("BEGIN", "COMMIT") or s.startswith("--") for s in lite + pg)
