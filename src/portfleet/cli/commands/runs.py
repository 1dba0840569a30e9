"""`portfleet runs list|show`: what happened, from the state database (opened read-only).

Looking never changes the state: the database is opened read-only, not created and not upgraded,
so runs can be listed from a copy on read-only media. A run recorded as running whose controller
is gone is shown `abandoned`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from portfleet.cli import common as c
from portfleet.cli import shard_options as sharding

JOB_RUNS_MAX = 100_000  # runs list --job: every run of the job (shards x retries)
NARROW_RUNS = 110  # below this width, a table with a job column leaves out the started column

app = typer.Typer(help="Past runs from the state database: what ran, on which hosts, what it wrote.", no_args_is_help=True)

ABANDONED_NOTE = (
    "abandoned: its controller ({host}, pid {pid}) is gone without recording an end; hosts without a result "
    "below were not finished, and a write journaled as `intent` may or may not have reached its host. "
    "Audit them, or `portfleet rollback {run}`"
)


def _shown(store: Any, run: Any) -> Any:
    return dataclasses.replace(run, status=store.shown_status(run))


@app.command("list")
def list_runs(
    state: Optional[str] = c.StateOpt,
    limit: int = typer.Option(30, "--last", "-n", min=1, help="How many runs, newest first (with --job: all of the job's)."),
    output: c.TableOrJson = typer.Option(c.TableOrJson.table, "--format", help="table or json."),
    job: Optional[str] = typer.Option(None, "--job", metavar="NAME", callback=sharding.check_job,
                                      help="Only the runs of the sliced job NAME, with an overview: the shards "
                                      "seen and missing, and what they found together.", show_default=False),
) -> None:
    """List runs, newest first: id, kind, check mode, status, job and shard, when, summary.

    The shards of one job (--job) are listed together, at the place of the job's newest run.
    """
    from portfleet.jobs import grouped, overview
    from portfleet.report.json_out import write_json
    from portfleet.report.runs_json import runs_list_json

    from portfleet.state import StateError

    store = c.read_store_or_none(state)
    runs = []
    if store is not None:
        with store:
            _notes(store)
            try:
                runs = grouped([_shown(store, r) for r in store.list_runs(limit if job is None else JOB_RUNS_MAX, job=job)])
            except StateError as exc:  # a damaged row: said, not a traceback
                c.fail(str(exc))
    kinds = overview(runs) if job is not None else []
    if output == c.TableOrJson.json:
        write_json(runs_list_json(runs, job, kinds))
        return
    with_jobs = any(r.job or r.shard for r in runs)
    table = Table(header_style="bold")
    # The run id is what one copies into `runs show` / `rollback`: never cut (nor the status). It
    # starts with the UTC start time, so a narrow terminal loses nothing without the started column.
    started = with_jobs is False or c.out.width >= NARROW_RUNS
    table.add_column("run", no_wrap=True, min_width=max((len(r.id) for r in runs), default=3))
    for col in ("kind", "status", *(("job",) if with_jobs else ()), *(("started (UTC)",) if started else ()),
                "hosts", "summary"):
        table.add_column(col, no_wrap=col == "status")
    for r in runs:
        s = r.summary or {}
        brief = ", ".join(f"{v} {k}" for k, v in s.items() if v and k not in ("hosts",))
        kind = r.kind + (" --check" if r.check_mode else "") + (f" of {r.parent_run}" if r.parent_run else "")
        # Every text from the state is escaped: host output and hand edits may hold rich markup ("[/red]").
        status = f"[red]{escape(r.status)}[/red]" if r.status == "abandoned" else escape(r.status)
        labels = (escape(" ".join(x for x in (r.job, r.shard) if x)),) if with_jobs else ()
        when = (escape(r.started_at[:19].replace("T", " ")),) if started else ()
        table.add_row(escape(r.id), escape(kind), status, *labels, *when, escape(str(s.get("hosts", ""))), escape(brief))
    c.out.print(table)
    for item in kinds:
        c.out.print(_overview_line(job, item), markup=False, soft_wrap=True)
    if job is not None and not runs:
        c.out.print(f"no run of job {job} in {c.state_path(state)}", markup=False)


def _overview_line(job: Optional[str], item: Any) -> str:
    shards = ""
    if item.shard_count is not None:
        missing = f"missing {', '.join(item.missing)}" if item.missing else "none missing"
        shards = f", {len(item.shards)} of {item.shard_count} shards ({missing})"
    elif item.shards:
        shards = f", shards {' '.join(item.shards)}"
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(item.statuses.items()))
    found = ", ".join(f"{v} {k}" for k, v in item.summary.items() if v and k != "hosts")
    hosts = item.summary.get("hosts")
    return (f"job {job} {item.kind}: {item.runs} run(s){shards}; newest per shard {statuses}"
            + (f"; {hosts} host(s)" + (f": {found}" if found else "") if hosts is not None else ""))


def _notes(store: Any) -> None:
    for note in store.notes:
        c.err.print(f"note: {note}", style="yellow", soft_wrap=True, markup=False)


@app.command("show")
def show_run(
    run_id: str = typer.Argument(..., help="Run id (a unique prefix works)."),
    state: Optional[str] = c.StateOpt,
    output: c.TableOrJson = typer.Option(c.TableOrJson.table, "--format", help="table or json."),
) -> None:
    """Show one run: per host its result, every journaled write with its prior value, its leases.

    A write journaled as `intent` with no outcome was sent when the run was cut off (crash,
    signal, lost connection): the host may or may not hold the new value; audit it.
    """
    from portfleet.report.json_out import write_json
    from portfleet.report.runs_json import run_show_json
    from portfleet.state import StateError

    store = c.read_store_or_none(state)
    if store is None:
        c.fail(f"no run {run_id!r}: no state database at {c.state_path(state)} yet")
    with store:
        _notes(store)
        try:
            run = _shown(store, store.get_run(run_id))
            results = store.host_results(run.id)
            journal = store.journal(run.id)
            leases = store.leases(run.id)
        except StateError as exc:  # no such run, or a damaged row
            c.fail(str(exc))
    if output == c.TableOrJson.json:
        write_json(run_show_json(run, results, journal, leases))
        return
    _print_show(run, results, journal, leases)


def _value(raw: Any) -> str:
    """A journaled value as text; one a damaged row holds is shown as it is stored."""
    from portfleet.values import from_json, to_text

    try:
        return to_text(from_json(raw))
    except (TypeError, ValueError, KeyError, OverflowError):
        return repr(raw)


def _print_show(run: Any, results: list, journal: list, leases: list) -> None:

    c.out.print(
        f"[bold]run {escape(run.id)}[/bold]  {escape(run.kind)}{' --check' if run.check_mode else ''}  "
        f"status [bold]{escape(run.status)}[/bold]  started {escape(run.started_at)}  finished {escape(run.finished_at or '-')}"
    )
    if run.controller_host:
        c.out.print(f"controller {run.controller_host} pid {run.controller_pid}", markup=False)
    if run.job or run.shard:
        c.out.print(f"job {run.job or '-'}  shard {run.shard or '-'}  (see `portfleet runs list --job {run.job}`)"
                    if run.job else f"shard {run.shard}", markup=False)
    if run.status == "abandoned":
        c.out.print(ABANDONED_NOTE.format(host=run.controller_host, pid=run.controller_pid, run=run.id),
                    style="yellow", markup=False)
    elif run.status == "running":
        c.out.print(
            "[yellow]no end recorded: the run is still going, or its process was killed; "
            "hosts without a result below were not finished[/yellow]"
        )
    if run.inventory or run.playbook:
        c.out.print(f"inventory {run.inventory}  playbook {run.playbook or '-'}  limit {run.limit_pattern or '-'}",
                    markup=False)
    hosts = Table(title="hosts", title_justify="left", header_style="bold")
    for col in ("host", "status", "detail"):
        hosts.add_column(col, overflow="fold")
    for r in results:
        hosts.add_row(escape(r.host), escape(r.status), escape(r.detail or ""))
    c.out.print(hosts)
    if journal:
        table = Table(title="journal (writes)", title_justify="left", header_style="bold")
        for col in ("host", "setting", "prior", "written", "state", "exit", "command"):
            table.add_column(col, overflow="fold")
        for j in journal:
            table.add_row(*(escape(v) for v in (j.host, j.setting, _value(j.prior), _value(j.desired), j.state,
                                                "" if j.exit_code is None else str(j.exit_code), j.command)))
        c.out.print(table)
    if leases:
        table = Table(title="host leases held", title_justify="left", header_style="bold")
        for col in ("host", "since (UTC)", "expires (UTC)", "lease"):
            table.add_column(col, overflow="fold")
        for lease in leases:
            table.add_row(escape(lease.host), escape(lease.acquired_at[:19].replace("T", " ")),
                          escape(lease.expires_at[:19].replace("T", " ")),
                          "live" if lease.live else "dead: the next run recovers it")
        c.out.print(table)
    results_hosts = {r.host for r in results}
    cut = sorted({j.host for j in journal if j.host not in results_hosts})
    if cut:
        c.out.print(f"[yellow]no result recorded (run cut off while working on):[/yellow] {escape(', '.join(cut))}")
