"""Host leases: one run writes a host at a time, across processes, controllers and machines.

A lease is a row keyed by host (the primary key is the exclusion, atomic on SQLite and PostgreSQL)
naming the run and the process that holds it, with an expiry its run's heartbeat keeps pushing
forward. A lease is dead, and the next run recovers it, when its process is gone: on the same
controller host its pid is no longer alive; from anywhere, its expiry has passed (a process that
cannot renew its leases must not count on them: the journal's intent row checks the lease).
A run is `abandoned` by the same tests: running, but its controller is gone.

Controllers' clocks are compared (expiry is UTC written by the holder): keep them in NTP sync,
well within LEASE_SECONDS.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from portfleet.state import conflict
from portfleet.state.location import StateError
from portfleet.state.records import Lease, Run, lease_from, load_time
from portfleet.state.schema import host_leases
from portfleet.times import iso

LEASE_SECONDS = 90  # a lease (and a run's heartbeat) not renewed for this long is dead


class LeaseLost(StateError):
    """The run no longer holds the host's lease: another run took it over."""

    def __init__(self, host: str, holder: Lease) -> None:
        super().__init__(f"{host}: the lease was taken over by {holder.holder()}; nothing more is written")
        self.holder = holder


@dataclass(frozen=True)
class Controller:
    """The process driving a run: the machine's host name and the pid there."""

    host: str
    pid: int


def this_controller() -> Controller:
    return Controller(socket.gethostname(), os.getpid())


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    except OverflowError:
        return False
    return True


def _gone(host: str | None, pid: int | None, expires: datetime | None, now: datetime, me: Controller) -> bool:
    if host == me.host and pid == me.pid:
        return False
    if host == me.host and pid is not None and not pid_alive(pid):
        return True
    return expires is not None and expires < now


def lease_live(lease: Lease, now: datetime, me: Controller) -> bool:
    expires = load_time(lease.expires_at, f"the lease of {lease.host}")
    return not _gone(lease.controller_host, lease.controller_pid, expires, now, me)


def run_abandoned(run: Run, now: datetime, me: Controller, lease_seconds: float = LEASE_SECONDS) -> bool:
    """A `running` run whose controller is gone (unknown for runs that recorded no controller)."""
    if run.status != "running" or run.controller_host is None:
        return False
    beat = load_time(run.heartbeat_at, f"the heartbeat of run {run.id}")
    expires = beat + timedelta(seconds=lease_seconds) if beat is not None else None
    return _gone(run.controller_host, run.controller_pid, expires, now, me)


def _insert_if_free(conn: Connection, values: dict[str, object]) -> bool:
    statement = conflict.insert(conn.dialect.name, host_leases).values(**values)
    statement = statement.on_conflict_do_nothing(index_elements=["host"])
    return conn.execute(statement).rowcount == 1


def _current(conn: Connection, host: str, now: datetime, me: Controller) -> Lease | None:
    row = conn.execute(select(host_leases).where(host_leases.c.host == host)).mappings().first()
    if row is None:
        return None
    lease = lease_from(row)
    return replace(lease, live=lease_live(lease, now, me))


def acquire(conn: Connection, run_id: str, host: str, me: Controller, now: datetime, seconds: float) -> Lease | None:
    """Take `host` for `run_id` in the caller's transaction: None when taken, else the live holder."""
    expires = iso(now + timedelta(seconds=seconds))
    values = {"host": host, "run_id": run_id, "controller_host": me.host, "controller_pid": me.pid,
              "acquired_at": iso(now), "expires_at": expires}
    holder = None
    for _ in range(3):  # a dead holder removed by another run in between: look again
        if _insert_if_free(conn, values):
            return None
        holder = _current(conn, host, now, me)
        if holder is None:
            continue
        if holder.run_id == run_id:
            conn.execute(update(host_leases).where(host_leases.c.host == host).values(expires_at=expires))
            return None
        if holder.live:
            return holder
        # Recover the dead holder's lease: only that very row (another run may recover it too).
        conn.execute(delete(host_leases).where(host_leases.c.host == host, host_leases.c.run_id == holder.run_id,
                                               host_leases.c.acquired_at == holder.acquired_at))
    return holder


def check_held(conn: Connection, run_id: str, host: str, me: Controller, now: datetime, seconds: float) -> None:
    """Before a journal intent: the host is not another run's (and this run's lease is extended)."""
    holder = _current(conn, host, now, me)
    if holder is None:
        return  # not leased: a caller that takes no leases (or a lease that expired untaken)
    if holder.run_id != run_id:
        raise LeaseLost(host, holder)
    conn.execute(update(host_leases).where(host_leases.c.host == host)
                 .values(expires_at=iso(now + timedelta(seconds=seconds))))


def release(conn: Connection, run_id: str, host: str | None = None) -> int:
    statement = delete(host_leases).where(host_leases.c.run_id == run_id)
    if host is not None:
        statement = statement.where(host_leases.c.host == host)
    return conn.execute(statement).rowcount


def renew(conn: Connection, run_id: str, now: datetime, seconds: float) -> int:
    return conn.execute(update(host_leases).where(host_leases.c.run_id == run_id)
                        .values(expires_at=iso(now + timedelta(seconds=seconds)))).rowcount


def listed(conn: Connection, now: datetime, me: Controller, run_id: str | None = None) -> list[Lease]:
    statement = select(host_leases).order_by(host_leases.c.host)
    if run_id is not None:
        statement = statement.where(host_leases.c.run_id == run_id)
    found = []
    for row in conn.execute(statement).mappings():
        lease = lease_from(row)
        found.append(replace(lease, live=lease_live(lease, now, me)))
    return found
