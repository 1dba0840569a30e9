"""`portfleet apply`: write what drifts, verify, keep prior values for rollback."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from portfleet.cli import common as c
from portfleet.cli import shard_options as sharding
from portfleet.cli.vault_flags import reads_inventory
from portfleet.shares import Share, ShareError, parse_percentage, parse_share


@reads_inventory
def apply(
    inventory: Path = c.InventoryOpt,
    playbook: Path = c.PlaybookOpt,
    limit: Optional[str] = c.LimitOpt,
    check: bool = typer.Option(
        False, "--check", "--dry-run", "-C", help="Read hosts and print the exact commands that would run; change nothing."
    ),
    diff: bool = typer.Option(False, "--diff", "-D", help="Show each setting's value before and after."),
    batch: Optional[str] = typer.Option(
        None, "--batch", help="Rolling batch size: a count or a percentage (e.g. 10 or 25%). Default: the playbook's rollout.batch, else all at once."
    ),
    max_fail: Optional[str] = typer.Option(
        None,
        "--max-fail",
        help="Stop the rollout when more than this share of a batch fails (e.g. 5%). Default: the playbook's rollout.max_fail_percentage, else never.",
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before changing more than one host."),
    forks: int = c.ForksOpt,
    procs: Optional[int] = c.ProcsOpt,
    output: c.TableOrJson = typer.Option(c.TableOrJson.table, "--format", help="table for people, json (schema portfleet.apply/1) for machines."),
    state: Optional[str] = c.StateOpt,
    templates: Optional[Path] = c.TemplatesOpt,
    timeout: int = c.TimeoutOpt,
    ca_bundle: Optional[str] = c.CaBundleOpt,
    ask_pass: bool = c.AskPassOpt,
    wide: bool = c.WideOpt,
    shard: Optional[str] = sharding.ShardOpt,
    job: Optional[str] = sharding.JobOpt,
) -> None:
    """Bring hosts to the playbook's settings, in rolling batches.

    Only drifting settings are written (a compliant host gets no write). Each write is journaled
    with the prior value BEFORE it is sent, read back and verified after; `portfleet rollback RUN_ID`
    restores the prior values. MaxUserPort and TcpTimedWaitDelay take effect after a reboot: such
    hosts stay pending_reboot until they boot again (see `portfleet reboot`).

    One run per host at a time: a host another run is working on is skipped as `locked`, naming
    that run, its controller host and pid.

    Exit: 0 all compliant, 3 changes pending a reboot (or drift in --check), 4 a host failed or was
    locked, or the rollout stopped, 2 bad input, 130 interrupted.
    """
    from portfleet.apply import run_converge
    from portfleet.cli.render.run_view import exit_for_run, print_run
    from portfleet.cli.render.progress import progress_for_terminal
    from portfleet.report.json_out import write_json

    plans = c.fleet_plans_or_exit(inventory, playbook, limit, shard)
    rollout = plans.hosts[0].rollout
    batch_spec = _batch(batch) if batch is not None else getattr(rollout, "batch", None)
    threshold = _percent(max_fail) if max_fail is not None else getattr(rollout, "max_fail_percentage", None)
    if not check:
        c.confirm_changes(len(plans.hosts), "apply the playbook", yes)
    store = c.run_store(state, shard, job)
    with store:
        report = run_converge(
            "apply",
            plans.hosts,
            open_session=c.open_sessions(timeout, ca_bundle, ask_pass),
            renderer=c.renderer(templates),
            store=store,
            check=check,
            forks=forks,
            batch=batch_spec,
            max_fail_percentage=threshold,
            progress=progress_for_terminal(output == c.TableOrJson.table),
            inventory=str(inventory),
            playbook=str(playbook),
            limit=limit,
            warnings=plans.warnings,
            procs=c.procs_for(procs),
        )
    if output == c.TableOrJson.json:
        write_json(report.to_json())
    else:
        print_run(report, changes=True, check=check, diff=diff, wide=wide)
        if report.stopped_reason:
            c.err.print(f"[red]{report.stopped_reason}[/red]; not started: {', '.join(report.skipped)}")
    exit_for_run(report)


def _percent(text: str) -> float:
    try:
        return parse_percentage(text)
    except ShareError:
        c.fail(f"--max-fail {text!r}: write a percentage from 0 to 100, such as 5% or 0")


def _batch(text: str) -> Share:
    """Ansible serial: a host count >= 1, or a percentage above 0 and up to 100."""
    try:
        return parse_share(text)
    except ShareError:
        c.fail(f"--batch {text!r}: write a host count such as 10, or a percentage such as 25%")
