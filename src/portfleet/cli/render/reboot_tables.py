"""Rich tables of `portfleet reboot` for people; the JSON documents are report/reboot_json.py."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Sequence

from rich.table import Table
from rich.text import Text

from portfleet.reboot.executor import RunOutcome
from portfleet.reboot.tasks import CancelResult, ScheduleItem, StatusRow
from portfleet.reboot.planner import RebootPlan
from portfleet.reboot.prepare import Prepared

__all__ = ["cancel_table", "plan_tables", "run_table", "schedule_table", "status_table"]

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



def _short(t: datetime | None) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M") if t else "-"


def _styled(text: str, status: str | None = None) -> Text:
    return Text(text, style=STYLE.get(status or text, ""))



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
            t.add_row(u.name, Text(u.reason))
        out.append(t)
    others = [n for n in prepared.needs if not n.needs_reboot]
    if others:
        t = Table(title="Not planned", header_style="bold", title_justify="left")
        t.add_column("host")
        t.add_column("status")
        t.add_column("detail")
        for n in others:
            detail = n.detail or (f"booted {_short(n.boot_time)} UTC, nothing pending" if n.boot_time else "")
            t.add_row(n.name, _styled(n.status), Text(detail))  # Text: a detail may quote a host's output
        out.append(t)
    if show_commands and commands:
        t = Table(title="Commands", header_style="bold", title_justify="left")
        t.add_column("host")
        t.add_column("command", overflow="fold")
        for name in plan.hosts:
            t.add_row(name, Text(commands[name]))
        out.append(t)
    return out



def run_table(outcome: RunOutcome) -> Table:
    table = Table(title=f"Reboot run {outcome.run_id}", header_style="bold", title_justify="left")
    for col in ("host", "batch", "status", "boot before (UTC)", "boot after (UTC)", "detail"):
        table.add_column(col, overflow="fold")
    for h in outcome.hosts:
        detail = h.detail + ("".join(f"\n{n}" for n in h.notes) if h.notes else "")
        table.add_row(h.name, str(h.batch or "-"), _styled(h.state), _short(h.boot_before), _short(h.boot_after),
                      Text(detail))
    return table



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



def status_table(rows: Sequence[StatusRow]) -> Table:
    table = Table(title="Reboot status", header_style="bold", title_justify="left")
    for col in ("host", "status", "booted (UTC)", "still pending", "task (next run, status)", "detail"):
        table.add_column(col, overflow="fold")
    for r in rows:
        task = f"{r.task['next_run']}, {r.task['status']}" if r.task else "-"
        table.add_row(r.name, _styled(r.state), _short(r.boot_time), Text("; ".join(r.reasons) or "-"), Text(task),
                      Text(r.detail))
    return table



def cancel_table(results: Sequence[CancelResult], check: bool) -> Table:
    title = "Cancel (check mode: these commands would run)" if check else "Cancel"
    table = Table(title=title, header_style="bold", title_justify="left")
    for col in ("host", "task", "pending shutdown", "commands / detail"):
        table.add_column(col, overflow="fold")
    for r in results:
        text = "\n".join(r.commands) + (f"\n{r.detail}" if r.detail else "")
        table.add_row(r.name, _styled(r.task), _styled(r.shutdown), Text(text))
    return table
