"""A state.db as portfleet 0.1.0 (schema_version 1, before Alembic) made it: its SQL, verbatim.

Kept frozen here (copied from that release's src/portfleet/state.py) so the migration tests build
exactly the file a user has, with rows in every table.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

V1_SCHEMA = """
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

V1_REBOOT_SCHEMA = """
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

V1_TABLES = ("runs", "host_results", "journal", "pending_reboots", "reboot_runs", "reboot_hosts", "reboot_schedules")


def make_v1_state(path: Path, *, reboot_tables: bool = True) -> None:
    """The file as 0.1.0 left it after an apply (one host done, one cut off) and a reboot run."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(V1_SCHEMA)
    db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', '1')")
    t0, t1 = "2026-11-20T10:00:00.000000+00:00", "2026-11-20T10:05:00.000000+00:00"
    summary = json.dumps({"compliant": 0, "pending_reboot": 1, "hosts": 1, "skipped": 0})
    db.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
               ("20261120-100000-aaaa", "apply", 0, "completed", t0, t1, "inv.yml", "pb.yml", "web*", None, summary, None))
    db.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
               ("20261120-110000-bbbb", "apply", 0, "running", t1, None, "inv.yml", "pb.yml", None, None, None, "cut off"))
    db.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
               ("20261120-120000-cccc", "reboot", 0, "interrupted", t1, t1, "inv.yml", "pb.yml", None, None, None, None))
    db.execute("INSERT INTO host_results VALUES (?,?,?,?,?,?,?)",
               ("20261120-100000-aaaa", "web-01", "pending_reboot", None, json.dumps({"os_version": "10.0.20348"}),
                json.dumps([{"key": "MaxUserPort", "status": "pending_reboot"}]), t1))
    journal = [
        ("20261120-100000-aaaa", "web-01", "MaxUserPort", json.dumps(None), json.dumps(65534),
         'reg add "HKLM\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters" /v MaxUserPort /t REG_DWORD /d 65534 /f',
         "verified", 0, "The operation completed successfully.", t0, t1),
        ("20261120-110000-bbbb", "web-02", "dynamicport.ipv4.tcp", json.dumps({"start": 49152, "num": 16384}),
         json.dumps({"start": 10000, "num": 55536}), "netsh int ipv4 set dynamicport tcp start=10000 num=55536",
         "intent", None, None, t1, t1),
    ]
    db.executemany("INSERT INTO journal(run_id, host, setting, prior, desired, command, state, exit_code, output,"
                   " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)", journal)
    db.execute("INSERT INTO pending_reboots VALUES (?,?,?,?)", ("web-01", "MaxUserPort", t0, "20261120-100000-aaaa"))
    if reboot_tables:
        db.executescript(V1_REBOOT_SCHEMA)
        db.execute("INSERT INTO reboot_runs VALUES (?,?,?,?,?)",
                   ("20261120-120000-cccc", json.dumps({"delay": 60}), 4242, "ctl-old", t1))
        db.execute("INSERT INTO reboot_hosts VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   ("20261120-120000-cccc", "web-01", 0, 1, "shutdown_sent", json.dumps(["MaxUserPort"]), 0, t0,
                    "shutdown /r /t 60", t1, None, None, None, t1))
        db.execute("INSERT INTO reboot_schedules VALUES (?,?,?,?,?,?,?,?)",
                   ("web-03", "portfleet-reboot", t1, "11/28/2026 02:00", "schtasks /create ...", t0, None, t0))
    db.close()


def table_rows(path: Path, table: str, columns: list[str] | None = None) -> list[tuple]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        shown = ", ".join(columns) if columns else "*"
        return sorted(db.execute(f"SELECT {shown} FROM {table}").fetchall(), key=repr)
    finally:
        db.close()


def columns_of(path: Path, table: str) -> list[str]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
    finally:
        db.close()
