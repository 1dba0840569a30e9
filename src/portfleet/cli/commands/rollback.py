"""`portfleet rollback RUN_ID`: restore the values a run found before it wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from portfleet.cli import common as c
from portfleet.cli import shard_options as sharding
from portfleet.cli.vault_flags import reads_inventory


@reads_inventory
def rollback(
    run_id: Optional[str] = typer.Argument(None, help="The apply (or rollback) run to undo; see `portfleet runs list`. A unique prefix works.", show_default=False),
    inventory: Optional[Path] = typer.Option(
        None, "-i", "--inventory", help="Inventory with the hosts' connection details. Default: the one the run used."
    ),
    limit: Optional[str] = c.LimitOpt,
    check: bool = typer.Option(False, "--check", "--dry-run", "-C", help="Show what would be restored; change nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before changing more than one host."),
    forks: int = c.ForksOpt,
    procs: Optional[int] = c.ProcsOpt,
    output: c.TableOrJson = typer.Option(c.TableOrJson.table, "--format", help="table or json (schema portfleet.rollback/1)."),
    state: Optional[str] = c.StateOpt,
    templates: Optional[Path] = c.TemplatesOpt,
    timeout: int = c.TimeoutOpt,
    ca_bundle: Optional[str] = c.CaBundleOpt,
    ask_pass: bool = c.AskPassOpt,
    wide: bool = c.WideOpt,
    job: Optional[str] = typer.Option(None, "--job", metavar="NAME", callback=sharding.check_job,
                                      help="Instead of RUN_ID: undo every apply run of the sliced job NAME "
                                      "(all its shards, retries and killed shards included).", show_default=False),
    shard: Optional[str] = typer.Option(None, "--shard", metavar="K/N", callback=sharding.check_shard,
                                        help="With --job: only the runs of that shard.", show_default=False),
) -> None:
    """Put back the prior values journaled by RUN_ID (values that were absent are deleted again).

    Every host is read first; settings already at their prior value get no write. The rollback is a
    run of its own (kind rollback), journaled the same way, so it can be rolled back too. A run
    still in progress is refused (exit 2); an abandoned one (its process died) is rolled back.
    `--job NAME` rolls back all the apply runs of a sliced job at once: each host/setting gets the
    value it had before the job's first write; any run of the job still in progress refuses it all.
    """
    from portfleet.apply import run_converge
    from portfleet.cli.render.run_view import exit_for_run, print_run
    from portfleet.cli.render.progress import progress_for_terminal
    from portfleet.report.json_out import write_json
    from portfleet.rollback import (
        RollbackError,
        job_rollback_targets,
        recover_leases,
        rollback_plans,
        rollback_targets,
    )
    from portfleet.state import StateError

    if (run_id is None) == (job is None):
        c.fail("give the RUN_ID to roll back, or --job NAME for all the runs of a job (one of the two)")
    if shard is not None and job is None:
        c.fail("--shard needs --job NAME: it picks that shard's runs of the job")
    store = c.open_store(state)
    with store:
        try:
            if job is not None:
                runs, targets = job_rollback_targets(store, job, str(shard) if shard else None)
                full_id, what = None, f"job {job}" + (f" shard {shard}" if shard else "")
            else:
                full_id, targets = rollback_targets(store, run_id)
                runs, what = [store.get_run(full_id)], f"run {full_id}"
        except (RollbackError, StateError) as exc:
            c.fail(str(exc))
        # The rollback belongs to the job (and shard) it undoes: `runs list --job` shows it with them.
        store.label_runs(job or runs[0].job, str(shard) if shard else (runs[0].shard if job is None else None))
        recorded = sorted({r.inventory for r in runs if r.inventory})
        if inventory is None and len(recorded) > 1:
            c.fail(f"the runs of {what} used different inventories ({', '.join(recorded)}): pass -i INVENTORY")
        inv_path = inventory or (Path(recorded[0]) if recorded else None)
        if inv_path is None:
            c.fail(f"{what} recorded no inventory: pass -i INVENTORY")
        inv = c.load_inventory_or_exit(inv_path)
        plans, missing = rollback_plans(targets, inv)
        if limit:
            keep = {h.name for h in inv.select(limit)}
            plans = [p for p in plans if p.name in keep]
        if missing:
            c.err.print(f"[yellow]warning:[/yellow] not in {inv_path}, cannot roll back: {', '.join(missing)}")
        if not plans:
            c.fail(f"no host of {what} is left to roll back")
        c.check_hosts_or_exit(p.host for p in plans)
        if not check:
            c.confirm_changes(len(plans), f"roll back {what}", yes)
            for run in runs:
                recover_leases(store, run.id)
        report = run_converge(
            "rollback",
            plans,
            open_session=c.open_sessions(timeout, ca_bundle, ask_pass),
            renderer=c.renderer(templates),
            store=store,
            check=check,
            forks=forks,
            progress=progress_for_terminal(output == c.TableOrJson.table),
            inventory=str(inv_path),
            parent_run=full_id,
            procs=c.procs_for(procs),
        )
    if output == c.TableOrJson.json:
        write_json(report.to_json())
    else:
        # A rollback run carries no playbook warnings: print_run's warning lines stay empty.
        print_run(report, title=f"Rollback of {what}", changes=True, check=check, diff=True, wide=wide)
    exit_for_run(report)
