"""Rich tables for people: one row per host, a column per setting, colour by status."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from portfleet.audit import HostReport, RunReport
from portfleet.values import to_text

STYLE = {
    "compliant": "green",
    "ok": "green",
    "verified": "green",
    "drift": "yellow",
    "pending_reboot": "cyan",
    "unsupported": "dim",
    "unreachable": "red",
    "auth_failed": "red",
    "error": "red",
    "failed": "red",
    "unreadable": "red",
    "invalid": "red",
    "unverified": "red",
    "planned": "yellow",
    "done": "green",
    "skipped": "dim",
}

SHORT = {
    "MaxUserPort": "MaxUserPort",
    "TcpTimedWaitDelay": "TimedWait",
    "dynamicport.ipv4.tcp": "v4 tcp range",
    "dynamicport.ipv4.udp": "v4 udp range",
    "dynamicport.ipv6.tcp": "v6 tcp range",
    "dynamicport.ipv6.udp": "v6 udp range",
}


def _styled(text: str, status: str) -> Text:
    return Text(text, style=STYLE.get(status, ""))


def _cell(h: HostReport, key: str) -> Text:
    for s in h.settings:
        if s.key == key:
            actual = to_text(s.actual)
            if s.status == "drift":
                return _styled(f"{actual} -> {to_text(s.desired)}", "drift")
            if s.status == "pending_reboot":
                return _styled(f"{actual} (reboot)", "pending_reboot")
            if s.status == "unsupported":
                return _styled("n/a", "unsupported")
            return _styled(actual, s.status)
    return Text("")


def audit_table(report: RunReport, title: str | None = None) -> Table:
    keys: list[str] = []
    for h in report.hosts:
        for s in h.settings:
            if s.key not in keys:
                keys.append(s.key)
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("host")
    table.add_column("status")
    table.add_column("os")
    for k in keys:
        table.add_column(SHORT.get(k, k))
    table.add_column("detail", overflow="fold", max_width=60)
    for h in report.hosts:
        os_version = (h.facts.os_version if h.facts else None) or ""
        table.add_row(
            h.name,
            _styled(h.status, h.status),
            os_version,
            *[_cell(h, k) for k in keys],
            h.detail,
        )
    return table


def summary_line(report: RunReport) -> Text:
    s = report.summary()
    parts = [f"{s['hosts']} hosts"]
    for key in ("compliant", "drift", "pending_reboot", "unreachable", "auth_failed", "error", "skipped"):
        if s.get(key):
            parts.append(f"{s[key]} {key}")
    line = Text(", ".join(parts))
    if report.run_id:
        line.append(f"   (run {report.run_id})", style="dim")
    return line


def changes_table(report: RunReport, diff: bool) -> Table:
    table = Table(header_style="bold", title_justify="left")
    table.add_column("host")
    table.add_column("setting")
    if diff:
        table.add_column("before")
        table.add_column("after")
    table.add_column("state")
    table.add_column("command", overflow="fold")
    for h in report.hosts:
        for c in h.changes:
            row = [h.name, c.key]
            if diff:
                row += [to_text(c.before), to_text(c.after)]
            row += [_styled(c.state, c.state), c.command]
            table.add_row(*row)
    return table


def print_warnings(console: Console, report: RunReport) -> None:
    for w in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}", highlight=False)
