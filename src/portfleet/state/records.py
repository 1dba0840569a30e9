"""The rows of the state as values (runs, host results, journal, pending reboots, leases).

A state database is input like any other file: its JSON and timestamps are read by total
functions that turn damage into a StateError naming the row, never a traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from portfleet.state.location import StateError
from portfleet.times import parse_iso


@dataclass(frozen=True)
class Run:
    id: str
    kind: str
    check_mode: bool
    status: str  # as recorded; see Store.shown_status for `abandoned`
    started_at: str
    finished_at: str | None
    inventory: str | None
    playbook: str | None
    limit_pattern: str | None
    parent_run: str | None
    summary: dict[str, Any] | None
    note: str | None
    controller_host: str | None = None  # the machine and process driving the run (null before leases)
    controller_pid: int | None = None
    heartbeat_at: str | None = None  # its last sign of life (apply and rollback runs renew it)
    job: str | None = None  # the sliced job it is a shard of (--job), and which shard ("K/N"); null before 0003
    shard: str | None = None


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


@dataclass(frozen=True)
class Lease:
    """A host a run is working on: held by `run_id`, driven by controller_host:controller_pid."""

    host: str
    run_id: str
    controller_host: str
    controller_pid: int
    acquired_at: str
    expires_at: str
    live: bool = True  # False: its process is gone or it expired; the next run takes it over

    def holder(self) -> str:
        return (f"run {self.run_id} (controller {self.controller_host}, pid {self.controller_pid}, "
                f"since {self.acquired_at[:19]}Z)")


def load_json(text: str | None, where: str, empty: Any = None) -> Any:
    if text is None or text == "":
        return empty
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise StateError(f"the state database is damaged: {where} is not valid JSON") from None


def load_time(text: str | None, where: str) -> datetime | None:
    if not text:
        return None
    try:
        return parse_iso(text)
    except (ValueError, TypeError):
        raise StateError(f"the state database is damaged: {where} is not a time ({str(text)[:40]!r})") from None


def run_from(r: Mapping[str, Any]) -> Run:
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
        summary=load_json(r["summary"], f"the summary of run {r['id']}"),
        note=r["note"],
        controller_host=r.get("controller_host"),
        controller_pid=r.get("controller_pid"),
        heartbeat_at=r.get("heartbeat_at"),
        job=r.get("job"),
        shard=r.get("shard"),
    )


def host_result_from(r: Mapping[str, Any]) -> HostResult:
    where = f"the result of {r['host']} in run {r['run_id']}"
    return HostResult(
        run_id=r["run_id"],
        host=r["host"],
        status=r["status"],
        detail=r["detail"],
        facts=load_json(r["facts"], where),
        settings=load_json(r["settings"], where, empty=[]),
        finished_at=r["finished_at"],
    )


def journal_from(r: Mapping[str, Any]) -> JournalEntry:
    where = f"journal row {r['id']}"
    return JournalEntry(
        id=r["id"],
        run_id=r["run_id"],
        host=r["host"],
        setting=r["setting"],
        prior=load_json(r["prior"], where),
        desired=load_json(r["desired"], where),
        command=r["command"],
        state=r["state"],
        exit_code=r["exit_code"],
        output=r["output"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


def pending_from(r: Mapping[str, Any]) -> PendingReboot:
    applied = load_time(r["applied_at"], f"the pending reboot of {r['host']} ({r['setting']})")
    if applied is None:
        raise StateError(f"the state database is damaged: the pending reboot of {r['host']} has no time")
    return PendingReboot(r["host"], r["setting"], applied, r["run_id"])


def lease_from(r: Mapping[str, Any], live: bool = True) -> Lease:
    return Lease(r["host"], r["run_id"], r["controller_host"], int(r["controller_pid"]), r["acquired_at"],
                 r["expires_at"], live)
