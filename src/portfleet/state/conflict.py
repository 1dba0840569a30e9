"""INSERT ... ON CONFLICT built with the connection's own dialect (SQLite or PostgreSQL).

Both dialects spell it alike in SQLAlchemy, but each has its own construct. PostgreSQL's is imported
only when a PostgreSQL database is in use: `sqlalchemy.dialects.postgresql` (with its asyncpg,
psycopg and pg8000 modules) costs ~27 ms of CPU to import, which every run on the default SQLite
state paid at start-up for nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import sqlite


def insert(dialect_name: str, table: Table) -> Any:
    """`table`'s INSERT for the dialect named `dialect_name` (Connection.dialect.name), ready for
    .on_conflict_do_update() / .on_conflict_do_nothing()."""
    if dialect_name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    return sqlite.insert(table)
