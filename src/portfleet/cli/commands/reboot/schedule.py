"""`portfleet reboot schedule`: one-time scheduled tasks that reboot the hosts in their windows."""

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
def schedule_cmd(
    inventory: Optional[Path] = o.InventoryOpt,
    playbook: Optional[Path] = o.PlaybookOpt,
    limit: Optional[str] = o.LimitOpt,
    all_hosts: bool = o.AllOpt,
    check: bool = typer.Option(False, "--check", "--dry-run", "-C", help="Show the tasks and commands; create "
                               "nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before scheduling more than one host."),
    max_parallel: Optional[int] = o.MaxParallelOpt,
    batch: Optional[str] = o.BatchOpt,
    max_unavailable: Optional[str] = o.MaxUnavailableOpt,
    delay: Optional[int] = o.DelayOpt,
    timeout_down: Optional[float] = o.TimeoutDownOpt,
    timeout_up: Optional[float] = o.TimeoutUpOpt,
    output: c.TableOrJson = o.format_option("reboot-schedule"),
    forks: int = c.ForksOpt,
    state: Optional[str] = c.StateOpt,
    templates: Optional[Path] = c.TemplatesOpt,
    timeout: int = c.TimeoutOpt,
    ca_bundle: Optional[str] = c.CaBundleOpt,
    shard: Optional[str] = sharding.ShardOpt,
    job: Optional[str] = sharding.JobOpt,
) -> None:
    """Leave a one-time scheduled task on each host that reboots it in its window, staggered per the plan.

    `schtasks /create /tn portfleet-reboot /sc once /sd DATE /st HH:MM /tr "shutdown /r /t 300 /c ..." /ru
    SYSTEM /f`, at the host's batch start in the host's own clock time (/sd in its locale's date format).
    The reboots then happen without the controller; `reboot status` shows them, `reboot cancel` removes them.
    With --shard K/N each shard schedules its slice (plan the batches per shard: every shard's first batch
    starts at the window's opening, so divide --max-parallel by N).

    Exit: 0 tasks created (or nothing to schedule), 3 tasks would be created (--check), 4 a host failed.
    """
    from portfleet.reboot.session import RunRequest, create_schedule, plan_schedule
    from portfleet.report.json_out import write_json
    from portfleet.report.reboot_json import schedule_json

    request = RunRequest(
        inventory=inventory, playbook=playbook, limit=limit, all_hosts=all_hosts, max_parallel=max_parallel,
        vault=command_keyring(),
        batch=o.share(batch, "--batch"), max_unavailable=o.share(max_unavailable, "--max-unavailable"), delay=delay,
        timeout_down=timeout_down, timeout_up=timeout_up, forks=forks, shard=shard,
    )
    with o.open_store(state) as store:
        sharding.label(store, shard, job)
        wiring = o.wiring(store, templates, timeout, ca_bundle, not o.is_json(output))
        with o.bad_input_exits():
            schedule = plan_schedule(request, wiring)
        if not check and schedule.items:
            c.confirm_changes(len(schedule.items), "schedule a reboot", yes)
            schedule = create_schedule(schedule, wiring)
    planned = schedule.planned
    if o.is_json(output):
        write_json(schedule_json(schedule.items, plan_document(planned), check))
    else:
        from portfleet.cli.render.reboot_tables import schedule_table

        warn(planned.prepared.warnings)
        print_plan(planned, show_commands=False)
        if schedule.items:
            c.out.print(schedule_table(schedule.items, check))
        c.out.print(plan_summary(planned))
    raise typer.Exit(schedule.exit_code())
