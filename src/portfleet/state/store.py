"""The state store: runs, per-host results, the write journal (prior values), pending reboots, leases.

Journaled so that a crash or a signal loses nothing: a journal row ("intent", with the prior value
and the exact command) is COMMITTED before a write is sent, and completed after; a host result row
is committed when the host is done. One transaction per mutation, on SQLite (default, one machine)
and PostgreSQL (shared by many controllers) alike. Secrets are never stored: rows hold host names,
setting values and command lines only.
"""

from __future__ import annotations

import functools
import json
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.engine import Connection

from portfleet.state import conflict, latest
from portfleet.state import leases as lease_rules
from portfleet.state.backend import Backend, open_backend
from portfleet.state.latest import Sighting
from portfleet.state.location import StateError, StateLocation, parse_location
from portfleet.state.migrate import ensure_schema
from portfleet.state.records import (
    HostResult,
    JournalEntry,
    Lease,
    PendingReboot,
    Run,
    host_result_from,
    journal_from,
    pending_from,
    run_from,
)
from portfleet.state.schema import host_results, journal, pending_reboots, runs
from portfleet.times import iso, utcnow


def new_run_id(now: datetime | None = None) -> str:
    now = now or utcnow()
    return now.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def upsert(conn: Connection, table: Table, values: dict[str, Any], keys: Sequence[str]) -> None:
    """INSERT, or UPDATE the row with the same key (the old INSERT OR REPLACE), on either backend."""
    conn.execute(_upsert_statement(conn.dialect.name, table, tuple(values), tuple(keys)), values)


@functools.lru_cache(maxsize=64)
def _upsert_statement(dialect_name: str, table: Table, columns: tuple[str, ...], keys: tuple[str, ...]) -> Any:
    """The statement once per table and column set, the values bound at execution: building it (its `excluded`
    alias above all) took half of an audit's controller CPU when done for every host."""
    statement = conflict.insert(dialect_name, table)
    changes = {k: statement.excluded[k] for k in columns if k not in keys}
    return statement.on_conflict_do_update(index_elements=list(keys), set_=changes)


class Store:
    """Thread-safe; every mutation is its own transaction.

    `Store(path_or_url)`: open for writing (created and upgraded as needed). `read_only=True`:
    open as it is, no creation, no migration (runs list|show on read-only media); a write then
    says the store is read-only.
    """

    def __init__(self, path: Path | str | StateLocation, *, read_only: bool = False,
                 lease_seconds: float = lease_rules.LEASE_SECONDS) -> None:
        self.location = path if isinstance(path, StateLocation) else parse_location(path)
        self.path = self.location.path  # None for PostgreSQL
        self.lease_seconds = lease_seconds
        self.controller = lease_rules.this_controller()
        self.job: str | None = None  # label_runs(): the sliced job and shard of the runs started here
        self.shard: str | None = None
        self._backend: Backend = open_backend(self.location, read_only=read_only)
        try:
            self._columns = ensure_schema(self._backend)
        except BaseException:
            self._backend.close()
            raise

    @property
    def read_only(self) -> bool:
        return self._backend.read_only

    @property
    def notes(self) -> list[str]:
        """What a reader should know about this store (read-only media, an older schema)."""
        return list(self._backend.notes)

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------------
    def _transaction(self):  # type: ignore[no-untyped-def]
        return self._backend.write()

    def _select(self, table: Table):  # type: ignore[no-untyped-def]
        """SELECT of the columns this database has (an older one, opened read-only, has fewer)."""
        present = self._columns.get(table.name, set())
        return select(*[c for c in table.c if c.name in present])

    def _has(self, table: Table) -> bool:
        return table.name in self._columns

    def _rows(self, statement: Any) -> list[dict[str, Any]]:
        with self._backend.read() as conn:
            return [dict(r) for r in conn.execute(statement).mappings()]

    # -- runs ----------------------------------------------------------------------------------
    def label_runs(self, job: str | None, shard: str | None) -> None:
        """Every run started through this store from now on is shard `shard` ("K/N") of `job`: one
        controller process is one shard of one sliced job (--shard, --job), whichever command it runs."""
        self.job, self.shard = job, shard

    def start_run(
        self,
        kind: str,
        *,
        check_mode: bool = False,
        inventory: str | None = None,
        playbook: str | None = None,
        limit_pattern: str | None = None,
        parent_run: str | None = None,
        note: str | None = None,
    ) -> str:
        run_id = new_run_id()
        labels = {"job": self.job, "shard": self.shard} if "job" in self._columns.get("runs", ()) else {}
        with self._transaction() as conn:
            conn.execute(insert(runs).values(
                id=run_id, kind=kind, check_mode=int(check_mode), status="running", started_at=iso(utcnow()),
                inventory=inventory, playbook=playbook, limit_pattern=limit_pattern, parent_run=parent_run,
                note=note, controller_host=self.controller.host, controller_pid=self.controller.pid, **labels,
            ))
        return run_id

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any] | None = None) -> None:
        with self._transaction() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(
                status=status, finished_at=iso(utcnow()), summary=json.dumps(summary) if summary is not None else None,
            ))

    def get_run(self, run_id: str) -> Run:
        if not self._has(runs):
            raise StateError(f"no run {run_id!r} in {self.location} (see `portfleet runs list`)")
        rows = self._rows(self._select(runs).where(runs.c.id == run_id))
        if not rows:
            rows = self._rows(self._select(runs).where(runs.c.id.startswith(run_id, autoescape=True))
                              .order_by(runs.c.started_at.desc()).limit(6))
            if len(rows) > 1:
                raise StateError(f"run id {run_id!r} is ambiguous: {', '.join(r['id'] for r in rows[:5])}")
        if not rows:
            raise StateError(f"no run {run_id!r} in {self.location} (see `portfleet runs list`)")
        return run_from(rows[0])

    def list_runs(self, limit: int = 50, job: str | None = None) -> list[Run]:
        """The newest runs first (of one job: `job`; a store from before jobs has none)."""
        if not self._has(runs):
            return []
        statement = self._select(runs)
        if job is not None:
            if not self.has_jobs:
                return []
            statement = statement.where(runs.c.job == job)
        return [run_from(r) for r in self._rows(statement.order_by(runs.c.started_at.desc(), runs.c.id).limit(limit))]

    @property
    def has_jobs(self) -> bool:
        """The runs table has the job and shard columns (revision 0003; an older store read as it is has not)."""
        return "job" in self._columns.get("runs", ())

    def job_runs(self, job: str, kinds: Sequence[str] | None = None) -> list[Run]:
        """Every run of `job` (of these kinds), oldest first: the shards of one sliced job and their retries."""
        if not self._has(runs) or not self.has_jobs:
            return []
        statement = self._select(runs).where(runs.c.job == job)
        if kinds is not None:
            statement = statement.where(runs.c.kind.in_(list(kinds)))
        return [run_from(r) for r in self._rows(statement.order_by(runs.c.started_at, runs.c.id))]

    def shown_status(self, run: Run) -> str:
        """The status to show: `abandoned` for a run recorded as running whose controller is gone."""
        if lease_rules.run_abandoned(run, utcnow(), self.controller, self.lease_seconds):
            return "abandoned"
        return run.status

    def run_alive(self, run: Run) -> bool:
        """Recorded as running and its controller not known to be gone."""
        return run.status == "running" and self.shown_status(run) == "running"

    # -- host results --------------------------------------------------------------------------
    def record_host(
        self,
        run_id: str,
        host: str,
        status: str,
        detail: str | None,
        facts: dict[str, Any] | None,
        settings: list[dict[str, Any]],
    ) -> None:
        values = {"run_id": run_id, "host": host, "status": status, "detail": detail,
                  "facts": json.dumps(facts) if facts is not None else None, "settings": json.dumps(settings),
                  "finished_at": iso(utcnow())}
        with self._transaction() as conn:
            upsert(conn, host_results, values, ("run_id", "host"))

    def host_results(self, run_id: str) -> list[HostResult]:
        if not self._has(host_results):
            return []
        statement = self._select(host_results).where(host_results.c.run_id == run_id).order_by(host_results.c.host)
        return [host_result_from(r) for r in self._rows(statement)]

    def newest_results(self, *, reads_only: bool = False, job: str | None = None,
                       shard: str | None = None) -> dict[str, Sighting]:
        """Per host, the newest result a setting run (of `job`, of `shard`) recorded (state/latest.py):
        `portfleet status`."""
        if not (self._has(host_results) and self._has(runs)):
            return {}
        with self._backend.read() as conn:
            return latest.newest(conn, self._columns["runs"], reads_only=reads_only, job=job, shard=shard)

    def results_since(self, kind: str, since: datetime) -> list[HostResult]:
        """The results of `kind` runs recorded since `since`, per host oldest first (diagnose's history)."""
        if not (self._has(host_results) and self._has(runs)):
            return []
        with self._backend.read() as conn:
            return latest.results_since(conn, kind, iso(since))

    # -- journal -------------------------------------------------------------------------------
    def journal_intent(self, run_id: str, host: str, setting: str, prior: Any, desired: Any, command: str) -> int:
        """Commit the intent row (before the write is sent). Refused with LeaseLost when another run
        holds the host's lease: the fence that keeps a run that lost its lease from writing."""
        now = utcnow()
        with self._transaction() as conn:
            if self._has_leases():
                lease_rules.check_held(conn, run_id, host, self.controller, now, self.lease_seconds)
            result = conn.execute(insert(journal).values(
                run_id=run_id, host=host, setting=setting, prior=json.dumps(prior), desired=json.dumps(desired),
                command=command, state="intent", created_at=iso(now), updated_at=iso(now),
            ))
            return int(result.inserted_primary_key[0])

    def journal_update(self, entry_id: int, state: str, exit_code: int | None = None, output: str | None = None) -> None:
        values: dict[str, Any] = {"state": state, "updated_at": iso(utcnow())}
        if exit_code is not None:
            values["exit_code"] = exit_code
        if output is not None:
            values["output"] = output
        with self._transaction() as conn:
            conn.execute(update(journal).where(journal.c.id == entry_id).values(**values))

    def journal(self, run_id: str, host: str | None = None) -> list[JournalEntry]:
        if not self._has(journal):
            return []
        statement = self._select(journal).where(journal.c.run_id == run_id)
        if host is not None:
            statement = statement.where(journal.c.host == host)
        return [journal_from(r) for r in self._rows(statement.order_by(journal.c.id))]

    def host_journal(self, host: str, since: datetime | None = None) -> list[JournalEntry]:
        """The host's journal rows of every run, oldest first; with `since`, those created at or after
        it (the writes since a boot: the earliest one's prior value is what that boot put in force)."""
        if not self._has(journal):
            return []
        statement = self._select(journal).where(journal.c.host == host)
        if since is not None:
            statement = statement.where(journal.c.created_at >= iso(since))
        return [journal_from(r) for r in self._rows(statement.order_by(journal.c.id))]

    def journal_count(self, run_id: str | None = None) -> int:
        statement = select(func.count()).select_from(journal)
        if run_id is not None:
            statement = statement.where(journal.c.run_id == run_id)
        with self._backend.read() as conn:
            return int(conn.execute(statement).scalar() or 0)

    # -- pending reboots -----------------------------------------------------------------------
    def mark_pending_reboot(self, host: str, setting: str, applied_at: datetime, run_id: str) -> None:
        values = {"host": host, "setting": setting, "applied_at": iso(applied_at), "run_id": run_id}
        with self._transaction() as conn:
            upsert(conn, pending_reboots, values, ("host", "setting"))

    def unmark_pending_reboot(self, host: str, setting: str) -> None:
        """Drop one pending row (apply: a write marked pending before it was sent, that Windows refused)."""
        with self._transaction() as conn:
            conn.execute(delete(pending_reboots).where(pending_reboots.c.host == host,
                                                       pending_reboots.c.setting == setting))

    def pending_reboots(self, host: str | None = None) -> list[PendingReboot]:
        if not self._has(pending_reboots):
            return []
        statement = self._select(pending_reboots)
        if host is not None:
            statement = statement.where(pending_reboots.c.host == host)
        statement = statement.order_by(pending_reboots.c.host, pending_reboots.c.setting)
        return [pending_from(r) for r in self._rows(statement)]

    def clear_pending_reboots(self, host: str, booted_at: datetime) -> int:
        """Drop the host's pending rows applied before `booted_at`: that boot made them effective."""
        if self.read_only:
            return 0  # a reader only looks; the next writer drops them
        with self._transaction() as conn:
            return conn.execute(delete(pending_reboots).where(
                pending_reboots.c.host == host, pending_reboots.c.applied_at < iso(booted_at))).rowcount

    # -- host leases (leases.py) ---------------------------------------------------------------
    def _has_leases(self) -> bool:
        return "host_leases" in self._columns

    def acquire_lease(self, run_id: str, host: str) -> Lease | None:
        """Take `host` for the run (one transaction): None when taken, else the live holder."""
        with self._transaction() as conn:
            return lease_rules.acquire(conn, run_id, host, self.controller, utcnow(), self.lease_seconds)

    def release_lease(self, run_id: str, host: str | None = None) -> int:
        """Give back the run's lease on `host` (every lease of the run when host is None)."""
        with self._transaction() as conn:
            return lease_rules.release(conn, run_id, host)

    def heartbeat(self, run_id: str) -> int:
        """The run is alive: its heartbeat and its leases' expiry move forward (one transaction)."""
        now = utcnow()
        with self._transaction() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(heartbeat_at=iso(now)))
            return lease_rules.renew(conn, run_id, now, self.lease_seconds)

    def leases(self, run_id: str | None = None) -> list[Lease]:
        """The leases held (of one run, or all), each marked live or dead."""
        if not self._has_leases():
            return []
        with self._backend.read() as conn:
            return lease_rules.listed(conn, utcnow(), self.controller, run_id)

