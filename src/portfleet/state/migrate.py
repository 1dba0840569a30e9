"""Bring a state database to the newest schema on open, with Alembic run in code (no alembic.ini).

Before any change, the database is checked to be portfleet's: a database with tables of other
names and no portfleet meta row (SQLite), or with tables of portfleet's names but no meta row
(PostgreSQL, where other tools' tables may live beside ours), is refused by name and left
untouched; so is one made by a newer portfleet. A state.db of schema_version 1 (before Alembic)
upgrades in place: revision 0001 creates only the v1 tables it lacks, 0002 adds leases, 0003
labels runs with their job and shard.
The check and the upgrade run in one write transaction (on PostgreSQL under an advisory lock), so
controllers opening a new database at once migrate it once.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection

from portfleet.state.backend import Backend
from portfleet.state.location import StateError
from portfleet.state.schema import HEAD_REVISION, PORTFLEET_TABLES, SCHEMA_VERSION, VERSION_TABLE, meta

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
KNOWN_REVISIONS = ("0001", "0002", "0003")
_PG_MIGRATION_LOCK = 0x706F7274666C74  # pg_advisory_xact_lock key: "portflt"


def _revision(conn: Connection, tables: set[str]) -> str | None:
    if VERSION_TABLE not in tables:
        return None
    return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def _schema_version(conn: Connection, tables: set[str]) -> str | None:
    if "meta" not in tables:
        return None
    try:
        return conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    except Exception:  # noqa: BLE001 - a "meta" table of another shape: not ours
        return "not portfleet's"


def _check_ours(backend: Backend, conn: Connection) -> tuple[set[str], str | None]:
    """The tables present and the Alembic revision; raises unless the database is portfleet's."""
    where = backend.location
    tables = set(inspect(conn).get_table_names())
    ours = tables & PORTFLEET_TABLES
    version = _schema_version(conn, tables)
    revision = _revision(conn, tables)
    if version is not None and not (version.isascii() and version.isdigit() and len(version) < 6):
        raise StateError(f"{where}: holds a table 'meta' that is not portfleet's: refusing to change this database")
    if version is None and ours:
        v1_without_meta = backend.dialect == "sqlite" and tables <= PORTFLEET_TABLES and "runs" in tables
        if not v1_without_meta:
            raise StateError(
                f"{where}: holds tables named like portfleet's ({', '.join(sorted(ours))}) but no portfleet "
                "schema version: refusing to change a database portfleet did not create"
            )
    if version is None and backend.dialect == "sqlite" and tables - PORTFLEET_TABLES:
        shown = ", ".join(sorted(tables - PORTFLEET_TABLES)[:5])
        raise StateError(
            f"{where} is an SQLite database that portfleet did not create (tables: {shown}): refusing to touch it "
            "(give --state another path)"
        )
    if (version is not None and int(version) > SCHEMA_VERSION) or revision not in (None, *KNOWN_REVISIONS):
        raise StateError(
            f"{where} was made by a newer portfleet (schema {version}, revision {revision}): upgrade portfleet to use it"
        )
    return tables, revision


def _upgrade(conn: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


def ensure_schema(backend: Backend) -> dict[str, set[str]]:
    """Check the database is portfleet's and upgrade it (unless read-only); the columns present."""
    with backend.read() as conn:
        tables, revision = _check_ours(backend, conn)
    backend.ready_to_write()
    if revision != HEAD_REVISION and not backend.read_only:
        with backend.write() as conn:
            if backend.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            tables, revision = _check_ours(backend, conn)  # another controller may have migrated it meanwhile
            if revision != HEAD_REVISION:
                _upgrade(conn)
    elif revision != HEAD_REVISION and (tables & PORTFLEET_TABLES):
        backend.notes.append(
            f"{backend.location} has an older schema and is open read-only: it is read as it is, not upgraded"
        )
    with backend.read() as conn:
        inspector = inspect(conn)
        return {t: {c["name"] for c in inspector.get_columns(t)} for t in inspector.get_table_names() if t in PORTFLEET_TABLES}
