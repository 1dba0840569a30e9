"""`portfleet reboot run`: a rolling reboot driven from here, fresh or resumed, stopped by any of
SIGINT/SIGTERM/SIGHUP with every host's state recorded."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any, Optional

import typer

from portfleet.cli import common as c
from portfleet.cli import shard_options as sharding
from portfleet.cli.vault_flags import command_keyring, reads_inventory
from portfleet.cli.commands.reboot import options as o
from portfleet.cli.commands.reboot.output import plan_document, plan_summary, print_plan, warn
from portfleet.interrupts import signal_name


@reads_inventory
def run_cmd(
    inventory: Optional[Path] = o.InventoryOpt,
    playbook: Optional[Path] = o.PlaybookOpt,
    limit: Optional[str] = o.LimitOpt,
    all_hosts: bool = o.AllOpt,
    now: bool = typer.Option(False, "--now", "--ignore-windows", help="Do not wait for maintenance windows: reboot "
                             "at once (batch limits still apply)."),
    check: bool = typer.Option(False, "--check", "--dry-run", "-C", help="Show what would be rebooted, when, by "
                               "which command; touch nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before rebooting more than one host."),
    max_fail: Optional[str] = typer.Option(None, "--max-fail", help="Stop when more than this share of a batch "
                                           "fails (e.g. 10%). Default: never stop early.", show_default=False),
    resume: Optional[str] = typer.Option(None, "--resume", help="Resume this reboot run (after Ctrl-C or a crash) "
                                         "from the state, rebooting no host twice. Without it the last unfinished "
                                         "reboot run is resumed automatically.", show_default=False),
    fresh: bool = typer.Option(False, "--fresh", help="Start a new run even if an earlier one is unfinished."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for closed windows to open (default), or stop "
                              "and report when the next one opens."),
    max_parallel: Optional[int] = o.MaxParallelOpt,
    batch: Optional[str] = o.BatchOpt,
    max_unavailable: Optional[str] = o.MaxUnavailableOpt,
    delay: Optional[int] = o.DelayOpt,
    timeout_down: Optional[float] = o.TimeoutDownOpt,
    timeout_up: Optional[float] = o.TimeoutUpOpt,
    poll_max: Optional[float] = typer.Option(None, "--poll-max", min=0.1, hidden=True,
                                             help="Longest pause between connect attempts while waiting (s)."),
    output: c.TableOrJson = o.format_option("reboot-run"),
    forks: int = c.ForksOpt,
    state: Optional[str] = c.StateOpt,
    templates: Optional[Path] = c.TemplatesOpt,
    timeout: int = c.TimeoutOpt,
    ca_bundle: Optional[str] = c.CaBundleOpt,
    shard: Optional[str] = sharding.ShardOpt,
    job: Optional[str] = sharding.JobOpt,
) -> None:
    """Rolling reboot driven from here: batch by batch inside the windows, every reboot verified.

    Per host: read its boot time, record it, `shutdown /r /t DELAY /c "portfleet: ..."`, wait for it
    to go down and come back (backoff, no busy loop), confirm the boot time changed, re-audit that the
    settings are in effect, record it. A shutdown already scheduled on the host (1190) is replaced by
    portfleet's (shutdown /a, then ours): one reboot. A host that does not come back fails alone after
    its timeout; the run stops only when a batch's failures exceed --max-fail. A batch never starts
    when it could not end inside its window.

    Ctrl-C (or SIGTERM, SIGHUP) stops: hosts already sent a shutdown are recorded; `portfleet reboot run`
    (or --resume RUN_ID) continues later and checks their boot times instead of sending a second shutdown.
    With --shard K/N (and --job NAME) the run reboots its slice, and the same command again resumes
    that shard's unfinished run (never another shard's).

    Exit: 0 all rebooted and compliant, 3 not compliant / left for a later window, 4 a host failed or
    the run stopped, 130 interrupted (143 SIGTERM, 129 SIGHUP), 2 bad input.
    """
    from portfleet.reboot import session

    request = session.RunRequest(
        inventory=inventory, playbook=playbook, limit=limit, all_hosts=all_hosts, max_parallel=max_parallel,
        vault=command_keyring(),
        batch=o.share(batch, "--batch"), max_unavailable=o.share(max_unavailable, "--max-unavailable"), delay=delay,
        timeout_down=timeout_down, timeout_up=timeout_up, poll_max=poll_max, max_fail=o.percent(max_fail),
        ignore_windows=now, wait=wait, forks=forks, shard=shard,
    )
    quiet = o.is_json(output)
    with o.open_store(state) as store:
        sharding.label(store, shard, job)
        wiring = o.wiring(store, templates, timeout, ca_bundle, not quiet)
        with o.bad_input_exits():
            previous = session.choose_run(store, resume, fresh, shard)
            if previous is not None and previous.complete:
                c.out.print(f"reboot run {previous.run.id} is complete: nothing to resume")
                raise typer.Exit(c.EXIT_OK)
            if previous is not None:
                run: Any = session.resume_run(previous.run, request, wiring)
            else:
                run = session.start_run(request, wiring)
        if run.resumed:
            _before_resume(run, check, yes, quiet)
        else:
            _before_fresh(run, check, yes, quiet)
        session.record(run, wiring)
        if not quiet and not run.resumed:
            c.err.print(f"reboot run {run.run_id}: {len(run.order)} host(s), first batch "
                        f"{_first_batch(run.planned.plan)}", soft_wrap=True)
        result = _drive(run, wiring, quiet)
    _report(result, quiet)
    raise typer.Exit(result.exit_code())


def _before_fresh(run: Any, check: bool, yes: bool, quiet: bool) -> None:
    """--check and "nothing to do" end here; otherwise warn and ask (more than one host)."""
    from portfleet.report.json_out import write_json

    planned = run.planned
    if check or not run.targets:
        if quiet:
            write_json(plan_document(planned))
        elif check:
            warn(planned.prepared.warnings)
            c.out.print("[bold]Check mode: nothing was changed. A run would reboot:[/bold]")
            print_plan(planned)
            c.out.print(plan_summary(planned))
        else:
            warn(planned.prepared.warnings)
            print_plan(planned, show_commands=False)
            c.out.print("nothing needs a reboot")
        raise typer.Exit(planned.exit_code())
    if not quiet:
        warn(planned.prepared.warnings + run.unreadable)
    c.confirm_changes(len(run.targets), "reboot", yes)


def _before_resume(run: Any, check: bool, yes: bool, quiet: bool) -> None:
    previous, left, flying = run.run, run.left, run.in_flight
    message = (f"resuming reboot run {previous.id} (started {previous.started_at[:19]}Z, {previous.status}): "
               f"{len(left)} of {len(run.rows)} host(s) left"
               + (f"; shutdown already sent to {', '.join(flying)}: their boot time is checked, no second "
                  "shutdown" if flying else "")
               + " (use --fresh to start a new run instead)")
    if check:
        c.out.print(f"Check mode: nothing was changed. {message}")
        for r in left:
            c.out.print(f"  {r.host}: {r.state}" + (f" (boot before {r.boot_before.isoformat()})" if r.boot_before else ""))
        raise typer.Exit(run.check_exit_code())
    if not quiet:
        c.err.print(message, soft_wrap=True)
    c.confirm_changes(len([r for r in left if r.state == "planned"]), "reboot", yes)


def _first_batch(plan: Any) -> str:
    if not plan.batches:
        return "(none schedulable)"
    b = plan.batches[0]
    return f"at {b.start.strftime('%Y-%m-%d %H:%M')}Z: {', '.join(b.hosts)}"


def _drive(run: Any, wiring: Any, quiet: bool) -> Any:
    """The run under signal handling: the first SIGINT/SIGTERM/SIGHUP stops new shutdowns and lets the
    hosts in flight record where they are; a second one abandons waiting for them."""
    from portfleet.cli.render.progress import progress_for_terminal
    from portfleet.cli.signals import stopping
    from portfleet.engine import NoProgress
    from portfleet.reboot.session import drive

    progress = progress_for_terminal(not quiet)

    def event(text: str) -> None:
        if quiet:
            return
        if isinstance(progress, NoProgress):
            c.err.print(text, markup=False, soft_wrap=True)
        else:
            progress.message(text)

    def on_first(signum: int) -> None:
        if not quiet:
            name = signal_name(signum)
            by, again = ("", "Ctrl-C again") if signum == signal.SIGINT else (f" by {name}", f"send {name} again")
            c.err.print(f"[yellow]Interrupted{by}: no new shutdowns; recording where each host is "
                        f"({again} to abandon)[/yellow]")

    stop_event = threading.Event()
    with stopping(stop_event, on_first=on_first) as stop:
        return drive(run, wiring, stop=stop_event, signal_of=lambda: stop.signum, progress=progress, on_event=event)


def _report(result: Any, quiet: bool) -> None:
    outcome = result.outcome
    if quiet:
        from portfleet.report.json_out import write_json
        from portfleet.report.reboot_json import run_json

        doc = run_json(outcome, result.options, inventory=result.inventory, playbook=result.playbook,
                       resumed=result.resumed)
        doc["unreadable"] = result.unreadable
        write_json(doc)
        return
    from portfleet.cli.render.reboot_tables import run_table

    c.out.print(run_table(outcome))
    counts = outcome.counts()
    c.out.print(f"run {outcome.run_id}: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
                + f" ({outcome.batches_run} batch(es))")
    if outcome.stopped_reason:
        c.err.print(f"[red]{outcome.stopped_reason}[/red]", soft_wrap=True)
        if outcome.interrupted:
            c.err.print(f"resume with: portfleet reboot run --resume {outcome.run_id}")
