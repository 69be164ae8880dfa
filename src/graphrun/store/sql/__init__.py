"""The SQL stores: one schema (``tables``), SQLite and Postgres backends."""
