"""`portfleet diagnose`: which hosts are running out of ephemeral ports, and who is eating them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from portfleet.cli import common as c

VERDICT_STYLE = {"exhausted": "bold red", "at_risk": "yellow", "healthy": "green", "unknown": "dim"}
VERDICT_LABEL = {"exhausted": "EXHAUSTED", "at_risk": "AT RISK", "healthy": "healthy", "unknown": "unknown"}


def diagnose(
    inventory: Path = c.InventoryOpt,
    limit: Optional[str] = c.LimitOpt,
    playbook: Optional[Path] = typer.Option(
        None, "-p", "--playbook",
        help="Desired-state playbook: warn when its dynamic ranges would overlap a listening port or an excluded range.",
        show_default=False,
    ),
    days: int = typer.Option(7, "--days", min=0, max=365, help="System events 4227/4231 of the last N days (0: skip the event log)."),
    html: Optional[Path] = typer.Option(
        None, "--html", help="Also write ONE self-contained HTML report (charts inline, works offline) to this file.",
        show_default=False, dir_okay=False,
    ),
    output: c.TableOrJson = typer.Option(
        c.TableOrJson.table, "--format", help="table for people; json (schema portfleet.diagnose/1) for machines."
    ),
    watch_s: Optional[float] = typer.Option(
        None, "--watch", min=0.1, metavar="SECONDS",
        help="Sample the TCP tables again every SECONDS: trend and projected time to exhaustion. Ctrl-C ends.",
        show_default=False,
    ),
    count: Optional[int] = typer.Option(
        None, "--count", min=1, help="With --watch: stop after N samples in all (default: until Ctrl-C).", show_default=False
    ),
    forks: int = c.ForksOpt,
    templates: Optional[Path] = c.TemplatesOpt,
    timeout: int = c.TimeoutOpt,
    ca_bundle: Optional[str] = c.CaBundleOpt,
    ask_pass: bool = c.AskPassOpt,
) -> None:
    """Find the hosts running out of ephemeral ports and the process eating them. Changes nothing.

    Per host, in one WinRM session: the four dynamic ranges, excluded port ranges,
    TcpTimedWaitDelay, `netstat -anoq` (`-ano` where the build has no -q), `tasklist` and System
    events 4227/4231. Then: ports of the dynamic range in use by state and by process, how full
    the range is, a verdict (healthy, at risk, exhausted) with its evidence, and what to do: widen
    the range to what, lower TcpTimedWaitDelay, or fix the application that leaks CLOSE_WAIT/BOUND
    sockets. Hosts are ranked by risk, worst first.

    Exit: 0 all healthy, 3 a host at risk or exhausted, 4 a host unreachable/failed, 2 bad input.
    """
    from portfleet.diagnose import run_diagnose, watch
    from portfleet.cli.render.progress import progress_for_terminal
    from portfleet.engine import Interrupted
    from portfleet.report.json_out import write_json

    if count is not None and watch_s is None:
        c.fail("--count needs --watch SECONDS")
    inv, hosts = _select(inventory, limit)
    desired, warnings = _desired(inv, playbook, limit)
    renderer = c.renderer(templates)
    open_session = c.open_sessions(timeout, ca_bundle, ask_pass)
    as_table = output == c.TableOrJson.table
    try:
        report, collected = run_diagnose(
            hosts, open_session=open_session, renderer=renderer, days=days, forks=forks, desired=desired,
            progress=progress_for_terminal(as_table), inventory=str(inventory),
            playbook=str(playbook) if playbook else None, warnings=warnings,
        )
    except Interrupted:
        c.err.print("[yellow]interrupted[/yellow]")
        raise typer.Exit(c.EXIT_INTERRUPTED)
    if watch_s is not None and (count is None or count > 1):
        if as_table:
            c.out.print(round_table(report))
        report = watch(
            hosts, report, collected, open_session=open_session, renderer=renderer, interval=watch_s,
            count=count, forks=forks, desired=desired,
            on_round=(lambda r: c.out.print(round_table(r))) if as_table else None,
        )
        if report.interrupted:
            c.err.print(f"[dim]watch stopped after {report.rounds} sample(s)[/dim]")
    if html is not None:
        from portfleet.report.html import write_html

        try:
            write_html(report, html)
        except OSError as exc:
            c.fail(f"--html {html}: {exc.strerror or exc}")
    if output == c.TableOrJson.json:
        write_json(report.to_json())
    else:
        print_report(report)
        if html is not None:
            c.err.print(f"HTML report: {html}")
    raise typer.Exit(report.exit_code())


def _select(inventory: Path, limit: Optional[str]) -> tuple[Any, list[Any]]:
    from portfleet.inventory import InventoryError

    inv = c.load_inventory_or_exit(inventory)
    for warning in getattr(inv, "warnings", []):
        c.err.print(f"[yellow]warning:[/yellow] {warning}", soft_wrap=True)
    try:
        hosts = inv.select(limit) if limit else list(inv.hosts)
    except InventoryError as exc:
        c.fail(str(exc))
    if not hosts:
        c.fail(f"{inventory}: no hosts to diagnose")
    return inv, hosts


def _desired(inv: Any, playbook: Optional[Path], limit: Optional[str]) -> tuple[dict[str, Any], list[str]]:
    """Per host, the playbook's desired settings (only to warn about its ranges; nothing is applied)."""
    if playbook is None:
        return {}, []
    from portfleet.inventory import InventoryError
    from portfleet.desired import build_desired

    book = c.load_playbook_or_exit(playbook)
    try:
        plans = build_desired(inv, book, limit)
    except InventoryError as exc:
        c.fail(str(exc))
    warnings = list(plans.warnings)
    if not plans.hosts:
        warnings.append(f"playbook {playbook}: no play names any of the selected hosts")
    return {p.name: p.desired for p in plans.hosts}, warnings


# ---- rendering for people --------------------------------------------------------------------------


def _bar(fill: float, width: int = 16) -> Text:
    full = min(max(fill, 0.0), 1.0)
    n = round(full * width)
    style = "red" if fill >= 0.95 else "yellow" if fill >= 0.60 else "green"
    text = Text("█" * n, style=style)
    text.append("░" * (width - n), style="dim")
    text.append(f" {fill:>4.0%}")
    return text


def _consumer(d: Any) -> str:
    p = d.culprit
    if p is None:
        return "-"
    state = max(p.by_state, key=p.by_state.get) if p.by_state else ""
    pid = f" ({p.pid})" if p.pid > 0 else ""
    return f"{p.name}{pid}: {p.ports:,} {state}".strip()


def _events(d: Any) -> str:
    if not d.events_readable:
        return "n/a"
    if not d.events:
        return "none"
    return " ".join(f"{eid}×{n}" for eid, n in sorted(d.events.items(), reverse=True))


def fleet_table(report: Any) -> Table:
    table = Table(title=f"Ephemeral port use, {len(report.hosts)} host(s), worst first", title_justify="left")
    for col, kw in (
        ("#", {"justify": "right"}), ("host", {}), ("verdict", {}), ("dynamic range use", {}),
        ("in use / capacity", {"justify": "right"}), ("top consumer", {}), ("events", {}), ("TIME_WAIT", {"justify": "right"}),
    ):
        table.add_column(col, **kw)
    for i, d in enumerate(report.hosts, 1):
        if d.failed:
            table.add_row(str(i), d.name, Text(d.status, style="red"), Text(d.detail, style="dim"), "", "", "", "")
            continue
        main = d.main
        table.add_row(
            str(i),
            d.name,
            Text(VERDICT_LABEL[d.verdict], style=VERDICT_STYLE[d.verdict]),
            _bar(d.fill) if main else Text("?", style="dim"),
            f"{main.in_use:,} / {main.capacity:,}" if main else "?",
            _consumer(d),
            _events(d),
            f"{d.timed_wait_delay} s" if d.timed_wait_delay is not None else "?",
        )
    return table


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
            procs.add_row(p.name, str(p.pid) if p.pid >= 0 else "-", f"{p.ports:,}", states)
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


def print_report(report: Any) -> None:
    for w in report.warnings:
        c.err.print(f"[yellow]warning:[/yellow] {w}", soft_wrap=True)
    c.out.print(fleet_table(report))
    for d in report.hosts:
        if not d.failed and (d.verdict != "healthy" or d.warnings or d.recommendations):
            c.out.print(host_panel(d))
    c.out.print(summary_line(report))
