"""Schema migrations (Alembic), rendered as SQL per dialect and applied by the store.

A store applies them when it opens: inside one write transaction it reads the revision in
``alembic_version``, renders the statements from there to head for its dialect, and runs
them; a second process opening the same database waits for that transaction and then finds
nothing to do.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

HERE = Path(__file__).resolve().parent
VERSION_TABLE = "alembic_version"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    return cfg


@cache
def head_revision() -> str:
    """The newest revision: what a fully migrated database records."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise RuntimeError(f"no migration revisions found in {HERE}")
    return head


class _Statements:
    """Collects the statements Alembic writes in offline mode, one per ``write``."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def write(self, text: str) -> None:
        sql = text.strip()
        if sql.endswith(";"):
            sql = sql[:-1].rstrip()
        # Transaction control is the store's: it runs everything in its own transaction.
        if sql and not sql.startswith("--") and sql.upper() not in ("BEGIN", "COMMIT"):
            self.statements.append(sql)

    def flush(self) -> None:
        return


@cache
def upgrade_statements(dialect_name: str, current: str | None) -> tuple[str, ...]:
    """The SQL statements that take a ``dialect_name`` database from revision ``current``
    (``None``: an empty database) to head, including the ``alembic_version`` bookkeeping."""
    if current == head_revision():
        return ()
    cfg = _config()
    out = _Statements()
    cfg.attributes["dialect_name"] = dialect_name
    cfg.attributes["output_buffer"] = out
    command.upgrade(cfg, f"{current}:head" if current else "head", sql=True)
    return tuple(out.statements)


__all__ = ["VERSION_TABLE", "head_revision", "upgrade_statements"]
