"""Rich tables for people: one row per host, a column per setting, colour by status."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from portfleet.models import HostReport, RunReport
from portfleet.wording import plural

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
    "unknown": "magenta",  # a write whose answer was lost: audit the host
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


# Headers that may wrap at their spaces when the terminal is narrow.
NARROW = {"MaxUserPort": "MaxUser Port", "TcpTimedWaitDelay": "Timed Wait"}


def _header(key: str, narrow: bool) -> str:
    return NARROW.get(key, SHORT.get(key, key)) if narrow else SHORT.get(key, key)


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


def compact_os(label: str) -> str:
    """'Windows 10 1809 / Server 2019' -> '2019', 'Debian 12 (Linux 6.1)' -> 'Debian 12': for narrow terminals."""
    part = label.split(" (")[0].split(" / ")[-1]
    for prefix in ("Windows Server ", "Server "):
        if part.startswith(prefix):
            return part[len(prefix):]
    return part.replace("Windows ", "Win ")


# Rich's table with its box: one border character per column plus one, and a space of padding on
# either side of every cell.
_PER_COLUMN = 3


def _widest(texts: list[str]) -> int:
    return max((len(line) for t in texts for line in t.split("\n")), default=0)


def _folded(text: str) -> str:
    """A drift cell 'a → b' on two lines, for narrow terminals."""
    return text.replace(" → ", "\n→ ")


def audit_table(report: RunReport, title: str | None = None, *, width: int | None = None,
                wide: bool = False) -> tuple[Table, list[str]]:
    """The host table fitted to `width` columns, and the lines to print under it.

    Host and status are never cut. When the table would be wider than the terminal, drift cells fold
    onto two lines, the OS is shortened, then setting columns on the right and the detail column are
    dropped (the details then follow the table, one line per host; `--wide` or `--format json` show
    everything). `wide`: every column at its full width, whatever the terminal."""
    keys: list[str] = []
    for h in report.hosts:
        for s in h.settings:
            if s.key not in keys:
                keys.append(s.key)
    cells = {k: [_cell(h, k) for h in report.hosts] for k in keys}
    names = [h.name for h in report.hosts]
    statuses = [str(h.status) for h in report.hosts]
    oses = [_os(h) for h in report.hosts]
    details = [h.detail for h in report.hosts]
    with_detail = any(details)
    budget = None if wide or width is None else width - 1
    used = _PER_COLUMN * 2 + max(4, _widest(names)) + max(6, _widest(statuses))

    def natural(key: str) -> int:
        return max(len(SHORT.get(key, key)), _widest([c.plain for c in cells[key]]))

    def narrow(key: str) -> int:
        header = max(len(w) for w in _header(key, True).split())
        return max(header, _widest([_folded(c.plain) for c in cells[key]]))

    fold = False
    shown = list(keys)
    os_text = oses
    if budget is not None:
        full = used + sum(natural(k) + _PER_COLUMN for k in keys) + _widest(oses) + _PER_COLUMN
        if full > budget:
            fold = True
            os_text = [compact_os(o) for o in oses]
            shown = []
            for k in keys:
                if used + narrow(k) + _PER_COLUMN <= budget:
                    shown.append(k)
                    used += narrow(k) + _PER_COLUMN
        else:
            used = full
    show_os = budget is None or not fold or used + _widest(os_text) + _PER_COLUMN <= budget
    if show_os and budget is not None and fold:
        used += _widest(os_text) + _PER_COLUMN
    # A detail column narrower than this would be a sliver: the details go under the table instead.
    detail_column = with_detail and (budget is None or budget - used - _PER_COLUMN >= 24)

    table = Table(title=title, title_justify="left", header_style="bold", caption_justify="left")
    table.add_column("host", no_wrap=True, min_width=_widest(names))
    table.add_column("status", no_wrap=True, min_width=_widest(statuses))
    if show_os:
        table.add_column("os", no_wrap=True, width=_widest(os_text) if fold else None)
    for k in shown:
        table.add_column(_header(k, fold), overflow="fold", width=narrow(k) if fold else None)
    if detail_column:
        table.add_column("detail", overflow="fold", ratio=1)
    for i, h in enumerate(report.hosts):
        row: list[Any] = [h.name, _styled(statuses[i], statuses[i])]
        if show_os:
            row.append(os_text[i])
        for k in shown:
            cell = cells[k][i]
            row.append(Text(_folded(cell.plain), style=cell.style) if fold else cell)
        if detail_column:
            row.append(Text(h.detail))  # Text, not markup: a detail may quote a host's output ("[/red]")
        table.add_row(*row)
    if any(s.status == "pending_reboot" for h in report.hosts for s in h.settings):
        table.caption = "⟳ written, takes effect at the next reboot;  a → b: drift, a is set, b is wanted;  - absent"
    notes: list[str] = []
    hidden = [SHORT.get(k, k) for k in keys if k not in shown]
    if hidden:
        notes.append(f"not shown at this width: {', '.join(hidden)} (use --wide, or --format json)")
    if with_detail and not detail_column:
        notes.extend(f"{h.name}: {h.detail}" for h in report.hosts if h.detail)
    return table, notes


def summary_line(report: RunReport) -> Text:
    s = report.summary()
    parts = [plural(s["hosts"], "host")]
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
            row += [_styled(c.state, c.state), Text(c.command)]
            table.add_row(*row)
    return table


def print_warnings(console: Console, report: RunReport) -> None:
    for w in report.warnings:
        console.print(Text.assemble(("warning:", "yellow"), f" {w}"), highlight=False)
