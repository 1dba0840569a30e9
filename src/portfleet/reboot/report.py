"""What `portfleet reboot` shows: JSON documents (stable schemas) and rich tables for people.

Schemas: portfleet.reboot-plan/1, portfleet.reboot-run/1, portfleet.reboot-schedule/1,
portfleet.reboot-status/1, portfleet.reboot-cancel/1; each one object with a `hosts` list and a
`summary`. Times are UTC ISO 8601 ('Z'); each host's window is also given in its own zone.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Sequence

from rich.table import Table
from rich.text import Text

from portfleet.reboot.executor import RunOptions, RunOutcome
from portfleet.reboot.hostside import CancelResult, ScheduleItem, StatusRow
from portfleet.reboot.planner import RebootPlan
from portfleet.reboot.prepare import Prepared

__all__ = [
    "cancel_json",
    "cancel_table",
    "plan_json",
    "plan_tables",
    "run_json",
    "run_table",
    "schedule_json",
    "schedule_table",
    "status_json",
    "status_table",
]

STYLE = {
    "planned": "yellow",
    "pending": "yellow",
    "forced": "yellow",
    "scheduled": "cyan",
    "created": "green",
    "verified": "green",
    "ok": "green",
    "not_needed": "green",
    "deleted": "green",
    "aborted": "green",
    "not_compliant": "yellow",
    "skipped": "dim",
    "none": "dim",
    "none pending": "dim",
    "unschedulable": "magenta",
    "overdue": "red",
    "failed": "red",
    "unreachable": "red",
    "auth_failed": "red",
    "error": "red",
    "shutdown_intent": "cyan",
    "shutdown_sent": "cyan",
    "down": "cyan",
}


def _z(t: datetime | None) -> str | None:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if t else None


def _short(t: datetime | None) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M") if t else "-"


def _styled(text: str, status: str | None = None) -> Text:
    return Text(text, style=STYLE.get(status or text, ""))


# -- plan ----------------------------------------------------------------------------------------


def plan_json(
    prepared: Prepared,
    plan: RebootPlan,
    options: RunOptions,
    commands: dict[str, str],
    *,
    inventory: str | None,
    playbook: str | None,
    kind: str = "reboot-plan",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    batch_of = {m.name: (b, m) for b in plan.batches for m in b.members}
    unschedulable = {u.name: u.reason for u in plan.unschedulable}
    hosts = []
    counts = {"planned": 0, "not_needed": 0, "unschedulable": 0, "unreachable": 0, "auth_failed": 0, "error": 0}
    for need in prepared.needs:
        entry = need.to_json()
        windows = prepared.windows.get(need.name)
        entry["windows_source"] = windows.source if windows else ""
        entry["timezone"] = windows.schedule.tz if windows and windows.schedule else None
        if need.name in batch_of:
            b, m = batch_of[need.name]
            entry.update(
                status="planned",
                need=need.status,
                batch=b.number,
                start=_z(b.start),
                latest_safe_start=_z(b.latest_safe_start),
                window={
                    "start": _z(m.window.start),
                    "end": _z(m.window.end),
                    "local_start": m.window.local_start.isoformat(),
                    "local_end": m.window.local_end.isoformat(),
                    "tz": m.window.tz,
                    "spec": m.window.spec,
                },
                command=commands.get(need.name),
            )
        elif need.name in unschedulable:
            entry.update(status="unschedulable", need=need.status, detail=unschedulable[need.name],
                         command=commands.get(need.name))
        else:
            entry["need"] = need.status
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
        hosts.append(entry)
    data = plan.to_dict()
    doc = {
        "schema": f"portfleet.{kind}/1",
        "now": data["now"],
        "check_mode": True,
        "inventory": inventory,
        "playbook": playbook,
        "policy": {
            "max_parallel": options.max_parallel,
            "batch": options.batch,
            "max_unavailable": options.max_unavailable,
            "ignore_windows": options.ignore_windows,
            "estimated_duration_s": int(options.duration.total_seconds()),
            "delay_s": options.delay,
        },
        "hosts": hosts,
        "batches": data["batches"],
        "unschedulable": data["unschedulable"],
        "warnings": list(prepared.warnings),
        "summary": {"hosts": len(hosts), **counts, "batches": len(plan.batches)},
    }
    if extra:
        doc.update(extra)
    return doc


def plan_tables(prepared: Prepared, plan: RebootPlan, commands: dict[str, str], *, show_commands: bool = True) -> list[Any]:
    out: list[Any] = []
    table = Table(title="Reboot plan", header_style="bold", title_justify="left")
    for col in ("batch", "start (UTC)", "host", "host's window (local)", "groups", "why"):
        table.add_column(col)
    for b in plan.batches:
        for i, m in enumerate(b.members):
            need = prepared.need(m.name)
            local = m.window.local_start
            when = f"{local:%a %Y-%m-%d %H:%M %Z} ({m.window.tz})"
            table.add_row(
                f"{b.number}/{b.total}" if i == 0 else "",
                f"{_short(b.start)}" if i == 0 else "",
                m.name,
                when,
                ", ".join(g for g in m.groups if not g.startswith("play:")) or "-",
                "; ".join(need.reasons) or need.status,
            )
        table.add_section()
    out.append(table)
    if plan.batches:
        out.append(Text(
            "Each batch starts only if it can still end in every member's window (latest safe start = window end "
            "minus the estimated reboot time).", style="dim"))
    if plan.unschedulable:
        t = Table(title="Not schedulable", header_style="bold", title_justify="left")
        t.add_column("host")
        t.add_column("why")
        for u in plan.unschedulable:
            t.add_row(u.name, u.reason)
        out.append(t)
    others = [n for n in prepared.needs if not n.needs_reboot]
    if others:
        t = Table(title="Not planned", header_style="bold", title_justify="left")
        t.add_column("host")
        t.add_column("status")
        t.add_column("detail")
        for n in others:
            detail = n.detail or (f"booted {_short(n.boot_time)} UTC, nothing pending" if n.boot_time else "")
            t.add_row(n.name, _styled(n.status), detail)
        out.append(t)
    if show_commands and commands:
        t = Table(title="Commands", header_style="bold", title_justify="left")
        t.add_column("host")
        t.add_column("command", overflow="fold")
        for name in plan.hosts:
            t.add_row(name, Text(commands[name]))
        out.append(t)
    return out


# -- run -----------------------------------------------------------------------------------------


def run_json(outcome: RunOutcome, options: RunOptions, *, inventory: str | None, playbook: str | None,
             resumed: bool, check: bool = False) -> dict[str, Any]:
    counts = outcome.counts()
    return {
        "schema": "portfleet.reboot-run/1",
        "run_id": outcome.run_id,
        "resumed": resumed,
        "check_mode": check,
        "inventory": inventory,
        "playbook": playbook,
        "options": options.to_json(),
        "hosts": [h.to_json() for h in outcome.hosts],
        "stopped_reason": outcome.stopped_reason,
        "status": outcome.status,
        "summary": {"hosts": len(outcome.hosts), "batches": outcome.batches_run, **counts},
    }


def run_table(outcome: RunOutcome) -> Table:
    table = Table(title=f"Reboot run {outcome.run_id}", header_style="bold", title_justify="left")
    for col in ("host", "batch", "status", "boot before (UTC)", "boot after (UTC)", "detail"):
        table.add_column(col, overflow="fold")
    for h in outcome.hosts:
        detail = h.detail + ("".join(f"\n{n}" for n in h.notes) if h.notes else "")
        table.add_row(h.name, str(h.batch or "-"), _styled(h.state), _short(h.boot_before), _short(h.boot_after), detail)
    return table


# -- schedule / status / cancel ------------------------------------------------------------------


def schedule_json(items: Sequence[ScheduleItem], plan_doc: dict[str, Any], check: bool) -> dict[str, Any]:
    doc = dict(plan_doc)
    doc["schema"] = "portfleet.reboot-schedule/1"
    doc["check_mode"] = check
    doc["tasks"] = [i.to_json() for i in items]
    summary = dict(doc.get("summary", {}))
    summary["tasks_created"] = sum(1 for i in items if i.state == "created")
    summary["tasks_failed"] = sum(1 for i in items if i.state == "failed")
    doc["summary"] = summary
    return doc


def schedule_table(items: Sequence[ScheduleItem], check: bool) -> Table:
    title = "Scheduled tasks (check mode: nothing was created)" if check else "Scheduled tasks"
    table = Table(title=title, header_style="bold", title_justify="left")
    for col in ("host", "batch", "fires (UTC)", "host clock", "status", "command"):
        table.add_column(col, overflow="fold")
    for i in items:
        clock = f"{i.start_date} {i.start_time}" + (f"\n{i.note}" if i.note else "")
        status = _styled(i.state) if not i.detail or i.state != "failed" else _styled(f"failed: {i.detail}", "failed")
        table.add_row(i.name, str(i.batch), _short(i.due), clock, status, Text(i.command))
    return table


def status_json(rows: Sequence[StatusRow]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.state] = counts.get(r.state, 0) + 1
    return {"schema": "portfleet.reboot-status/1", "hosts": [r.to_json() for r in rows],
            "summary": {"hosts": len(rows), **counts}}


def status_table(rows: Sequence[StatusRow]) -> Table:
    table = Table(title="Reboot status", header_style="bold", title_justify="left")
    for col in ("host", "status", "booted (UTC)", "still pending", "task (next run, status)", "detail"):
        table.add_column(col, overflow="fold")
    for r in rows:
        task = f"{r.task['next_run']}, {r.task['status']}" if r.task else "-"
        table.add_row(r.name, _styled(r.state), _short(r.boot_time), "; ".join(r.reasons) or "-", task, r.detail)
    return table


def cancel_json(results: Sequence[CancelResult], check: bool) -> dict[str, Any]:
    return {
        "schema": "portfleet.reboot-cancel/1",
        "check_mode": check,
        "hosts": [r.to_json() for r in results],
        "summary": {
            "hosts": len(results),
            "tasks_deleted": sum(1 for r in results if r.task == "deleted"),
            "shutdowns_aborted": sum(1 for r in results if r.shutdown == "aborted"),
            "failed": sum(1 for r in results if r.failed),
        },
    }


def cancel_table(results: Sequence[CancelResult], check: bool) -> Table:
    title = "Cancel (check mode: these commands would run)" if check else "Cancel"
    table = Table(title=title, header_style="bold", title_justify="left")
    for col in ("host", "task", "pending shutdown", "commands / detail"):
        table.add_column(col, overflow="fold")
    for r in results:
        text = "\n".join(r.commands) + (f"\n{r.detail}" if r.detail else "")
        table.add_row(r.name, _styled(r.task), _styled(r.shutdown), Text(text))
    return table
