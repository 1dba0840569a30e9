"""`portfleet reboot plan`: who needs a reboot and when; changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from portfleet.cli import common as c
from portfleet.cli import shard_options as sharding
from portfleet.cli.vault_flags import command_keyring, reads_inventory
from portfleet.cli.commands.reboot import options as o
from portfleet.cli.commands.reboot.output import plan_document, plan_summary, print_plan, warn


@reads_inventory
def plan_cmd(
    inventory: Optional[Path] = o.InventoryOpt,
    playbook: Optional[Path] = o.PlaybookOpt,
    limit: Optional[str] = o.LimitOpt,
    all_hosts: bool = o.AllOpt,
    at: Optional[str] = typer.Option(None, "--at", metavar="TIME", help="Plan as if it were this time (ISO 8601, "
                                     "e.g. 2027-03-27T12:00:00Z; no offset means UTC): what-if and tests.",
                                     show_default=False),
    old_now: Optional[str] = typer.Option(None, "--now", hidden=True, help="Deprecated: --at TIME.",
                                          show_default=False),
    output: c.TableOrJson = o.format_option("reboot-plan"),
    ics: Optional[Path] = typer.Option(None, "--ics", help="Also write the plan as an iCalendar file (one event "
                                       "per batch, each host's exact shutdown command in the description)."),
    ignore_windows: bool = o.IgnoreWindowsOpt,
    max_parallel: Optional[int] = o.MaxParallelOpt,
    batch: Optional[str] = o.BatchOpt,
    max_unavailable: Optional[str] = o.MaxUnavailableOpt,
    delay: Optional[int] = o.DelayOpt,
    timeout_down: Optional[float] = o.TimeoutDownOpt,
    timeout_up: Optional[float] = o.TimeoutUpOpt,
    forks: int = c.ForksOpt,
    state: Optional[str] = c.StateOpt,
    templates: Optional[Path] = c.TemplatesOpt,
    timeout: int = c.TimeoutOpt,
    ca_bundle: Optional[str] = c.CaBundleOpt,
    shard: Optional[str] = sharding.ShardOpt,
) -> None:
    """Which hosts need a reboot, and when: each in its next window, in batches. Changes nothing.

    A host needs one when portfleet wrote a reboot-needing value after its last boot (state), or
    Windows reports a pending reboot (CBS, Windows Update, PendingFileRenameOperations). Each batch
    obeys --max-parallel, --batch and --max-unavailable (per group) and must fit, with the estimated
    reboot time (delay + timeout-down + timeout-up), inside every member's window.

    Exit: 0 nothing to reboot, 3 reboots planned, 4 a host could not be read, 2 bad input.
    """
    from portfleet.reboot.ics import write_ics
    from portfleet.reboot.session import RunRequest, plan_run
    from portfleet.report.json_out import write_json

    when = o.plan_time(at, old_now)
    request = RunRequest(
        inventory=inventory, playbook=playbook, limit=limit, all_hosts=all_hosts, max_parallel=max_parallel,
        vault=command_keyring(),
        batch=o.share(batch, "--batch"), max_unavailable=o.share(max_unavailable, "--max-unavailable"), delay=delay,
        timeout_down=timeout_down, timeout_up=timeout_up, ignore_windows=ignore_windows, forks=forks,
        shard=shard,
    )
    with o.open_store(state) as store, o.bad_input_exits():
        planned = plan_run(request, o.wiring(store, templates, timeout, ca_bundle, not o.is_json(output)), when)
    if ics is not None:
        try:
            write_ics(planned.plan, ics, commands=planned.commands)
        except OSError as exc:
            c.fail(f"--ics {ics}: {exc.strerror}")
    if o.is_json(output):
        write_json(plan_document(planned))
    else:
        warn(planned.prepared.warnings)
        print_plan(planned)
        c.out.print(plan_summary(planned))
        if ics is not None:
            c.out.print(f"iCalendar written to {ics} ({len(planned.plan.batches)} event(s))")
    raise typer.Exit(planned.exit_code())
