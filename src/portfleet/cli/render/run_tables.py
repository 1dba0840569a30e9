"""Rich tables for people: one row per host, a column per setting, colour by status."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from portfleet.models import HostReport, RunReport

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
    "locked": "magenta",
    "failed": "red",
    "unreadable": "red",
    "invalid": "red",
    "unrestorable": "red",
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
    "net.ipv4.ip_local_port_range": "local ports",
    "net.ipv4.tcp_tw_reuse": "tw_reuse",
    "net.ipv4.tcp_fin_timeout": "fin_timeout",
}


def _styled(text: str, status: str) -> Text:
    return Text(text, style=STYLE.get(status, ""))


def _short(value: object) -> str:
    """Compact cell text: ranges as first-last, absent as '-'; the JSON keeps the full values."""
    from portfleet.settings import PortRange

    if value is None:
        return "-"
    if isinstance(value, PortRange):
        return f"{value.start}-{value.end}"
    return str(value)


def _cell(h: HostReport, key: str) -> Text:
    for s in h.settings:
        if s.key == key:
            # Linux: a key not kept in 90-portfleet.conf still has the kernel's value; show that.
            shown = s.effective if s.actual is None and key.startswith("net.ipv4.") else s.actual
            actual = _short(shown)
            if s.status == "drift":
                return _styled(f"{actual} → {_short(s.desired)}", "drift")
            if s.status == "pending_reboot":
                return _styled(f"{actual} ⟳", "pending_reboot")
            if s.status == "unsupported":
                return _styled("n/a", "unsupported")
            return _styled(actual, s.status)
    return Text("")


def _os(h: HostReport) -> str:
    if h.facts is None:
        return ""
    return getattr(h.facts, "os_label", None) or h.facts.os_version or ""


def audit_table(report: RunReport, title: str | None = None) -> Table:
    keys: list[str] = []
    for h in report.hosts:
        for s in h.settings:
            if s.key not in keys:
                keys.append(s.key)
    table = Table(title=title, title_justify="left", header_style="bold", caption_justify="left")
    table.add_column("host", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("os", no_wrap=True)
    for k in keys:
        table.add_column(SHORT.get(k, k), no_wrap=True)
    with_detail = any(h.detail for h in report.hosts)
    if with_detail:
        table.add_column("detail", overflow="fold", ratio=1)
    for h in report.hosts:
        row = [h.name, _styled(h.status, h.status), _os(h), *[_cell(h, k) for k in keys]]
        if with_detail:
            row.append(h.detail)
        table.add_row(*row)
    if any(s.status == "pending_reboot" for h in report.hosts for s in h.settings):
        table.caption = "⟳ written, takes effect at the next reboot;  a → b: drift, a is set, b is wanted;  - absent"
    return table


def summary_line(report: RunReport) -> Text:
    s = report.summary()
    parts = [f"{s['hosts']} hosts"]
    for key in ("compliant", "drift", "pending_reboot", "unreachable", "auth_failed", "error", "locked", "skipped"):
        if s.get(key):
            parts.append(f"{s[key]} {key}")
    line = Text(", ".join(parts))
    if report.run_id:
        line.append(f"   (run {report.run_id})", style="dim")
    return line


def changes_table(report: RunReport, diff: bool) -> Table:
    table = Table(header_style="bold", title_justify="left")
    table.add_column("host", no_wrap=True)
    table.add_column("setting", no_wrap=True)
    if diff:
        table.add_column("before")
        table.add_column("after")
    table.add_column("state")
    table.add_column("command", overflow="fold")
    for h in report.hosts:
        for c in h.changes:
            row = [h.name, c.key]
            if diff:
                row += [_short(c.before), _short(c.after)]
            row += [_styled(c.state, c.state), c.command]
            table.add_row(*row)
    return table


def print_warnings(console: Console, report: RunReport) -> None:
    for w in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}", highlight=False)
