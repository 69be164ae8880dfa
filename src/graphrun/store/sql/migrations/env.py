"""Alembic environment: migrations are rendered as SQL for one dialect (offline mode).

graphrun applies the rendered statements itself (see :func:`upgrade_statements`), inside
its own write transaction and with its own drivers (stdlib sqlite3, asyncpg), so no
synchronous Postgres driver is needed. From the command line,
``alembic -c .../migrations/alembic.ini -x dialect=postgresql upgrade head --sql``
prints the same SQL.
"""

from __future__ import annotations

import sys

from alembic import context

from graphrun.store.sql.tables import metadata

config = context.config

if not context.is_offline_mode():
    raise RuntimeError(
        "graphrun migrations run in offline (--sql) mode only; the store applies them on "
        "open (graphrun.store.open_store), or print them with `upgrade head --sql`"
    )

dialect_name = config.attributes.get("dialect_name") or context.get_x_argument(
    as_dictionary=True
).get("dialect", "sqlite")
output = config.attributes.get("output_buffer") or sys.stdout

context.configure(
    dialect_name=dialect_name,
    target_metadata=metadata,
    literal_binds=True,
    output_buffer=output,
    transactional_ddl=False,
)

with context.begin_transaction():
    context.run_migrations()
