"""`portfleet audit`: drift report, one session and one batched read per host."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from portfleet.cli import common as c
from portfleet.cli import shard_options as sharding
from portfleet.cli.vault_flags import reads_inventory


@reads_inventory
def audit(
    inventory: Path = c.InventoryOpt,
    playbook: Path = c.PlaybookOpt,
    limit: Optional[str] = c.LimitOpt,
    forks: int = c.ForksOpt,
    procs: Optional[int] = c.ProcsOpt,
    output: c.OutputFormat = typer.Option(
        c.OutputFormat.table, "--format", help="table for people; json (schema portfleet.audit/1) or csv for machines."
    ),
    state: Optional[str] = c.StateOpt,
    templates: Optional[Path] = c.TemplatesOpt,
    timeout: int = c.TimeoutOpt,
    ca_bundle: Optional[str] = c.CaBundleOpt,
    ask_pass: bool = c.AskPassOpt,
    wide: bool = c.WideOpt,
    shard: Optional[str] = sharding.ShardOpt,
    job: Optional[str] = sharding.JobOpt,
) -> None:
    """Compare every host with the playbook and report drift. Changes nothing.

    Per host: one WinRM connection, one shell, ONE batched read (facts + every setting), parsed and
    compared as integers. Status per host: compliant, drift, pending_reboot (written, not yet
    effective: the host has not booted since), unreachable, auth_failed, error.

    Exit: 0 all compliant, 3 drift or reboot pending, 4 a host unreachable/failed, 2 bad input.
    """
    from portfleet.audit import run_audit
    from portfleet.cli.render.run_view import exit_for_run, print_run
    from portfleet.cli.render.progress import progress_for_terminal
    from portfleet.report.csv_out import write_csv
    from portfleet.report.json_out import write_json

    plans = c.fleet_plans_or_exit(inventory, playbook, limit, shard)
    store = c.run_store(state, shard, job)
    with store:
        report = run_audit(
            plans.hosts,
            open_session=c.open_sessions(timeout, ca_bundle, ask_pass),
            renderer=c.renderer(templates),
            store=store,
            forks=forks,
            progress=progress_for_terminal(output == c.OutputFormat.table),
            inventory=str(inventory),
            playbook=str(playbook),
            limit=limit,
            warnings=plans.warnings,
            procs=c.procs_for(procs),
        )
    if output == c.OutputFormat.json:
        write_json(report.to_json())
    elif output == c.OutputFormat.csv:
        write_csv(report)
    else:
        print_run(report, wide=wide)
    exit_for_run(report)
