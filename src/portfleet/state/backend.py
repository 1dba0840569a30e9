"""Connections to the state database and the transactions the store runs on them.

SQLite (one machine): one connection guarded by a lock, as before; WAL + synchronous=FULL so a
committed row survives a power cut; a write transaction is BEGIN IMMEDIATE (it takes the write
lock up front, so two processes never deadlock upgrading a read lock).
PostgreSQL (shared by many controllers): a small pool; each transaction on its own connection.

On both, `write()` is one transaction: committed when the block ends, rolled back on any error,
Ctrl-C included, and never rolled back after its COMMIT completed. Database errors come out as
StateError with the URL's password scrubbed from the text.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

from portfleet.state import sqlite_file
from portfleet.state.location import StateError, StateLocation

BUSY_TIMEOUT_S = 30  # SQLite: how long a writer waits for another process's transaction
PG_POOL_SIZE, PG_OVERFLOW, PG_CONNECT_TIMEOUT_S = 4, 8, 10


def describe(location: StateLocation, exc: BaseException) -> str:
    """The database's own words for `exc`, without the statement, parameters or password."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    return location.scrub(text)[:500]


def _busy(exc: BaseException) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED (another connection holds the lock), as opposed to a real failure."""
    original = getattr(exc, "orig", None) or exc
    code = getattr(original, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED and their extended codes
    return isinstance(original, sqlite3.OperationalError) and "locked" in str(original)


class Backend:
    """What the store needs of a database: transactions, and whether it may write."""

    location: StateLocation
    read_only: bool = False
    read_only_reason: str | None = None
    notes: list[str]
    dialect: str

    @contextmanager
    def write(self) -> Iterator[Connection]:
        raise NotImplementedError

    @contextmanager
    def read(self) -> Iterator[Connection]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def ready_to_write(self) -> None:
        """Called once the database is known to be portfleet's (migrate.py)."""

    def refuse_write(self) -> None:
        if self.read_only:
            raise StateError(
                f"the state database {self.location} is open read-only ({self.read_only_reason}); "
                "this command needs to write to it: give --state a writable database"
            )

    def _wrap(self, exc: BaseException) -> StateError:
        return StateError(f"state database {self.location}: {describe(self.location, exc)}")


class SqliteBackend(Backend):
    dialect = "sqlite"

    def __init__(self, location: StateLocation, *, read_only: bool = False) -> None:
        assert location.path is not None
        self.location = location
        self.notes = []
        self._lock = threading.RLock()
        target = sqlite_file.prepare(location.path, read_only=read_only)
        self.read_only, self.read_only_reason, self.created = target.read_only, target.read_only_reason, target.created
        try:
            self._open(target.uri)
        except (SQLAlchemyError, sqlite3.Error, UnicodeError) as exc:  # UnicodeError: a damaged schema's text
            if not self.read_only:
                raise StateError(f"cannot open the state database {location}: {describe(location, exc)}") from None
            # Read-only media: SQLite cannot make the -shm file a WAL reader needs; read the file as it is.
            try:
                self._open(sqlite_file.immutable_uri(location.path))
            except (SQLAlchemyError, sqlite3.Error, UnicodeError) as again:  # not that either: a damaged file
                raise StateError(f"cannot read the state database {location}: {describe(location, again)}") from None
            if sqlite_file.unflushed_wal(location.path):
                self.notes.append(
                    f"{location.path}-wal holds rows not yet in the database file; on read-only media they "
                    "cannot be read (the last run's newest rows may be missing here)"
                )

    def _open(self, uri: str) -> None:
        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_S)
            # A damaged (or hand-edited) row may hold bytes that are not UTF-8: read them with U+FFFD
            # rather than let sqlite3 raise UnicodeDecodeError out of a read (the file is input).
            conn.text_factory = lambda raw: raw.decode("utf-8", "replace")
            return conn

        engine = create_engine("sqlite://", creator=connect, poolclass=StaticPool)
        conn = engine.connect()
        try:
            # Nothing that writes (journal_mode=WAL rewrites the header) before migrate.py has
            # checked that the file is portfleet's: see ready_to_write().
            conn.exec_driver_sql("PRAGMA query_only=ON")
            conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar()  # reads the header: damaged files fail here
            conn.commit()
        except BaseException:
            conn.close()
            engine.dispose()
            raise
        self._engine, self._conn = engine, conn

    def ready_to_write(self) -> None:
        """The file is portfleet's: WAL + synchronous=FULL (a committed row survives a power cut).

        Switching a new file to WAL needs the file to itself for a moment, and SQLite answers "database is
        locked" at once, without its busy wait, when several processes switch it at the same time (controllers
        started together on a new state file: 4 at once failed within a few tries). That answer is retried with
        a growing, jittered pause for as long as a writer would wait (BUSY_TIMEOUT_S)."""
        if self.read_only:
            return
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        pause = 0.005
        with self._lock:
            conn = self._conn
            while True:
                try:
                    conn.exec_driver_sql("PRAGMA query_only=OFF")
                    conn.exec_driver_sql("PRAGMA journal_mode=WAL")
                    conn.exec_driver_sql("PRAGMA synchronous=FULL")
                    conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                    conn.commit()
                    return
                except SQLAlchemyError as exc:
                    conn.rollback()
                    if not _busy(exc) or time.monotonic() + pause > deadline:
                        raise self._wrap(exc) from None
                time.sleep(pause * (1 + random.random()))
                pause = min(pause * 2, 0.25)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        self.refuse_write()
        with self._lock:
            conn = self._conn
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except SQLAlchemyError as exc:
                conn.rollback()
                raise self._wrap(exc) from None
            try:
                yield conn
                conn.commit()
            except BaseException as exc:
                # A signal can land after COMMIT completed: sqlite3's rollback() then sends no
                # ROLLBACK (it checks for an open transaction), so the interrupt is not masked by
                # "no transaction is active"; SQLAlchemy's own bookkeeping is reset either way.
                conn.rollback()
                if isinstance(exc, (SQLAlchemyError, UnicodeError)):  # UnicodeError: SQLite's text of a damaged file
                    raise self._wrap(exc) from None
                raise

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self._lock:
            conn = self._conn
            try:
                yield conn
            except (SQLAlchemyError, UnicodeError) as exc:
                raise self._wrap(exc) from None
            finally:
                conn.rollback()  # no transaction was opened: ends SQLAlchemy's autobegun one

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            self._engine.dispose()


class PostgresBackend(Backend):
    dialect = "postgresql"

    def __init__(self, location: StateLocation, *, read_only: bool = False) -> None:
        self.location = location
        self.notes = []
        self.created = False
        # A reader (runs list|show) neither creates nor upgrades the tables, as on SQLite.
        self.read_only, self.read_only_reason = read_only, "opened for reading" if read_only else None
        try:
            import psycopg  # noqa: F401 - the driver SQLAlchemy's postgresql+psycopg dialect loads
        except ImportError:
            raise StateError(
                f"--state {location}: PostgreSQL needs the psycopg driver: pip install 'portfleet[postgresql]'"
            ) from None
        self._engine = create_engine(
            location.url,
            pool_size=PG_POOL_SIZE,
            max_overflow=PG_OVERFLOW,
            pool_pre_ping=True,
            connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S, "application_name": "portfleet"},
            hide_parameters=True,
        )
        event.listen(self._engine, "connect", _pg_session_settings)
        try:
            self._probe()
        except SQLAlchemyError as exc:
            missing = _database_missing(exc, location.url.database)
            if not missing or read_only:
                self._engine.dispose()
                if missing:
                    from portfleet.state.sqlite_file import StateMissing

                    raise StateMissing(f"no state database {location} yet (no run has been recorded there)") from None
                raise StateError(f"cannot reach the state database {location}: {describe(location, exc)}") from None
            self._create_database()

    def _probe(self) -> None:
        with self._engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def _create_database(self) -> None:
        """First use of a database that does not exist yet: create it, as the URL's user, from the
        `postgres` maintenance database (the user needs CREATEDB; else say how to make it)."""
        from sqlalchemy import text

        name = self.location.url.database
        admin = create_engine(self.location.url.set(database="postgres"), isolation_level="AUTOCOMMIT",
                              connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S}, hide_parameters=True)
        try:
            with admin.connect() as conn:
                quoted = conn.dialect.identifier_preparer.quote(name)
                conn.execute(text(f"CREATE DATABASE {quoted}"))
            self._probe()
        except SQLAlchemyError as exc:
            if _sqlstate(exc) != "42P04":  # 42P04: another controller created it meanwhile
                self._engine.dispose()
                raise StateError(
                    f"the state database {self.location} does not exist and cannot be created "
                    f"({describe(self.location, exc)}): create it (createdb {name}) or grant CREATEDB"
                ) from None
            self._probe()
        finally:
            admin.dispose()
        self.created = True

    @contextmanager
    def write(self) -> Iterator[Connection]:
        try:
            with self._engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise self._wrap(exc) from None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise self._wrap(exc) from None

    def close(self) -> None:
        self._engine.dispose()


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(getattr(exc, "orig", None), "sqlstate", None)


def _database_missing(exc: BaseException, name: str) -> bool:
    # 3D000 when the server says so in a result; a refused connection carries only libpq's text.
    return _sqlstate(exc) == "3D000" or f'database "{name}" does not exist' in str(getattr(exc, "orig", exc))


def _pg_session_settings(dbapi_connection: Any, _record: Any) -> None:
    # A transaction stuck behind another's row lock fails after a minute instead of holding a
    # run (and its leases' heartbeat) for ever.
    with dbapi_connection.cursor() as cur:
        cur.execute("SET lock_timeout = '60s'")
    dbapi_connection.commit()


def open_backend(location: StateLocation, *, read_only: bool = False) -> Backend:
    if location.is_postgresql:
        return PostgresBackend(location, read_only=read_only)
    return SqliteBackend(location, read_only=read_only)
