"""SQLite connections: every SQLite-specific setting lives here.

- WAL journal: readers never block the writer and the writer never blocks readers.
- ``synchronous=NORMAL``: a commit is a write to the WAL without fsync; the WAL is synced
  at checkpoints. A power cut may lose the last commits, never corrupt the file (the
  executor's ``async`` mode makes the same trade-off, and resumes from what is there).
- ``busy_timeout``: a writer waits that long for another connection's write lock.
- Write transactions begin ``IMMEDIATE``: the write lock is taken up front, so a
  transaction never fails half way on a lock it could not upgrade.
- Connections run in autocommit mode (``isolation_level=None``); the store issues
  ``BEGIN``/``COMMIT`` itself.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from graphrun.store.sql._plans import Compiler

BEGIN_WRITE = "BEGIN IMMEDIATE"
BEGIN_READ = "BEGIN"
DEFAULT_BUSY_TIMEOUT_MS = 5000


def connect(
    path: str | Path,
    *,
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    autocheckpoint: bool = True,
) -> sqlite3.Connection:
    """A connection set up the one way graphrun uses SQLite (rows addressable by column
    name). ``autocheckpoint=False`` leaves WAL checkpoints to another connection (for the
    one that must not stall on a checkpoint's fsync)."""
    conn = sqlite3.connect(
        str(path), isolation_level=None, check_same_thread=False, cached_statements=256
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(
                f"could not switch {path} to WAL mode (journal_mode is {mode!r})"
            )
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA cache_size = -16000")  # 16 MB: a group commit dirties many pages
        if not autocheckpoint:
            conn.execute("PRAGMA wal_autocheckpoint = 0")
        conn.row_factory = sqlite3.Row
    except BaseException:
        conn.close()
        raise
    return conn


def compiler() -> Compiler:
    """Compiles Core statements for sqlite3's named parameters (``:name``)."""
    from sqlalchemy.dialects import sqlite

    return Compiler(sqlite.dialect(paramstyle="named"), positional=False)


def is_busy(exc: sqlite3.OperationalError) -> bool:
    """The database is locked by another connection."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in str(exc)
