"""`portfleet capture`: record a real host's answers for the lab to replay."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from portfleet.cli import common as c
from portfleet.cli.vault_flags import reads_inventory


@reads_inventory
def capture(
    inventory: Path = c.InventoryOpt,
    limit: str = typer.Option(..., "-l", "--limit", help="The host to capture (a pattern that matches exactly one host)."),
    output: Path = typer.Option(..., "-o", "--output", help="Capture file to write (JSON, format portfleet-capture/1)."),
    days: int = typer.Option(7, "--days", min=1, help="Days of System events (4227/4231) to include, as diagnose reads them."),
    templates: Optional[Path] = c.TemplatesOpt,
    timeout: int = c.TimeoutOpt,
    ca_bundle: Optional[str] = c.CaBundleOpt,
    ask_pass: bool = c.AskPassOpt,
) -> None:
    """Record what one host answers to everything portfleet reads (nothing is written to it).

    The file holds each command line portfleet sent with the raw stdout, stderr and exit code, so a
    field report can be reproduced in the lab:

        portfleet capture -i hosts.ini -l srv-app-07 -o srv-app-07.json
        portfleet lab serve --hosts 3 --inventory-out lab.yml --replay srv-app-07=srv-app-07.json

    Review the file before you share it: it contains the host's connection table and process list.
    """
    from portfleet.capture import capture_host, write_capture
    from portfleet.inventory import InventoryError
    from portfleet.transport.base import TransportError

    inv = c.load_inventory_or_exit(inventory)
    try:
        hosts = inv.select(limit)
    except InventoryError as exc:
        c.fail(str(exc))
    if len(hosts) != 1:
        c.fail(f"--limit {limit!r} matches {len(hosts)} hosts ({', '.join(h.name for h in hosts[:8])}); capture takes exactly one")
    host = hosts[0]
    c.check_hosts_or_exit([host])
    open_session = c.open_sessions(timeout, ca_bundle, ask_pass)
    try:
        with open_session(host) as session:
            data = capture_host(session, c.renderer(templates), host, days=days)
    except TransportError as exc:
        c.fail(str(exc), c.EXIT_FAILED)
    write_capture(data, output)
    c.err.print(f"captured {len(data['commands'])} commands from {host.name} ({data['metadata']['os_version']}) to {output}")
