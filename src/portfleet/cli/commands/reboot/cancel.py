"""`portfleet reboot cancel`: remove the reboot tasks and abort pending shutdowns."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from portfleet.cli import common as c
from portfleet.cli.vault_flags import reads_inventory
from portfleet.cli.commands.reboot import options as o
from portfleet.cli.commands.reboot.output import warn


@reads_inventory
def cancel_cmd(
    inventory: Optional[Path] = o.InventoryOpt,
    playbook: Optional[Path] = o.PlaybookOpt,
    limit: Optional[str] = o.PatternOpt,
    check: bool = typer.Option(False, "--check", "--dry-run", "-C", help="Show the commands; run nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before changing more than one host."),
    output: c.TableOrJson = o.format_option("reboot-cancel"),
    forks: int = c.ForksOpt,
    state: Optional[str] = c.StateOpt,
    templates: Optional[Path] = c.TemplatesOpt,
    timeout: int = c.TimeoutOpt,
    ca_bundle: Optional[str] = c.CaBundleOpt,
) -> None:
    """Remove the portfleet-reboot tasks (schtasks /delete) and abort pending shutdowns (shutdown /a).

    `shutdown /a` answering 1116 means nothing was pending. Without -p every Windows host of the
    inventory (and --limit). Exit: 0 done, 3 commands would run (--check), 4 a host failed.
    """
    from portfleet.cli.render.progress import progress_for_terminal
    from portfleet.cli.render.reboot_tables import cancel_table
    from portfleet.cli.vault_flags import command_keyring
    from portfleet.reboot.scope import load_scope, required
    from portfleet.reboot.tasks import cancel_exit_code, cancel_preview, cancel_tasks
    from portfleet.report.json_out import write_json
    from portfleet.report.reboot_json import cancel_json

    with o.bad_input_exits():
        scope = load_scope(required(inventory, "-i/--inventory", "the inventory"), playbook, limit,
                           command_keyring())
    renderer = c.renderer(templates)
    if check:
        results = cancel_preview(scope.plans, renderer)
    else:
        c.confirm_changes(len(scope.plans), "cancel scheduled reboots", yes)
        with o.open_store(state) as store:
            results = cancel_tasks(scope.plans, open_session=o.connect(timeout, ca_bundle), renderer=renderer,
                                   store=store, forks=forks, progress=progress_for_terminal(not o.is_json(output)))
    if o.is_json(output):
        write_json(cancel_json(results, check))
    else:
        warn(scope.warnings)
        c.out.print(cancel_table(results, check))
    raise typer.Exit(cancel_exit_code(results, check))
