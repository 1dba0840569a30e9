"""`portfleet rollback RUN_ID`: restore the values a run found before it wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from portfleet.cli import common as c
from portfleet.cli.vault_flags import reads_inventory


@reads_inventory
def rollback(
    run_id: str = typer.Argument(..., help="The apply (or rollback) run to undo; see `portfleet runs list`. A unique prefix works."),
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
) -> None:
    """Put back the prior values journaled by RUN_ID (values that were absent are deleted again).

    Every host is read first; settings already at their prior value get no write. The rollback is a
    run of its own (kind rollback), journaled the same way, so it can be rolled back too. A run
    still in progress is refused (exit 2); an abandoned one (its process died) is rolled back.
    """
    from portfleet.apply import run_converge
    from portfleet.cli.render.run_view import exit_for_run, print_run
    from portfleet.cli.render.progress import progress_for_terminal
    from portfleet.report.json_out import write_json
    from portfleet.rollback import RollbackError, recover_leases, rollback_plans, rollback_targets
    from portfleet.state import StateError

    store = c.open_store(state)
    with store:
        try:
            full_id, targets = rollback_targets(store, run_id)
            run = store.get_run(full_id)
        except (RollbackError, StateError) as exc:
            c.fail(str(exc))
        inv_path = inventory or (Path(run.inventory) if run.inventory else None)
        if inv_path is None:
            c.fail(f"run {full_id} recorded no inventory: pass -i INVENTORY")
        inv = c.load_inventory_or_exit(inv_path)
        plans, missing = rollback_plans(targets, inv)
        if limit:
            keep = {h.name for h in inv.select(limit)}
            plans = [p for p in plans if p.name in keep]
        if missing:
            c.err.print(f"[yellow]warning:[/yellow] not in {inv_path}, cannot roll back: {', '.join(missing)}")
        if not plans:
            c.fail("no host of that run is left to roll back")
        c.check_hosts_or_exit(p.host for p in plans)
        if not check:
            c.confirm_changes(len(plans), f"roll back run {full_id}", yes)
            recover_leases(store, full_id)
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
        print_run(report, title=f"Rollback of {full_id}", changes=True, check=check, diff=True, wide=wide)
    exit_for_run(report)
