"""`portfleet diagnose`: which hosts are running out of ephemeral ports, and who is eating them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from portfleet.cli import common as c
from portfleet.cli import shard_options as sharding
from portfleet.cli.vault_flags import reads_inventory


@reads_inventory
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
    procs: Optional[int] = c.ProcsOpt,
    templates: Optional[Path] = c.TemplatesOpt,
    timeout: int = c.TimeoutOpt,
    ca_bundle: Optional[str] = c.CaBundleOpt,
    ask_pass: bool = c.AskPassOpt,
    wide: bool = c.WideOpt,
    state: Optional[str] = c.StateOpt,
    shard: Optional[str] = sharding.ShardOpt,
    job: Optional[str] = sharding.JobOpt,
) -> None:
    """Find the hosts running out of ephemeral ports and the process eating them. Changes nothing.

    Per host, in one WinRM session: the four dynamic ranges, excluded port ranges,
    TcpTimedWaitDelay, `netstat -anoq` (`-ano` where the build has no -q), `tasklist` and System
    events 4227/4231. Then: ports of the dynamic range in use by state and by process, how full
    the range is, a verdict (healthy, at risk, exhausted) with its evidence, and what to do: widen
    the range to what, lower TcpTimedWaitDelay, or fix the application that leaks CLOSE_WAIT/BOUND
    sockets. Hosts are ranked by risk, worst first.

    Each run is recorded in the state store (`runs list`); a host's trend and time to exhaustion
    are fitted over the samples earlier runs took of it (any shard, any job, the last --days days);
    with --watch, over the rounds of this run.

    Exit: 0 all healthy, 3 a host at risk or exhausted, 4 a host unreachable/failed, 2 bad input.
    """
    from portfleet.cli.render.diagnose_view import print_report, round_table
    from portfleet.cli.render.progress import progress_for_terminal
    from portfleet.cli.signals import exit_code_for
    from portfleet.diagnose import run_diagnose, watch
    from portfleet.engine import Interrupted
    from portfleet.report.json_out import write_json

    if count is not None and watch_s is None:
        c.fail("--count needs --watch SECONDS")
    inv, hosts = _select(inventory, limit)
    hosts = sharding.narrow(hosts, shard)
    desired, warnings = _desired(inv, playbook, limit)
    store = c.run_store(state, shard, job)
    renderer = c.renderer(templates)
    open_session = c.open_sessions(timeout, ca_bundle, ask_pass)
    as_table = output == c.TableOrJson.table
    try:
        report, collected = run_diagnose(
            hosts, open_session=open_session, renderer=renderer, days=days, forks=forks, desired=desired,
            progress=progress_for_terminal(as_table), inventory=str(inventory),
            playbook=str(playbook) if playbook else None, warnings=warnings, procs=c.procs_for(procs),
        )
    except Interrupted as stop:
        store.close()
        c.err.print("[yellow]interrupted[/yellow]")
        raise typer.Exit(exit_code_for(stop.signum))
    if watch_s is None:
        report = _with_history(store, report, days)
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
    _record(store, report, inventory, playbook, limit)
    if html is not None:
        from portfleet.report.html import write_html

        try:
            write_html(report, html)
        except OSError as exc:
            c.fail(f"--html {html}: {exc.strerror or exc}")
    if output == c.TableOrJson.json:
        write_json(report.to_json())
    else:
        print_report(report, wide=wide)
        if html is not None:
            c.err.print(f"HTML report: {html}")
    raise typer.Exit(report.exit_code())


def _with_history(store: Any, report: Any, days: int) -> Any:
    """The trend of each host over the samples earlier diagnose runs recorded (diagnose/history.py)."""
    import dataclasses

    from portfleet.diagnose import history, rank
    from portfleet.state import StateError

    try:
        earlier = history.earlier_samples(store, [h.name for h in report.hosts], report.generated_at, days)
    except StateError as exc:  # a damaged row: said, and the run goes on without a history
        c.err.print(f"warning: no trend from earlier runs: {exc}", style="yellow", soft_wrap=True, markup=False)
        return report
    if history.apply_history(report, earlier):
        report = dataclasses.replace(report, hosts=rank(report.hosts))
    return report


def _record(store: Any, report: Any, inventory: Path, playbook: Optional[Path], limit: Optional[str]) -> None:
    from portfleet.diagnose import history
    from portfleet.state import StateError

    with store:
        try:
            history.record(store, report, inventory=str(inventory), playbook=str(playbook) if playbook else None,
                           limit=limit)
        except StateError as exc:
            c.fail(str(exc))


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
    c.check_hosts_or_exit(hosts)
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
