"""`portfleet reboot status`: per host, the reboot task, the last boot, what still waits for a reboot."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from portfleet.cli import common as c
from portfleet.cli.vault_flags import reads_inventory
from portfleet.cli.commands.reboot import options as o
from portfleet.cli.commands.reboot.output import warn


@reads_inventory
def status_cmd(
    inventory: Optional[Path] = o.InventoryOpt,
    playbook: Optional[Path] = o.PlaybookOpt,
    limit: Optional[str] = o.PatternOpt,
    output: c.TableOrJson = o.format_option("reboot-status"),
    forks: int = c.ForksOpt,
    state: Optional[str] = c.StateOpt,
    templates: Optional[Path] = c.TemplatesOpt,
    timeout: int = c.TimeoutOpt,
    ca_bundle: Optional[str] = c.CaBundleOpt,
) -> None:
    """Per host: the portfleet-reboot task (schtasks /query), the last boot, what still waits for a reboot.

    Without -p every Windows host of the inventory (and --limit) is shown.
    Exit: 0 nothing pending, 3 reboots still pending (scheduled or not), 4 a host could not be read.
    """
    from portfleet.cli.render.progress import progress_for_terminal
    from portfleet.cli.render.reboot_tables import status_table
    from portfleet.cli.vault_flags import command_keyring
    from portfleet.reboot.scope import load_scope, required
    from portfleet.reboot.tasks import query_status, status_exit_code
    from portfleet.report.json_out import write_json
    from portfleet.report.reboot_json import status_json

    with o.bad_input_exits():
        scope = load_scope(required(inventory, "-i/--inventory", "the inventory"), playbook, limit,
                           command_keyring())
    with o.open_store(state) as store:
        rows = query_status(scope.plans, open_session=o.connect(timeout, ca_bundle), renderer=c.renderer(templates),
                            store=store, forks=forks, progress=progress_for_terminal(not o.is_json(output)))
    if o.is_json(output):
        write_json(status_json(rows))
    else:
        warn(scope.warnings)
        c.out.print(status_table(rows))
    raise typer.Exit(status_exit_code(rows))
