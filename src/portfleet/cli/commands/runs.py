"""`portfleet runs list|show`: what happened, from the state database."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from portfleet.cli import common as c

app = typer.Typer(help="Past runs from the state database: what ran, on which hosts, what it wrote.", no_args_is_help=True)


@app.command("list")
def list_runs(
    state: Optional[Path] = c.StateOpt,
    limit: int = typer.Option(30, "--last", "-n", min=1, help="How many runs, newest first."),
    output: c.TableOrJson = typer.Option(c.TableOrJson.table, "--format", help="table or json."),
) -> None:
    """List runs, newest first: id, kind, check mode, status, when, summary."""
    from portfleet.report.json_out import write_json
    from portfleet.report.runs_json import runs_list_json

    with c.open_store(state) as store:
        runs = store.list_runs(limit)
    if output == c.TableOrJson.json:
        write_json(runs_list_json(runs))
        return
    table = Table(header_style="bold")
    for col in ("run", "kind", "status", "started (UTC)", "hosts", "summary"):
        table.add_column(col)
    for r in runs:
        s = r.summary or {}
        brief = ", ".join(f"{v} {k}" for k, v in s.items() if v and k not in ("hosts",))
        kind = r.kind + (" --check" if r.check_mode else "") + (f" of {r.parent_run}" if r.parent_run else "")
        table.add_row(r.id, kind, r.status, r.started_at[:19].replace("T", " "), str(s.get("hosts", "")), brief)
    c.out.print(table)


@app.command("show")
def show_run(
    run_id: str = typer.Argument(..., help="Run id (a unique prefix works)."),
    state: Optional[Path] = c.StateOpt,
    output: c.TableOrJson = typer.Option(c.TableOrJson.table, "--format", help="table or json."),
) -> None:
    """Show one run: per host its result, and every journaled write with its prior value.

    A write journaled as `intent` with no outcome was sent when the run was cut off (crash,
    Ctrl-C, lost connection): the host may or may not hold the new value; audit it.
    """
    from portfleet.report.json_out import write_json
    from portfleet.report.runs_json import run_show_json
    from portfleet.state import StateError
    from portfleet.values import from_json, to_text

    with c.open_store(state) as store:
        try:
            run = store.get_run(run_id)
        except StateError as exc:
            c.fail(str(exc))
        results = store.host_results(run.id)
        journal = store.journal(run.id)
    if output == c.TableOrJson.json:
        write_json(run_show_json(run, results, journal))
        return
    c.out.print(
        f"[bold]run {run.id}[/bold]  {run.kind}{' --check' if run.check_mode else ''}  status [bold]{run.status}[/bold]"
        f"  started {run.started_at}  finished {run.finished_at or '-'}"
    )
    if run.status == "running":
        c.out.print(
            "[yellow]no end recorded: the run is still going, or its process was killed; "
            "hosts without a result below were not finished[/yellow]"
        )
    if run.inventory or run.playbook:
        c.out.print(f"inventory {run.inventory}  playbook {run.playbook or '-'}  limit {run.limit_pattern or '-'}")
    hosts = Table(title="hosts", title_justify="left", header_style="bold")
    for col in ("host", "status", "detail"):
        hosts.add_column(col, overflow="fold")
    for r in results:
        hosts.add_row(r.host, r.status, r.detail or "")
    c.out.print(hosts)
    if journal:
        table = Table(title="journal (writes)", title_justify="left", header_style="bold")
        for col in ("host", "setting", "prior", "written", "state", "exit", "command"):
            table.add_column(col, overflow="fold")
        for j in journal:
            table.add_row(
                j.host,
                j.setting,
                to_text(from_json(j.prior)),
                to_text(from_json(j.desired)),
                j.state,
                "" if j.exit_code is None else str(j.exit_code),
                j.command,
            )
        c.out.print(table)
    results_hosts = {r.host for r in results}
    cut = sorted({j.host for j in journal if j.host not in results_hosts})
    if cut:
        c.out.print(f"[yellow]no result recorded (run cut off while working on):[/yellow] {', '.join(cut)}")
