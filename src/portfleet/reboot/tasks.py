"""Host-side reboots: one-time scheduled tasks that reboot hosts without the controller.

`schedule`: per planned host a task `portfleet-reboot` (schtasks /create /sc once /ru SYSTEM /f)
that runs `shutdown /r /t D /c "..."` at its batch's start, given in the host's own clock time:
the Task Scheduler reads /sd and /st as local time of the host. The host's zone is taken from the
windows' IANA zone when its current UTC offset matches the host's ActiveTimeBias (so a DST change
between now and the task is right), else the host's current offset is used, with a note.
`status`: the task as schtasks shows it, the boot time, what is still pending.
`cancel`: schtasks /delete and shutdown /a (1116: nothing was pending).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Callable, Sequence
from zoneinfo import ZoneInfo

from portfleet.engine import Progress, fan_out
from portfleet.desired import DesiredState
from portfleet.exit_codes import EXIT_DRIFT, EXIT_FAILED, EXIT_OK
from portfleet.models import is_failed
from portfleet.read_host import read_host
from portfleet.reboot.commands import (
    NO_SHUTDOWN_IN_PROGRESS,
    TASK_NAME,
    abort_command,
    date_pattern_from_error,
    schtasks_date,
    shutdown_command,
    task_create_command,
    task_delete_command,
    task_query_command,
)
from portfleet.reboot.executor import comment_for
from portfleet.reboot.needs import HostNeed, pending_reasons
from portfleet.reboot.planner import RebootPlan
from portfleet.reboot.prepare import Prepared
from portfleet.render import Renderer
from portfleet.state import RebootSchedule, RebootStore, iso, utcnow
from portfleet.transport.base import Session, TransportError

__all__ = [
    "CancelResult",
    "ScheduleItem",
    "StatusRow",
    "cancel_exit_code",
    "cancel_preview",
    "cancel_tasks",
    "create_tasks",
    "host_clock",
    "plan_tasks",
    "query_status",
    "status_exit_code",
]

LEGACY_MAX_DELAY = 600  # shutdown /t on XP / Server 2003: 0-600 seconds
MAX_TASK_RUN = 261
# A task that fired runs shutdown with its /t delay; past this the reboot should have happened.
OVERDUE_AFTER = timedelta(minutes=30)  # schtasks /tr: "The command line ... cannot exceed 261 characters"


# -- schedule ------------------------------------------------------------------------------------


@dataclass
class ScheduleItem:
    name: str
    batch: int
    due: datetime  # UTC instant the task fires
    local: datetime  # the same instant on the host's clock
    start_date: str  # /sd as sent
    start_time: str  # /st as sent
    run: str  # what the task runs
    command: str  # the schtasks /create line
    note: str = ""
    state: str = "planned"  # planned | created | failed
    detail: str = ""
    legacy: bool = False  # Windows Server 2003 / XP: its schtasks syntax

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "batch": self.batch,
            "due": iso(self.due),
            "local": self.local.isoformat(),
            "start_date": self.start_date,
            "start_time": self.start_time,
            "run": self.run,
            "command": self.command,
            "note": self.note,
            "status": self.state,
            "detail": self.detail,
        }


def host_clock(need: HostNeed, window_tz: str | None, at: datetime) -> tuple[tzinfo, str]:
    """(zone of the host's clock, note): the window zone when it agrees with the host's bias at `at`.

    ActiveTimeBias is minutes to ADD to local time to get UTC (UTC = local + bias)."""
    bias = need.facts.tz_bias_minutes if need.facts else None
    zone = ZoneInfo(window_tz) if window_tz else None
    if bias is None:
        if zone is not None:
            return zone, f"host clock zone unknown: assuming {window_tz}"
        return timezone.utc, "host clock zone unknown: assuming UTC"
    offset = timedelta(minutes=-bias)
    now = utcnow()
    if zone is not None and now.astimezone(zone).utcoffset() == offset:
        return zone, ""
    fixed = timezone(offset)
    note = f"host clock is UTC{_fmt_offset(offset)}" + (f", not {window_tz}" if window_tz else "") + \
        ": its current offset is used; a DST change before the task would shift it"
    return fixed, note


def _fmt_offset(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    h, m = divmod(abs(minutes), 60)
    return f"{sign}{h:02d}:{m:02d}"


def _ceil_minute(t: datetime) -> datetime:
    floor = t.replace(second=0, microsecond=0)
    return floor if floor == t else floor + timedelta(minutes=1)


def plan_tasks(prepared: Prepared, plan: RebootPlan, renderer: Renderer, delay: int) -> list[ScheduleItem]:
    """One task per planned host, at its batch's start, in the host's clock time."""
    items: list[ScheduleItem] = []
    for batch in plan.batches:
        for member in batch.members:
            target = prepared.targets[member.name]
            need = prepared.need(member.name)
            zone, note = host_clock(need, member.window.tz, batch.start)
            local = _ceil_minute(batch.start.astimezone(zone))
            run = shutdown_command(renderer, target.plan.host.vars, delay, comment_for(need.reasons))
            if len(run) > MAX_TASK_RUN:
                raise ValueError(f"{member.name}: the task's command is {len(run)} characters; schtasks /tr "
                                 f"takes at most {MAX_TASK_RUN}: shorten the shutdown template")
            start_date = schtasks_date(local, need.short_date)
            start_time = local.strftime("%H:%M")
            legacy = bool(need.facts and need.facts.is_legacy)
            if legacy and delay > LEGACY_MAX_DELAY:
                raise ValueError(f"{member.name} runs Windows Server 2003 / XP, whose shutdown /t accepts at most "
                                 f"{LEGACY_MAX_DELAY}s: use --delay {LEGACY_MAX_DELAY} or less")
            command = task_create_command(renderer, target.plan.host.vars, start_date=start_date,
                                          start_time=start_time, run=run, legacy=legacy)
            items.append(ScheduleItem(member.name, batch.number, local.astimezone(timezone.utc), local, start_date,
                                      start_time, run, command, note, legacy=legacy))
    return items


def create_tasks(
    items: Sequence[ScheduleItem],
    prepared: Prepared,
    *,
    open_session: Callable[[Any], Session],
    renderer: Renderer,
    store: RebootStore,
    run_id: str | None,
    forks: int,
    progress: Progress | None = None,
) -> list[ScheduleItem]:
    def work(item: ScheduleItem) -> ScheduleItem:
        host = prepared.targets[item.name].plan.host
        try:
            with open_session(host) as session:
                result = session.run(item.command)
                if result.exit_code != 0:
                    # A refused /sd created nothing, so one retry in the format schtasks names is safe.
                    pattern = date_pattern_from_error(result.stderr + result.stdout)
                    retry_date = schtasks_date(item.local, pattern) if pattern else None
                    if retry_date and retry_date != item.start_date:
                        item.note = "; ".join(filter(None, [item.note, f"schtasks wanted /sd as {pattern}: "
                                                            f"{item.start_date} -> {retry_date}"]))
                        item.start_date = retry_date
                        item.command = task_create_command(renderer, host.vars, start_date=retry_date,
                                                           start_time=item.start_time, run=item.run,
                                                           legacy=item.legacy)
                        result = session.run(item.command)
        except TransportError as exc:
            item.state, item.detail = "failed", f"{exc.kind}: {exc}"
            return item
        if result.exit_code != 0:
            item.state = "failed"
            item.detail = f"exit {result.exit_code}: {(result.stderr or result.stdout).strip()}"
            return item
        item.state, item.detail = "created", (result.stdout or "").strip()
        store.reboot_schedule_set(item.name, TASK_NAME, item.due, f"{item.start_date} {item.start_time}",
                                  item.command, prepared.need(item.name).boot_time, run_id)
        return item

    done = fan_out(list(items), work, forks=forks, name=lambda i: i.name, status=lambda i: i.state, progress=progress)
    order = {i.name: k for k, i in enumerate(items)}
    return sorted((r for _, r in done), key=lambda i: order[i.name])


# -- status --------------------------------------------------------------------------------------


@dataclass
class StatusRow:
    name: str
    state: str  # ok | pending | scheduled | overdue | unreachable | auth_failed | error
    boot_time: datetime | None = None
    reasons: list[str] = field(default_factory=list)
    task: dict[str, str] | None = None  # {"name", "next_run", "status"} as schtasks prints them
    scheduled: RebootSchedule | None = None
    detail: str = ""

    @property
    def failed(self) -> bool:
        """The host could not be read."""
        return is_failed(self.state)

    def to_json(self) -> dict[str, Any]:
        s = self.scheduled
        return {
            "name": self.name,
            "status": self.state,
            "boot_time": iso(self.boot_time) if self.boot_time else None,
            "pending": self.reasons,
            "task": self.task,
            "scheduled": None if s is None else {
                "due": iso(s.due_at), "local_start": s.local_start, "created_at": iso(s.created_at),
                "command": s.command,
            },
            "detail": self.detail,
        }


def parse_task_query(stdout: str) -> dict[str, str] | None:
    """The first row of `schtasks /query /fo csv /nh`: task name, next run time, status."""
    for row in csv.reader(io.StringIO(stdout.replace("\r\n", "\n"))):
        cells = [c.strip() for c in row]
        if len(cells) >= 3 and cells[0]:
            return {"name": cells[0], "next_run": cells[1], "status": cells[2]}
    return None


def query_status(
    plans: Sequence[DesiredState],
    *,
    open_session: Callable[[Any], Session],
    renderer: Renderer,
    store: RebootStore,
    forks: int,
    progress: Progress | None = None,
) -> list[StatusRow]:
    schedules = {s.host: s for s in store.reboot_schedules()}

    def work(plan: DesiredState) -> StatusRow:
        scheduled = schedules.get(plan.name)
        try:
            with open_session(plan.host) as session:
                found = read_host(session, renderer, plan.host, plan.desired)
                query = session.run(task_query_command(renderer, plan.host.vars))
        except TransportError as exc:
            kind = exc.host_status
            return StatusRow(plan.name, kind, scheduled=scheduled, detail=str(exc),
                             reasons=pending_reasons(store, plan.name, None))
        facts = found.facts
        reasons = pending_reasons(store, plan.name, facts)
        task = parse_task_query(query.stdout) if query.exit_code == 0 else None
        row = StatusRow(plan.name, "ok", facts.boot_time, reasons, task, scheduled)
        rebooted = scheduled is not None and facts.boot_time is not None and facts.boot_time > scheduled.due_at
        if rebooted:
            row.detail = f"rebooted at {iso(facts.boot_time)[:16]}Z, after its task was due ({iso(scheduled.due_at)[:16]}Z)"
        if task is not None and not rebooted:
            due = scheduled.due_at if scheduled is not None else None
            if due is not None and utcnow() > due + OVERDUE_AFTER:
                row.state = "overdue"
                row.detail = f"the task was due at {iso(due)[:16]}Z but the host has not rebooted since"
            else:
                row.state = "scheduled"
        elif reasons:
            row.state = "pending"
        return row

    done = fan_out(list(plans), work, forks=forks, name=lambda p: p.name, status=lambda r: r.state, progress=progress)
    by_name = {p.name: r for p, r in done}
    return [by_name[p.name] for p in plans]


def status_exit_code(rows: Sequence[StatusRow]) -> int:
    """4 a host could not be read, 3 reboots still pending (scheduled or not), 0 nothing pending."""
    if any(r.failed for r in rows):
        return EXIT_FAILED
    return EXIT_DRIFT if any(r.state != "ok" for r in rows) else EXIT_OK


# -- cancel --------------------------------------------------------------------------------------


@dataclass
class CancelResult:
    name: str
    commands: list[str]
    task: str = "planned"  # deleted | none | failed | planned (check mode)
    shutdown: str = "planned"  # aborted | none pending | failed | planned
    detail: str = ""

    @property
    def failed(self) -> bool:
        return "failed" in (self.task, self.shutdown) or is_failed(self.task)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "task": self.task, "shutdown": self.shutdown, "commands": self.commands,
                "detail": self.detail}


def cancel_commands(renderer: Renderer, host_vars: Any) -> list[str]:
    return [task_delete_command(renderer, host_vars), abort_command(renderer, host_vars)]


def cancel_preview(plans: Sequence[DesiredState], renderer: Renderer) -> list[CancelResult]:
    """--check: what cancel_tasks would run on each host, nothing sent."""
    return [CancelResult(p.name, cancel_commands(renderer, p.host.vars)) for p in plans]


def cancel_exit_code(results: Sequence[CancelResult], check: bool) -> int:
    """4 a host failed, 3 commands would run (--check), 0 done."""
    if any(r.failed for r in results):
        return EXIT_FAILED
    return EXIT_DRIFT if check else EXIT_OK


def cancel_tasks(
    plans: Sequence[DesiredState],
    *,
    open_session: Callable[[Any], Session],
    renderer: Renderer,
    store: RebootStore,
    forks: int,
    progress: Progress | None = None,
) -> list[CancelResult]:
    def work(plan: DesiredState) -> CancelResult:
        delete, abort = cancel_commands(renderer, plan.host.vars)
        out = CancelResult(plan.name, [delete, abort])
        try:
            with open_session(plan.host) as session:
                deleted = session.run(delete)
                if deleted.exit_code == 0:
                    out.task = "deleted"
                else:
                    # schtasks says "cannot find the file specified" in the host's language; ask again
                    # to tell "no such task" from "could not delete it".
                    query = session.run(task_query_command(renderer, plan.host.vars))
                    if query.exit_code != 0:
                        out.task = "none"
                    else:
                        out.task = "failed"
                        out.detail = f"schtasks /delete exit {deleted.exit_code}: {(deleted.stderr or deleted.stdout).strip()}"
                aborted = session.run(abort)
                if aborted.exit_code == 0:
                    out.shutdown = "aborted"
                elif aborted.exit_code == NO_SHUTDOWN_IN_PROGRESS:
                    out.shutdown = "none pending"
                else:
                    out.shutdown = "failed"
                    text = (aborted.stderr or aborted.stdout).strip()
                    out.detail = "; ".join(filter(None, [out.detail, f"shutdown /a exit {aborted.exit_code}: {text}"]))
        except TransportError as exc:
            out.task = exc.host_status
            out.shutdown = "-"
            out.detail = str(exc)
            return out
        if out.task in ("deleted", "none"):
            store.reboot_schedule_clear(plan.name)
        return out

    done = fan_out(list(plans), work, forks=forks, name=lambda p: p.name,
                   status=lambda r: f"task {r.task}, shutdown {r.shutdown}", progress=progress)
    by_name = {p.name: r for p, r in done}
    return [by_name[p.name] for p in plans]
