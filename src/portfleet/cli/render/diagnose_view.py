"""How `portfleet diagnose` shows itself to people: the ranking table, the per-host panels, --watch rounds."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from portfleet.cli import common as c

VERDICT_STYLE = {"exhausted": "bold red", "at_risk": "yellow", "healthy": "green", "unknown": "dim"}
VERDICT_LABEL = {"exhausted": "EXHAUSTED", "at_risk": "AT RISK", "healthy": "healthy", "unknown": "unknown"}


def _bar(fill: float, width: int = 16) -> Text:
    full = min(max(fill, 0.0), 1.0)
    n = round(full * width)
    style = "red" if fill >= 0.95 else "yellow" if fill >= 0.60 else "green"
    text = Text("█" * n, style=style)
    text.append("░" * (width - n), style="dim")
    text.append(f" {fill:>4.0%}")
    return text


def _consumer(d: Any, narrow: bool = False) -> str:
    p = d.culprit
    if p is None:
        return "-"
    if narrow:  # the name and its ports; the panel below has the states
        name = p.name if len(p.name) <= 18 else p.name[:17] + "…"
        return f"{name} {p.ports:,}"
    state = max(p.by_state, key=p.by_state.get) if p.by_state else ""
    pid = f" ({p.pid})" if p.pid > 0 else ""
    return f"{p.name}{pid}: {p.ports:,} {state}".strip()


def _events(d: Any) -> str:
    if not d.events_readable:
        return "n/a"
    if not d.events:
        return "none"
    return " ".join(f"{eid}×{n}" for eid, n in sorted(d.events.items(), reverse=True))


def _plain(cell: Any) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def fleet_table(report: Any, width: int | None = None) -> tuple[Table, list[str]]:
    """The ranking, fitted to `width`: #, host and verdict are never cut; the other columns take
    narrow forms, then the least telling ones are left out (named in the returned notes)."""
    events_header = f"events ({report.days} d)" if report.days else "events"

    def build(narrow: bool) -> list[tuple[str, dict[str, Any], list[Any]]]:
        cols: list[tuple[str, dict[str, Any], list[Any]]] = [
            ("#", {"justify": "right"}, []), ("host", {}, []), ("verdict", {}, []),
            ("use" if narrow else "dynamic range use", {}, []),
            ("in use" if narrow else "in use / capacity", {"justify": "right"}, []),
            ("top consumer", {}, []), (events_header, {}, []), ("TIME_WAIT", {"justify": "right"}, []),
        ]
        for i, d in enumerate(report.hosts, 1):
            if d.failed:
                row: list[Any] = [str(i), d.name, Text(d.status, style="red"), "", "", "", "", ""]
            else:
                main = d.main
                row = [
                    str(i), d.name, Text(VERDICT_LABEL[d.verdict], style=VERDICT_STYLE[d.verdict]),
                    _bar(d.fill, 8 if narrow else 16) if main else Text("?", style="dim"),
                    (f"{main.in_use:,}/{main.capacity:,}" if narrow else f"{main.in_use:,} / {main.capacity:,}")
                    if main else "?",
                    _consumer(d, narrow), _events(d),
                    f"{d.timed_wait_delay} s" if d.timed_wait_delay is not None else "?",
                ]
            for col, cell in zip(cols, row):
                col[2].append(cell)
        return cols

    def widths(cols: list[tuple[str, dict[str, Any], list[Any]]]) -> list[int]:
        return [max([len(h)] + [len(_plain(c)) for c in cells]) for h, _, cells in cols]

    cols = build(False)
    sizes = widths(cols)
    keep = list(range(len(cols)))
    notes: list[str] = []
    if width is not None and sum(sizes) + 3 * len(cols) + 1 > width:
        cols = build(True)
        sizes = widths(cols)
        keep, used = [0, 1, 2], sum(sizes[:3]) + 3 * 3 + 1
        # Most telling first: how full, who eats the ports, the events, the counts, TIME_WAIT.
        for i in (3, 5, 6, 4, 7):
            if used + sizes[i] + 3 <= width:
                keep.append(i)
                used += sizes[i] + 3
        keep.sort()
        hidden = [cols[i][0] for i in range(len(cols)) if i not in keep]
        if hidden:
            notes.append(f"not shown at this width: {', '.join(hidden)} (use --wide, or --format json)")
    table = Table(title=f"Ephemeral port use, {len(report.hosts)} host(s), worst first", title_justify="left")
    for i in keep:
        header, kw, _ = cols[i]
        table.add_column(header, no_wrap=True, **kw)
    for r in range(len(report.hosts)):
        table.add_row(*[cols[i][2][r] for i in keep])
    failed = [d for d in report.hosts if d.failed]
    notes.extend(f"{d.name}: {d.detail}" for d in failed if d.detail)
    return table, notes


def round_table(report: Any) -> Table:
    """--watch: one compact table per round: use now, the trend and the projected exhaustion."""
    from portfleet.diagnose import format_duration

    table = Table(title=f"sample {report.rounds} at {report.generated_at:%H:%M:%S} UTC", title_justify="left")
    for col in ("host", "verdict", "use", "in use", "trend", "full in"):
        table.add_column(col)
    for d in report.hosts:
        if d.failed:
            table.add_row(d.name, Text(d.status, style="red"), "", "", "", "")
            continue
        main = d.main
        t = d.trend
        slope = "" if t is None or t.slope_per_min is None else f"{t.slope_per_min:+,.1f}/min"
        eta = "" if t is None else ("-" if t.exhaustion_in_s is None else format_duration(t.exhaustion_in_s))
        table.add_row(d.name, Text(VERDICT_LABEL[d.verdict], style=VERDICT_STYLE[d.verdict]),
                      _bar(d.fill, 10), f"{main.in_use:,}" if main else "?", slope, eta)
    return table


def host_panel(d: Any) -> Panel:
    parts: list[Any] = []
    for line in d.evidence:
        parts.append(Text(f"• {line}"))
    if d.processes:
        procs = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
        procs.add_column("process")
        procs.add_column("pid", justify="right")
        procs.add_column("ports", justify="right")
        procs.add_column("by state")
        for p in d.processes[:5]:
            states = ", ".join(f"{s} {n:,}" for s, n in p.by_state.items())
            if p.time_wait_likely:
                states += f" (+{p.time_wait_likely:,} TIME_WAIT likely its own)"
            procs.add_row(Text(p.name), str(p.pid) if p.pid >= 0 else "-", f"{p.ports:,}", Text(states))  # host output
        parts.append(procs)
    for r in d.recommendations:
        parts.append(Text(f"→ {r.text}", style="cyan"))
        if r.command:
            parts.append(Text(f"    {r.command}", style="bold"))
    for w in d.warnings:
        parts.append(Text(f"! {w}", style="yellow"))
    for n in d.notes:
        parts.append(Text(f"  note: {n}", style="dim"))
    title = f"{d.name} — {VERDICT_LABEL[d.verdict]}"
    if d.os_label:
        tool = d.netstat_flags if str(d.netstat_flags).startswith("ss ") else f"netstat {d.netstat_flags}"  # Linux: ss
        title += f" ({d.os_label}, {tool})"
    return Panel(Group(*parts), title=title, title_align="left", border_style=VERDICT_STYLE[d.verdict].split()[-1])


def summary_line(report: Any) -> Text:
    s = report.summary()
    text = Text(f"{s['hosts']} host(s): ")
    bits = [("exhausted", "bold red"), ("at_risk", "yellow"), ("healthy", "green")]
    text.append(", ".join(f"{s[k]} {k.replace('_', ' ')}" for k, _ in bits))
    if s["unreachable"]:
        text.append(f", {s['unreachable']} not reached", style="red")
    return text


def print_report(report: Any, wide: bool = False) -> None:
    for w in report.warnings:
        c.err.print(f"[yellow]warning:[/yellow] {w}", soft_wrap=True)
    table, notes = fleet_table(report, None if wide else c.out.width)
    c.wide_console(table).print(table) if wide else c.out.print(table)
    for line in notes:
        c.out.print(line, markup=False, highlight=False)
    for d in report.hosts:
        if not d.failed and (d.verdict != "healthy" or d.warnings or d.recommendations):
            c.out.print(host_panel(d))
    c.out.print(summary_line(report))
