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
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

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


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat(timespec="microseconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


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

    def _write(self, sql: str, params: tuple[Any, ...]) -> sqlite3.Cursor:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.execute(sql, params)
                self._db.execute("COMMIT")
                return cur
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

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
