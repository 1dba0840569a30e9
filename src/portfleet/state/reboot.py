"""The reboot section of the store (portfleet reboot run | schedule | status).

A reboot run keeps one row per host. The row moves planned -> shutdown_intent (committed BEFORE the
shutdown command is sent, with the boot time read just before) -> shutdown_sent -> down -> a final
state. A resumed run reads these rows: a host whose shutdown may have been sent is checked against
its recorded boot time instead of being sent another shutdown, so no host reboots twice.
The tables are part of the one schema (schema.py); RebootStore keeps its methods as they were.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, update

from portfleet.state.records import Run, load_json, load_time, run_from
from portfleet.state.schema import reboot_hosts, reboot_runs, reboot_schedules, runs
from portfleet.state.store import Store, upsert
from portfleet.times import iso, utcnow

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


def _opt_time(text: str | None, where: str = "a reboot row") -> datetime | None:
    return load_time(text, where)


def _time(text: str | None, where: str) -> datetime:
    value = load_time(text, where)
    if value is None:
        from portfleet.state.location import StateError

        raise StateError(f"the state database is damaged: {where} has no time")
    return value


class RebootStore(Store):
    """A Store with the reboot tables (part of the schema since v1; migrated like the rest)."""

    # -- reboot runs ---------------------------------------------------------------------------
    def reboot_run_create(self, run_id: str, options: dict[str, Any], pid: int, host: str) -> None:
        with self._transaction() as conn:
            conn.execute(insert(reboot_runs).values(run_id=run_id, options=json.dumps(options), controller_pid=pid,
                                                    controller_host=host, updated_at=iso(utcnow())))

    def reboot_run_info(self, run_id: str) -> RebootRunInfo | None:
        if not self._has(reboot_runs):
            return None
        rows = self._rows(self._select(reboot_runs).where(reboot_runs.c.run_id == run_id))
        if not rows:
            return None
        r = rows[0]
        return RebootRunInfo(r["run_id"], load_json(r["options"], f"the options of reboot run {run_id}", empty={}),
                             r["controller_pid"], r["controller_host"])

    def reboot_run_claim(self, run_id: str, pid: int, host: str) -> None:
        """A resuming controller takes the run over: running again, driven by this process (one
        transaction, so a crash never leaves a run claimed but not running, or the reverse)."""
        with self._transaction() as conn:
            conn.execute(update(reboot_runs).where(reboot_runs.c.run_id == run_id)
                         .values(controller_pid=pid, controller_host=host, updated_at=iso(utcnow())))
            # The run row names its controller too (runs list shows a dead one as abandoned).
            conn.execute(update(runs).where(runs.c.id == run_id)
                         .values(status="running", finished_at=None, controller_pid=pid, controller_host=host))

    def last_unfinished_reboot_run(self, job: str | None = None, shard: str | None = None) -> Run | None:
        """The newest reboot run that a crash or Ctrl-C cut off (status running or interrupted), of
        this job and shard exactly (none: a run started without --job/--shard), so that a shard's
        controller, restarted by its scheduler, picks up its own run and never another shard's."""
        if not self._has(reboot_runs):
            return None
        statement = (
            self._select(runs).join(reboot_runs, reboot_runs.c.run_id == runs.c.id)
            .where(runs.c.kind == "reboot", runs.c.check_mode == 0, runs.c.status.in_(("running", "interrupted")))
            .order_by(runs.c.started_at.desc()).limit(1)
        )
        if self.has_jobs:
            statement = statement.where(runs.c.job.is_not_distinct_from(job), runs.c.shard.is_not_distinct_from(shard))
        elif job is not None or shard is not None:
            return None
        rows = self._rows(statement)
        return run_from(rows[0]) if rows else None

    # -- reboot hosts --------------------------------------------------------------------------
    def reboot_hosts_add(self, run_id: str, hosts: list[tuple[str, list[str], bool]]) -> None:
        """(host, reasons, forced) in plan order, all in one transaction."""
        now = iso(utcnow())
        with self._transaction() as conn:
            for position, (host, reasons, forced) in enumerate(hosts):
                conn.execute(insert(reboot_hosts).values(run_id=run_id, host=host, position=position, state="planned",
                                                         reasons=json.dumps(reasons), forced=int(forced), updated_at=now))

    def reboot_host_update(self, run_id: str, host: str, **fields: Any) -> None:
        """Set some of: batch, state, boot_before, command, sent_at, down_at, boot_after, detail."""
        unknown = set(fields) - set(_REBOOT_HOST_FIELDS)
        if unknown:
            raise ValueError(f"unknown reboot host field(s): {', '.join(sorted(unknown))}")
        values = {k: iso(v) if isinstance(v, datetime) else v for k, v in fields.items()}
        with self._transaction() as conn:
            conn.execute(update(reboot_hosts).where(reboot_hosts.c.run_id == run_id, reboot_hosts.c.host == host)
                         .values(**values, updated_at=iso(utcnow())))

    def reboot_hosts(self, run_id: str) -> list[RebootHostRow]:
        if not self._has(reboot_hosts):
            return []
        statement = self._select(reboot_hosts).where(reboot_hosts.c.run_id == run_id).order_by(reboot_hosts.c.position)
        found = []
        for r in self._rows(statement):
            where = f"the reboot row of {r['host']} in run {run_id}"
            found.append(RebootHostRow(
                run_id=r["run_id"],
                host=r["host"],
                position=r["position"],
                batch=r["batch"],
                state=r["state"],
                reasons=load_json(r["reasons"], where, empty=[]),
                forced=bool(r["forced"]),
                boot_before=_opt_time(r["boot_before"], where),
                command=r["command"],
                sent_at=_opt_time(r["sent_at"], where),
                down_at=_opt_time(r["down_at"], where),
                boot_after=_opt_time(r["boot_after"], where),
                detail=r["detail"],
                updated_at=r["updated_at"],
            ))
        return found

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
        values = {"host": host, "task": task, "due_at": iso(due_at), "local_start": local_start, "command": command,
                  "boot_before": iso(boot_before) if boot_before else None, "run_id": run_id,
                  "created_at": iso(utcnow())}
        with self._transaction() as conn:
            upsert(conn, reboot_schedules, values, ("host",))

    def reboot_schedules(self, host: str | None = None) -> list[RebootSchedule]:
        if not self._has(reboot_schedules):
            return []
        statement = self._select(reboot_schedules)
        if host is not None:
            statement = statement.where(reboot_schedules.c.host == host)
        found = []
        for r in self._rows(statement.order_by(reboot_schedules.c.host)):
            where = f"the reboot schedule of {r['host']}"
            found.append(RebootSchedule(
                host=r["host"],
                task=r["task"],
                due_at=_time(r["due_at"], where),
                local_start=r["local_start"],
                command=r["command"],
                boot_before=_opt_time(r["boot_before"], where),
                run_id=r["run_id"],
                created_at=_time(r["created_at"], where),
            ))
        return found

    def reboot_schedule_clear(self, host: str) -> int:
        with self._transaction() as conn:
            return conn.execute(delete(reboot_schedules).where(reboot_schedules.c.host == host)).rowcount
