"""The state store (DESIGN "Layout": state/): SQLite by default, PostgreSQL by URL.

    location.py   --state PATH|URL, the URL's password masked
    schema.py     the one schema (SQLAlchemy Core); migrations/ + migrate.py: Alembic, run on open
    sqlite_file.py  the SQLite file: 0600, never someone else's file, read-only media
    backend.py    connections and transactions (SQLite: one connection + lock; PostgreSQL: a pool)
    conflict.py   INSERT ... ON CONFLICT in the connection's dialect (PostgreSQL's imported only for it)
    records.py    rows as values; store.py the Store; leases.py host leases; heartbeat.py
    latest.py     the newest result of every host (portfleet status)
    reboot.py     RebootStore: the reboot tables' methods

Callers import from here: `from portfleet.state import Store, RebootStore, StateError, ...`.
"""

from portfleet.state.heartbeat import Heartbeat
from portfleet.state.latest import Sighting
from portfleet.state.leases import LEASE_SECONDS, LeaseLost
from portfleet.state.location import (
    DEFAULT_PATH,
    StateError,
    StateLocation,
    default_location,
    default_state_path,
    parse_location,
)
from portfleet.state.reboot import (
    REBOOT_FINAL,
    REBOOT_IN_FLIGHT,
    RebootHostRow,
    RebootRunInfo,
    RebootSchedule,
    RebootStore,
)
from portfleet.state.records import HostResult, JournalEntry, Lease, PendingReboot, Run
from portfleet.state.schema import SCHEMA_VERSION
from portfleet.state.sqlite_file import StateMissing
from portfleet.state.store import Store, new_run_id
from portfleet.times import iso, parse_iso, utcnow

__all__ = [
    "DEFAULT_PATH",
    "LEASE_SECONDS",
    "REBOOT_FINAL",
    "REBOOT_IN_FLIGHT",
    "SCHEMA_VERSION",
    "Heartbeat",
    "HostResult",
    "JournalEntry",
    "Lease",
    "LeaseLost",
    "PendingReboot",
    "RebootHostRow",
    "RebootRunInfo",
    "RebootSchedule",
    "RebootStore",
    "Run",
    "Sighting",
    "StateError",
    "StateLocation",
    "StateMissing",
    "Store",
    "default_location",
    "default_state_path",
    "iso",
    "new_run_id",
    "parse_iso",
    "parse_location",
    "utcnow",
]
