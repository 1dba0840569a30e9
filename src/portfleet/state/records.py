"""The rows of the state as values (runs, host results, journal, pending reboots, leases).

A state database is input like any other file: its JSON and timestamps are read by total
functions that turn damage into a StateError naming the row, never a traceback.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping, TypeVar

from portfleet.state.location import StateError
from portfleet.times import parse_iso

T = TypeVar("T")


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


def rows_of(kind: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """A row reader made total: a row a damaged or hand-edited database left without a column, or
    with a value of the wrong type, is a StateError naming the kind of row, not a KeyError."""
    def wrap(read: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(read)
        def total(r: Mapping[str, Any], *args: Any) -> T:
            try:
                return read(r, *args)
            except StateError:
                raise
            except (KeyError, TypeError, ValueError, OverflowError, AttributeError) as exc:
                raise StateError(f"the state database is damaged: a {kind} row cannot be read "
                                 f"({type(exc).__name__}: {str(exc)[:80]})") from None
        return total
    return wrap


def _text(value: Any) -> Any:
    """A text column as text (SQLite stores any type in any column); None stays None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _pid(value: Any) -> int | None:
    """A pid column: None, or an int (ValueError for anything else, which rows_of reports)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"pid {value!r}")
    return int(value)


def load_json(text: str | None, where: str, empty: Any = None) -> Any:
    if text is None or text == "":
        return empty
    try:
        return json.loads(text)
    except (ValueError, RecursionError, TypeError):
        raise StateError(f"the state database is damaged: {where} is not valid JSON") from None


def load_time(text: str | None, where: str) -> datetime | None:
    if not text:
        return None
    try:
        return parse_iso(text)
    except (ValueError, TypeError):
        raise StateError(f"the state database is damaged: {where} is not a time ({str(text)[:40]!r})") from None


@rows_of("run")
def run_from(r: Mapping[str, Any]) -> Run:
    run_id = _text(r["id"])
    summary = load_json(r["summary"], f"the summary of run {run_id}")
    return Run(
        id=run_id,
        kind=_text(r["kind"]),
        check_mode=bool(r["check_mode"]),
        status=_text(r["status"]),
        started_at=_text(r["started_at"]),
        finished_at=_text(r["finished_at"]),
        inventory=_text(r["inventory"]),
        playbook=_text(r["playbook"]),
        limit_pattern=_text(r["limit_pattern"]),
        parent_run=_text(r["parent_run"]),
        summary=summary if isinstance(summary, dict) else None,
        note=_text(r["note"]),
        controller_host=_text(r.get("controller_host")),
        controller_pid=_pid(r.get("controller_pid")),
        heartbeat_at=_text(r.get("heartbeat_at")),
        job=_text(r.get("job")),
        shard=_text(r.get("shard")),
    )


@rows_of("host result")
def host_result_from(r: Mapping[str, Any]) -> HostResult:
    where = f"the result of {_text(r['host'])} in run {_text(r['run_id'])}"
    facts = load_json(r["facts"], where)
    settings = load_json(r["settings"], where, empty=[])
    if not (facts is None or isinstance(facts, dict)) or not isinstance(settings, list):
        raise StateError(f"the state database is damaged: {where} is not a result portfleet wrote")
    return HostResult(
        run_id=_text(r["run_id"]),
        host=_text(r["host"]),
        status=_text(r["status"]),
        detail=_text(r["detail"]),
        facts=facts,
        settings=settings,
        finished_at=_text(r["finished_at"]),
    )


@rows_of("journal")
def journal_from(r: Mapping[str, Any]) -> JournalEntry:
    where = f"journal row {r['id']}"
    return JournalEntry(
        id=r["id"],
        run_id=_text(r["run_id"]),
        host=_text(r["host"]),
        setting=_text(r["setting"]),
        prior=load_json(r["prior"], where),
        desired=load_json(r["desired"], where),
        command=_text(r["command"]),
        state=_text(r["state"]),
        exit_code=_pid(r["exit_code"]),
        output=_text(r["output"]),
        created_at=_text(r["created_at"]),
        updated_at=_text(r["updated_at"]),
    )


@rows_of("pending reboot")
def pending_from(r: Mapping[str, Any]) -> PendingReboot:
    host, setting = _text(r["host"]), _text(r["setting"])
    applied = load_time(r["applied_at"], f"the pending reboot of {host} ({setting})")
    if applied is None:
        raise StateError(f"the state database is damaged: the pending reboot of {host} has no time")
    return PendingReboot(host, setting, applied, _text(r["run_id"]))


@rows_of("host lease")
def lease_from(r: Mapping[str, Any], live: bool = True) -> Lease:
    pid = _pid(r["controller_pid"])
    if pid is None:
        raise ValueError("no controller pid")
    return Lease(_text(r["host"]), _text(r["run_id"]), _text(r["controller_host"]), pid, _text(r["acquired_at"]),
                 _text(r["expires_at"]), live)
