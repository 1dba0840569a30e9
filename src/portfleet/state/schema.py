"""The state schema at its newest revision, one definition for SQLite and PostgreSQL (SQLAlchemy Core).

Column types are those today's state.db files already have (schema_version 1): instants are UTC ISO
8601 text (they sort as text), JSON documents are text, flags are integers. The migrations
(migrations/versions/) build exactly this; tests check that the two agree on both backends.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, MetaData, Table, Text

SCHEMA_VERSION = 3  # meta.schema_version: 1 = before Alembic, 2 = host leases and run controllers, 3 = jobs
HEAD_REVISION = "0003"
VERSION_TABLE = "portfleet_alembic_version"  # not "alembic_version": a shared PostgreSQL database may hold another tool's

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Text, primary_key=True),
    Column("kind", Text, nullable=False),  # audit | apply | rollback | reboot | reboot-schedule | diagnose
    Column("check_mode", Integer, nullable=False, server_default="0"),
    Column("status", Text, nullable=False),  # running | completed | stopped | interrupted | failed
    Column("started_at", Text, nullable=False),
    Column("finished_at", Text),
    Column("inventory", Text),
    Column("playbook", Text),
    Column("limit_pattern", Text),
    Column("parent_run", Text),  # rollback: the run it undoes
    Column("summary", Text),  # JSON
    Column("note", Text),
    # Revision 0002: who drives the run, and its last sign of life (null for runs from before).
    Column("controller_host", Text),
    Column("controller_pid", Integer),
    Column("heartbeat_at", Text),
    # Revision 0003: the sliced job the run is one shard of (--job / $PORTFLEET_JOB), and its "K/N".
    Column("job", Text),
    Column("shard", Text),
    Index("runs_job", "job"),
)

host_results = Table(
    "host_results",
    metadata,
    Column("run_id", Text, ForeignKey("runs.id"), primary_key=True),
    Column("host", Text, primary_key=True),
    Column("status", Text, nullable=False),
    Column("detail", Text),
    Column("facts", Text),  # JSON
    Column("settings", Text),  # JSON list of per-setting rows
    Column("finished_at", Text, nullable=False),
    Index("host_results_host", "host", "finished_at"),  # 0003: the newest result per host (portfleet status)
)

journal = Table(
    "journal",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Text, ForeignKey("runs.id"), nullable=False),
    Column("host", Text, nullable=False),
    Column("setting", Text, nullable=False),
    Column("prior", Text),  # JSON value before the write (null = absent)
    Column("desired", Text),  # JSON value written (null = deleted)
    Column("command", Text, nullable=False),
    Column("state", Text, nullable=False),  # intent | done | failed | verified | unverified
    Column("exit_code", Integer),
    Column("output", Text),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    Index("journal_run", "run_id", "host"),
    sqlite_autoincrement=True,  # as v1 made it: ids are never reused
)

pending_reboots = Table(
    "pending_reboots",
    metadata,
    Column("host", Text, primary_key=True),
    Column("setting", Text, primary_key=True),
    Column("applied_at", Text, nullable=False),  # controller UTC time of the write
    Column("run_id", Text, nullable=False),
)

# One row per host that a run is working on: the primary key on host is the mutual exclusion
# (DESIGN "Rules that matter"), on both backends.
host_leases = Table(
    "host_leases",
    metadata,
    Column("host", Text, primary_key=True),
    Column("run_id", Text, nullable=False),
    Column("controller_host", Text, nullable=False),
    Column("controller_pid", Integer, nullable=False),
    Column("acquired_at", Text, nullable=False),
    Column("expires_at", Text, nullable=False),  # renewed by the run's heartbeat
    Index("host_leases_run", "run_id"),
)

reboot_runs = Table(
    "reboot_runs",
    metadata,
    Column("run_id", Text, ForeignKey("runs.id"), primary_key=True),
    Column("options", Text, nullable=False),  # JSON: delay, timeouts, max_fail, ignore_windows, ...
    Column("controller_pid", Integer),  # the process driving the run (a resume refuses a live one)
    Column("controller_host", Text),
    Column("updated_at", Text, nullable=False),
)

reboot_hosts = Table(
    "reboot_hosts",
    metadata,
    Column("run_id", Text, ForeignKey("runs.id"), primary_key=True),
    Column("host", Text, primary_key=True),
    Column("position", Integer, nullable=False),  # order in the original plan
    Column("batch", Integer),  # batch the host ran in (null while planned)
    # planned | shutdown_intent | shutdown_sent | down | verified | not_compliant | failed | skipped | unschedulable
    Column("state", Text, nullable=False),
    Column("reasons", Text, nullable=False),  # JSON list: why the host needs a reboot
    Column("forced", Integer, nullable=False, server_default="0"),
    Column("boot_before", Text),  # host boot time read just before the shutdown
    Column("command", Text),  # the exact shutdown command line
    Column("sent_at", Text),  # controller UTC time the shutdown was sent
    Column("down_at", Text),  # first time the host was seen down
    Column("boot_after", Text),  # boot time after the reboot
    Column("detail", Text),
    Column("updated_at", Text, nullable=False),
)

reboot_schedules = Table(
    "reboot_schedules",
    metadata,
    Column("host", Text, primary_key=True),
    Column("task", Text, nullable=False),  # scheduled task name on the host
    Column("due_at", Text, nullable=False),  # UTC instant the task fires
    Column("local_start", Text, nullable=False),  # as given to schtasks, host-local: "MM/DD/YYYY HH:MM"
    Column("command", Text, nullable=False),  # the schtasks /create line sent
    Column("boot_before", Text),  # host boot time when the task was created
    Column("run_id", Text),
    Column("created_at", Text, nullable=False),
)

# Every table a portfleet state database may hold (v1 and later): a database holding other
# tables of these names but no meta row is not ours and is refused (see migrate.py).
PORTFLEET_TABLES = frozenset(metadata.tables) | {VERSION_TABLE}
