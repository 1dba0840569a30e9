"""SQLite store: runs, per-host results, the write journal (prior values), pending reboots.

Journaled so that a crash or Ctrl-C loses nothing: a journal row ("intent", with the prior value
and the exact command) is committed BEFORE a write is sent, and completed after; a host result row
is committed when the host is done. WAL + synchronous=FULL: a committed row survives a power cut.
Secrets are never stored: rows hold host names, setting values and command lines only.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from portfleet.times import iso, parse_iso, utcnow

DEFAULT_PATH = Path(".portfleet") / "state.db"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,                 -- audit | apply | rollback | reboot | diagnose
    check_mode INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,               -- running | completed | stopped | interrupted | failed
    started_at TEXT NOT NULL,
    finished_at TEXT,
    inventory TEXT,
    playbook TEXT,
    limit_pattern TEXT,
    parent_run TEXT,                    -- rollback: the run it undoes
    summary TEXT,                       -- JSON
    note TEXT
);
CREATE TABLE IF NOT EXISTS host_results (
    run_id TEXT NOT NULL REFERENCES runs(id),
    host TEXT NOT NULL,
    status TEXT NOT NULL,
    detail TEXT,
    facts TEXT,                         -- JSON
    settings TEXT,                      -- JSON list of per-setting rows
    finished_at TEXT NOT NULL,
    PRIMARY KEY (run_id, host)
);
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(id),
    host TEXT NOT NULL,
    setting TEXT NOT NULL,
    prior TEXT,                         -- JSON value before the write (null = absent)
    desired TEXT,                       -- JSON value written (null = deleted)
    command TEXT NOT NULL,
    state TEXT NOT NULL,                -- intent | done | failed | verified | unverified
    exit_code INTEGER,
    output TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS journal_run ON journal(run_id, host);
CREATE TABLE IF NOT EXISTS pending_reboots (
    host TEXT NOT NULL,
    setting TEXT NOT NULL,
    applied_at TEXT NOT NULL,           -- controller UTC time of the write
    run_id TEXT NOT NULL,
    PRIMARY KEY (host, setting)
);
"""


def default_state_path() -> Path:
    env = os.environ.get("PORTFLEET_STATE")
    return Path(env) if env else DEFAULT_PATH


def new_run_id(now: datetime | None = None) -> str:
    now = now or utcnow()
    return now.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


@dataclass(frozen=True)
class Run:
    id: str
    kind: str
    check_mode: bool
    status: str
    started_at: str
    finished_at: str | None
    inventory: str | None
    playbook: str | None
    limit_pattern: str | None
    parent_run: str | None
    summary: dict[str, Any] | None
    note: str | None


@dataclass(frozen=True)
class HostResult:
    run_id: str
    host: str
    status: str
    detail: str | None
    facts: dict[str, Any] | None
    settings: list[dict[str, Any]]
    finished_at: str


@dataclass(frozen=True)
class JournalEntry:
    id: int
    run_id: str
    host: str
    setting: str
    prior: Any
    desired: Any
    command: str
    state: str
    exit_code: int | None
    output: str | None
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class PendingReboot:
    host: str
    setting: str
    applied_at: datetime
    run_id: str


class StateError(Exception):
    pass


class Store:
    """Thread-safe: one connection guarded by a lock; every mutation is its own transaction."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
            self._db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{self.path}: not a usable portfleet state database ({exc})") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One transaction under the lock: committed at the end, rolled back on any error (Ctrl-C too)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                # A signal can land after COMMIT completed (the interrupt is then raised on the way
                # out): there is nothing to roll back, and a ROLLBACK would fail with "no transaction
                # is active" and mask the interrupt.
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _write(self, sql: str, params: tuple[Any, ...]) -> sqlite3.Cursor:
        with self._transaction() as db:
            return db.execute(sql, params)

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            cur = self._db.execute(sql, params)
            cur.row_factory = sqlite3.Row
            return cur.fetchall()

    # -- runs ----------------------------------------------------------------------------------
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
        self._write(
            "INSERT INTO runs(id, kind, check_mode, status, started_at, inventory, playbook, limit_pattern,"
            " parent_run, note) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (run_id, kind, int(check_mode), "running", iso(utcnow()), inventory, playbook, limit_pattern, parent_run, note),
        )
        return run_id

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any] | None = None) -> None:
        self._write(
            "UPDATE runs SET status=?, finished_at=?, summary=? WHERE id=?",
            (status, iso(utcnow()), json.dumps(summary) if summary is not None else None, run_id),
        )

    def get_run(self, run_id: str) -> Run:
        rows = self._rows("SELECT * FROM runs WHERE id=?", (run_id,))
        if not rows:
            rows = self._rows("SELECT * FROM runs WHERE id LIKE ? ORDER BY started_at DESC", (run_id + "%",))
            if len(rows) > 1:
                raise StateError(f"run id {run_id!r} is ambiguous: {', '.join(r['id'] for r in rows[:5])}")
        if not rows:
            raise StateError(f"no run {run_id!r} in {self.path} (see `portfleet runs list`)")
        return _run(rows[0])

    def list_runs(self, limit: int = 50) -> list[Run]:
        return [_run(r) for r in self._rows("SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", (limit,))]

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
        self._write(
            "INSERT OR REPLACE INTO host_results(run_id, host, status, detail, facts, settings, finished_at)"
            " VALUES (?,?,?,?,?,?,?)",
            (run_id, host, status, detail, json.dumps(facts) if facts is not None else None, json.dumps(settings), iso(utcnow())),
        )

    def host_results(self, run_id: str) -> list[HostResult]:
        return [
            HostResult(
                run_id=r["run_id"],
                host=r["host"],
                status=r["status"],
                detail=r["detail"],
                facts=json.loads(r["facts"]) if r["facts"] else None,
                settings=json.loads(r["settings"]) if r["settings"] else [],
                finished_at=r["finished_at"],
            )
            for r in self._rows("SELECT * FROM host_results WHERE run_id=? ORDER BY host", (run_id,))
        ]

    # -- journal -------------------------------------------------------------------------------
    def journal_intent(self, run_id: str, host: str, setting: str, prior: Any, desired: Any, command: str) -> int:
        now = iso(utcnow())
        cur = self._write(
            "INSERT INTO journal(run_id, host, setting, prior, desired, command, state, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (run_id, host, setting, json.dumps(prior), json.dumps(desired), command, "intent", now, now),
        )
        return int(cur.lastrowid)

    def journal_update(self, entry_id: int, state: str, exit_code: int | None = None, output: str | None = None) -> None:
        self._write(
            "UPDATE journal SET state=?, exit_code=COALESCE(?, exit_code), output=COALESCE(?, output), updated_at=?"
            " WHERE id=?",
            (state, exit_code, output, iso(utcnow()), entry_id),
        )

    def journal(self, run_id: str, host: str | None = None) -> list[JournalEntry]:
        sql = "SELECT * FROM journal WHERE run_id=?"
        params: tuple[Any, ...] = (run_id,)
        if host is not None:
            sql += " AND host=?"
            params += (host,)
        return [
            JournalEntry(
                id=r["id"],
                run_id=r["run_id"],
                host=r["host"],
                setting=r["setting"],
                prior=json.loads(r["prior"]) if r["prior"] is not None else None,
                desired=json.loads(r["desired"]) if r["desired"] is not None else None,
                command=r["command"],
                state=r["state"],
                exit_code=r["exit_code"],
                output=r["output"],
                created_at=r["created_at"],
                updated_at=r["updated_at"],
            )
            for r in self._rows(sql + " ORDER BY id", params)
        ]

    # -- pending reboots -----------------------------------------------------------------------
    def mark_pending_reboot(self, host: str, setting: str, applied_at: datetime, run_id: str) -> None:
        self._write(
            "INSERT OR REPLACE INTO pending_reboots(host, setting, applied_at, run_id) VALUES (?,?,?,?)",
            (host, setting, iso(applied_at), run_id),
        )

    def pending_reboots(self, host: str | None = None) -> list[PendingReboot]:
        sql, params = "SELECT * FROM pending_reboots", ()
        if host is not None:
            sql, params = sql + " WHERE host=?", (host,)
        return [
            PendingReboot(r["host"], r["setting"], parse_iso(r["applied_at"]), r["run_id"])
            for r in self._rows(sql + " ORDER BY host, setting", params)
        ]

    def clear_pending_reboots(self, host: str, booted_at: datetime) -> int:
        """Drop the host's pending rows applied before `booted_at`: that boot made them effective."""
        cur = self._write(
            "DELETE FROM pending_reboots WHERE host=? AND applied_at < ?", (host, iso(booted_at))
        )
        return cur.rowcount


def _run(r: sqlite3.Row) -> Run:
    return Run(
        id=r["id"],
        kind=r["kind"],
        check_mode=bool(r["check_mode"]),
        status=r["status"],
        started_at=r["started_at"],
        finished_at=r["finished_at"],
        inventory=r["inventory"],
        playbook=r["playbook"],
        limit_pattern=r["limit_pattern"],
        parent_run=r["parent_run"],
        summary=json.loads(r["summary"]) if r["summary"] else None,
        note=r["note"],
    )


# =================================================================================================
# Reboot section (portfleet reboot run | schedule | status): its own tables, created by RebootStore.
# A reboot run keeps one row per host. The row moves planned -> shutdown_intent (committed BEFORE the
# shutdown command is sent, with the boot time read just before) -> shutdown_sent -> down -> a final
# state. A resumed run reads these rows: a host whose shutdown may have been sent is checked against
# its recorded boot time instead of being sent another shutdown, so no host reboots twice.
# =================================================================================================

_REBOOT_SCHEMA = """
CREATE TABLE IF NOT EXISTS reboot_runs (
    run_id TEXT PRIMARY KEY REFERENCES runs(id),
    options TEXT NOT NULL,              -- JSON: delay, timeouts, max_fail, ignore_windows, ...
    controller_pid INTEGER,             -- the process driving the run (a resume refuses a live one)
    controller_host TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reboot_hosts (
    run_id TEXT NOT NULL REFERENCES runs(id),
    host TEXT NOT NULL,
    position INTEGER NOT NULL,          -- order in the original plan
    batch INTEGER,                      -- batch the host ran in (null while planned)
    state TEXT NOT NULL,                -- planned | shutdown_intent | shutdown_sent | down | verified |
                                        -- not_compliant | failed | skipped | unschedulable
    reasons TEXT NOT NULL,              -- JSON list: why the host needs a reboot
    forced INTEGER NOT NULL DEFAULT 0,
    boot_before TEXT,                   -- host boot time read just before the shutdown
    command TEXT,                       -- the exact shutdown command line
    sent_at TEXT,                       -- controller UTC time the shutdown was sent
    down_at TEXT,                       -- first time the host was seen down
    boot_after TEXT,                    -- boot time after the reboot
    detail TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (run_id, host)
);
CREATE TABLE IF NOT EXISTS reboot_schedules (
    host TEXT PRIMARY KEY,
    task TEXT NOT NULL,                 -- scheduled task name on the host
    due_at TEXT NOT NULL,               -- UTC instant the task fires
    local_start TEXT NOT NULL,          -- as given to schtasks, host-local: "MM/DD/YYYY HH:MM"
    command TEXT NOT NULL,              -- the schtasks /create line sent
    boot_before TEXT,                   -- host boot time when the task was created
    run_id TEXT,
    created_at TEXT NOT NULL
);
"""

REBOOT_IN_FLIGHT = ("shutdown_intent", "shutdown_sent", "down")
REBOOT_FINAL = ("verified", "not_compliant", "failed", "skipped", "unschedulable")

_REBOOT_HOST_FIELDS = ("batch", "state", "boot_before", "command", "sent_at", "down_at", "boot_after", "detail")


@dataclass(frozen=True)
class RebootRunInfo:
    run_id: str
    options: dict[str, Any]
    controller_pid: int | None
    controller_host: str | None


@dataclass(frozen=True)
class RebootHostRow:
    run_id: str
    host: str
    position: int
    batch: int | None
    state: str
    reasons: list[str]
    forced: bool
    boot_before: datetime | None
    command: str | None
    sent_at: datetime | None
    down_at: datetime | None
    boot_after: datetime | None
    detail: str | None
    updated_at: str


@dataclass(frozen=True)
class RebootSchedule:
    host: str
    task: str
    due_at: datetime
    local_start: str
    command: str
    boot_before: datetime | None
    run_id: str | None
    created_at: datetime


def _opt_time(text: str | None) -> datetime | None:
    return parse_iso(text) if text else None


class RebootStore(Store):
    """A Store with the reboot tables (created on open, idempotently)."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(path)
        try:
            with self._lock:
                self._db.executescript(_REBOOT_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{self.path}: cannot add the reboot tables ({exc})") from None

    # -- reboot runs ---------------------------------------------------------------------------
    def reboot_run_create(self, run_id: str, options: dict[str, Any], pid: int, host: str) -> None:
        self._write(
            "INSERT INTO reboot_runs(run_id, options, controller_pid, controller_host, updated_at) VALUES (?,?,?,?,?)",
            (run_id, json.dumps(options), pid, host, iso(utcnow())),
        )

    def reboot_run_info(self, run_id: str) -> RebootRunInfo | None:
        rows = self._rows("SELECT * FROM reboot_runs WHERE run_id=?", (run_id,))
        if not rows:
            return None
        r = rows[0]
        return RebootRunInfo(r["run_id"], json.loads(r["options"]), r["controller_pid"], r["controller_host"])

    def reboot_run_claim(self, run_id: str, pid: int, host: str) -> None:
        """A resuming controller takes the run over: running again, driven by this process (one
        transaction, so a crash never leaves a run claimed but not running, or the reverse)."""
        with self._transaction() as db:
            db.execute(
                "UPDATE reboot_runs SET controller_pid=?, controller_host=?, updated_at=? WHERE run_id=?",
                (pid, host, iso(utcnow()), run_id),
            )
            db.execute("UPDATE runs SET status='running', finished_at=NULL WHERE id=?", (run_id,))

    def last_unfinished_reboot_run(self) -> Run | None:
        """The newest reboot run that a crash or Ctrl-C cut off (status running or interrupted)."""
        rows = self._rows(
            "SELECT runs.* FROM runs JOIN reboot_runs ON reboot_runs.run_id = runs.id"
            " WHERE runs.kind='reboot' AND runs.check_mode=0 AND runs.status IN ('running','interrupted')"
            " ORDER BY runs.started_at DESC LIMIT 1"
        )
        return _run(rows[0]) if rows else None

    # -- reboot hosts --------------------------------------------------------------------------
    def reboot_hosts_add(self, run_id: str, hosts: list[tuple[str, list[str], bool]]) -> None:
        """(host, reasons, forced) in plan order, all in one transaction."""
        now = iso(utcnow())
        with self._transaction() as db:
            for position, (host, reasons, forced) in enumerate(hosts):
                db.execute(
                    "INSERT INTO reboot_hosts(run_id, host, position, state, reasons, forced, updated_at)"
                    " VALUES (?,?,?,?,?,?,?)",
                    (run_id, host, position, "planned", json.dumps(reasons), int(forced), now),
                )

    def reboot_host_update(self, run_id: str, host: str, **fields: Any) -> None:
        """Set some of: batch, state, boot_before, command, sent_at, down_at, boot_after, detail."""
        unknown = set(fields) - set(_REBOOT_HOST_FIELDS)
        if unknown:
            raise ValueError(f"unknown reboot host field(s): {', '.join(sorted(unknown))}")
        values = [iso(v) if isinstance(v, datetime) else v for v in fields.values()]
        assignments = ", ".join(f"{k}=?" for k in fields)
        self._write(
            f"UPDATE reboot_hosts SET {assignments}, updated_at=? WHERE run_id=? AND host=?",
            (*values, iso(utcnow()), run_id, host),
        )

    def reboot_hosts(self, run_id: str) -> list[RebootHostRow]:
        return [
            RebootHostRow(
                run_id=r["run_id"],
                host=r["host"],
                position=r["position"],
                batch=r["batch"],
                state=r["state"],
                reasons=json.loads(r["reasons"]),
                forced=bool(r["forced"]),
                boot_before=_opt_time(r["boot_before"]),
                command=r["command"],
                sent_at=_opt_time(r["sent_at"]),
                down_at=_opt_time(r["down_at"]),
                boot_after=_opt_time(r["boot_after"]),
                detail=r["detail"],
                updated_at=r["updated_at"],
            )
            for r in self._rows("SELECT * FROM reboot_hosts WHERE run_id=? ORDER BY position", (run_id,))
        ]

    def reboot_host(self, run_id: str, host: str) -> RebootHostRow | None:
        return next((r for r in self.reboot_hosts(run_id) if r.host == host), None)

    # -- host-side schedules (schtasks) --------------------------------------------------------
    def reboot_schedule_set(
        self,
        host: str,
        task: str,
        due_at: datetime,
        local_start: str,
        command: str,
        boot_before: datetime | None,
        run_id: str | None,
    ) -> None:
        self._write(
            "INSERT OR REPLACE INTO reboot_schedules(host, task, due_at, local_start, command, boot_before, run_id,"
            " created_at) VALUES (?,?,?,?,?,?,?,?)",
            (host, task, iso(due_at), local_start, command, iso(boot_before) if boot_before else None, run_id,
             iso(utcnow())),
        )

    def reboot_schedules(self, host: str | None = None) -> list[RebootSchedule]:
        sql, params = "SELECT * FROM reboot_schedules", ()
        if host is not None:
            sql, params = sql + " WHERE host=?", (host,)
        return [
            RebootSchedule(
                host=r["host"],
                task=r["task"],
                due_at=parse_iso(r["due_at"]),
                local_start=r["local_start"],
                command=r["command"],
                boot_before=_opt_time(r["boot_before"]),
                run_id=r["run_id"],
                created_at=parse_iso(r["created_at"]),
            )
            for r in self._rows(sql + " ORDER BY host", params)
        ]

    def reboot_schedule_clear(self, host: str) -> int:
        return self._write("DELETE FROM reboot_schedules WHERE host=?", (host,)).rowcount
