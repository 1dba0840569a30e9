"""`portfleet status`: the last known state of every host, from the state store; no host contacted.

The store is opened read-only (never created, never upgraded), as `runs list` opens it: status can
be asked of a copy, of a PostgreSQL store shared by many controllers, from anywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from portfleet.cli import common as c
from portfleet.cli import shard_options as sharding
from portfleet.cli.vault_flags import reads_inventory


@reads_inventory
def status(
    inventory: Optional[Path] = typer.Option(
        None, "-i", "--inventory", metavar="INVENTORY", show_default=False,
        help="List this inventory's hosts (those never recorded as `never seen`). Default: every host in the store.",
    ),
    limit: Optional[str] = typer.Option(
        None, "-l", "--limit", metavar="PATTERN",
        help="Ansible host pattern. Without -i only host names, wildcards and regexes (~re) match: groups need -i.",
    ),
    output: c.OutputFormat = typer.Option(
        c.OutputFormat.table, "--format", help="table for people; json (schema portfleet.status/1) or csv for machines."
    ),
    state: Optional[str] = c.StateOpt,
    job: Optional[str] = typer.Option(None, "--job", metavar="NAME", callback=sharding.check_job, show_default=False,
                                      help="Only what the runs of the sliced job NAME recorded."),
    shard: Optional[str] = typer.Option(None, "--shard", metavar="K/N", callback=sharding.check_shard,
                                        show_default=False, help="Only what runs recorded as shard K/N recorded."),
    wide: bool = c.WideOpt,
) -> None:
    """The last known state of every host, from the state store, without contacting any host.

    Per host: its status when a run last looked at it (audit, apply, apply --check, rollback, the
    re-audit after a reboot), when, and by which run (kind, job, shard); per setting the desired
    and actual values of its newest reading; writes still waiting for a boot; a lease a run holds
    on it now. Hosts of the inventory that no run recorded are listed as `never seen`.

    Exit: 3 a known host drifts or awaits a reboot, 0 otherwise, 2 bad input or a damaged store.
    """
    from portfleet.report.json_out import write_json
    from portfleet.state import StateError
    from portfleet.status import fleet_status

    names = _inventory_names(inventory, limit) if inventory is not None else None
    store = c.read_store_or_none(state)
    shard_label = str(shard) if shard is not None else None
    where = str(c.state_path(state))
    try:
        if store is None:
            result = fleet_status_without_store(names or [], where, limit, job, shard_label,
                                                str(inventory) if inventory else None)
        else:
            with store:
                for note in store.notes:
                    c.err.print(f"note: {note}", style="yellow", soft_wrap=True, markup=False)
                if names is None:
                    names = _known(store, limit, job, shard_label)
                result = fleet_status(store, names, job=job, shard=shard_label,
                                      inventory=str(inventory) if inventory else None, limit=limit)
    except StateError as exc:  # a damaged row, an unreachable database: said, not a traceback
        c.fail(str(exc))
    if output == c.OutputFormat.json:
        write_json(result.to_json())
    elif output == c.OutputFormat.csv:
        from portfleet.report.status_csv import write_status_csv

        write_status_csv(result)
    else:
        _print_table(result, wide)
    raise typer.Exit(result.exit_code())


def _inventory_names(inventory: Path, limit: Optional[str]) -> list[str]:
    from portfleet.inputs import InputError, select_hosts

    inv = c.load_inventory_or_exit(inventory)
    try:
        return [h.name for h in select_hosts(inv, limit)]
    except InputError as exc:
        c.fail(str(exc))


def _known(store: Any, limit: Optional[str], job: Optional[str], shard: Optional[str]) -> list[str]:
    """The hosts the store knows (of the job/shard), narrowed by --limit over their names."""
    from portfleet.inventory.errors import PatternError
    from portfleet.inventory.patterns import select
    from portfleet.status import KnownHosts, known_names

    names = known_names(store, job, shard)
    if not limit or not names:
        return names
    try:
        return [h.name for h in select(KnownHosts(names, f"the hosts recorded in {store.location}"), limit=limit)]
    except PatternError as exc:
        c.fail(str(exc))


def fleet_status_without_store(names: list[str], where: str, limit: Optional[str], job: Optional[str],
                               shard: Optional[str], inventory: Optional[str]) -> Any:
    """No state database yet: every host of the inventory is `never seen`."""
    from portfleet.status import NEVER_SEEN, FleetStatus, HostState
    from portfleet.times import utcnow

    return FleetStatus([HostState(n, NEVER_SEEN) for n in sorted(set(names))], where, utcnow(), inventory, limit,
                       job, shard)


def _print_table(result: Any, wide: bool) -> None:
    from portfleet.cli.render.status_table import status_table, summary_text

    if not result.hosts:
        c.out.print(f"no host recorded in {result.state} yet" + (f" by job {result.job}" if result.job else "")
                    + (f" shard {result.shard}" if result.shard else ""), markup=False)
        return
    table, notes = status_table(result, width=None if wide else c.out.width, wide=wide)
    console = c.wide_console(table) if wide else c.out
    console.print(table)
    for line in notes:  # wrapped at the terminal's width, as the table is
        c.out.print(line, markup=False, highlight=False, style="dim" if line.startswith("not shown") else None)
    c.out.print(summary_text(result), markup=False)
