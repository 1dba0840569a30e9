"""`portfleet inventory ...`: list, graph and inspect an Ansible inventory (YAML, INI or a directory)."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional

import typer

from portfleet.cli.vault_flags import reads_inventory
from rich.console import Console
from rich.table import Table

from portfleet.inventory import Host, Inventory, InventoryError, load_inventory, masked

app = typer.Typer(
    help="Read Ansible inventories (YAML, INI or a directory): list hosts, groups and merged vars.",
    no_args_is_help=True,
)

InventoryOption = Annotated[
    Path,
    typer.Option(
        "-i",
        "--inventory",
        help="Ansible inventory: a YAML (.yml/.yaml) or INI file, or a directory of them; "
        "group_vars/ and host_vars/ beside it are read too.",
        show_default=False,
    ),
]
LimitOption = Annotated[
    Optional[str],
    typer.Option(
        "-l",
        "--limit",
        help="Ansible host pattern: group, host, wildcard (web*), regex (~web\\d+), "
        "comma list, !exclude, &intersect, subscript (web[0:2]), @file.",
        show_default=False,
    ),
]


class OutputFormat(str, Enum):
    table = "table"
    json = "json"


def fail(exc: Exception) -> NoReturn:
    """Print ``error: <file>:<line>: ...`` on stderr and exit 2 (bad input, per DESIGN)."""
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


def load_and_select(inventory: Path, limit: str | None = None, vault: Any = None) -> tuple[Inventory, list[Host]]:
    """Load an inventory and apply a limit; on bad input print the error and exit 2.
    Warnings (Ansible's would-be warnings) go to stderr. Reusable by other commands.
    ``vault``: the run's vault keyring (None: the ANSIBLE_VAULT_* variables only)."""
    from portfleet.cli.vault_flags import command_keyring

    try:
        inv = load_inventory(inventory, vault if vault is not None else command_keyring())
        for warning in inv.warnings:
            typer.echo(f"warning: {warning}", err=True)
        hosts = inv.select(limit) if limit is not None else list(inv.hosts)
    except InventoryError as exc:
        fail(exc)
    return inv, hosts


def _endpoint(host: Host) -> str:
    address = f"[{host.address}]" if ":" in host.address else host.address
    return f"{address}:{host.port}"


def _connection(host: Host) -> str:
    if host.is_winrm:
        return f"{host.connection}/{host.scheme}/{host.winrm_transport}"
    return host.connection


def _var_text(value: Any) -> str:
    value = masked(value)
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _source_text(source: dict[str, Any]) -> str:
    """'hosts.yml:12', 'group_vars/all/vault.yml:3 vault prod', 'hosts.yml:7 template'."""
    where = f"{source['file']}:{source['line']}" if source["line"] else str(source["file"])
    return where + (f" vault {source['vault']}" if source["vault"] else "") + (" template" if source["template"] else "")


def host_json(host: Host) -> dict[str, Any]:
    return {
        "name": host.name,
        "address": host.address,
        "port": host.port,
        "connection": host.connection,
        "scheme": host.scheme,
        "user": host.user,
        "platform": host.platform,
        "password_source": host.password_source,
        "groups": sorted(host.groups),
        "vars": masked(dict(sorted(host.vars.items()))),  # templated, as used; secrets '***'
        "sources": {k: host.var_source(k) for k in sorted(host.raw_vars)},  # file, line, vault, template
    }


def inventory_json(inv: Inventory, hosts: list[Host], limit: str | None) -> dict[str, Any]:
    """The stable `inventory list --format json` document; secrets are '***'."""
    selected = {h.name for h in hosts}
    return {
        "inventory": str(inv.source),
        "limit": limit,
        "hosts": [host_json(h) for h in hosts],
        "groups": {
            name: {
                "hosts": [h for h in g.hosts if h in selected],
                "children": list(g.children),
                "vars": masked(dict(sorted(g.vars.items()))),
            }
            for name, g in inv.groups.items()
        },
        "warnings": list(inv.warnings),
    }


@app.command("list")
@reads_inventory
def list_hosts(
    inventory: InventoryOption,
    limit: LimitOption = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="table for people, json for machines (stable schema).")
    ] = OutputFormat.table,
    show_vars: Annotated[bool, typer.Option("--vars", help="Also show each host's merged vars (secrets masked).")] = False,
) -> None:
    """List the hosts an inventory (and a --limit pattern) selects, with address, port, connection and groups.

    Exit codes: 0 listed, 2 bad inventory file or a pattern that matches nothing."""
    inv, hosts = load_and_select(inventory, limit)
    try:  # templates are evaluated here, at use: a bad one is exit 2 with its file:line
        if output is OutputFormat.json:
            typer.echo(json.dumps(inventory_json(inv, hosts, limit), indent=2, default=str))
            return
        _print_table(inv, hosts, limit, show_vars)
    except InventoryError as exc:
        fail(exc)


def _print_table(inv: Inventory, hosts: list[Host], limit: str | None, show_vars: bool) -> None:
    title = f"{inv.source}: {len(hosts)} host{'s' if len(hosts) != 1 else ''}"
    if limit:
        title += f" matching {limit!r}"
    table = Table()
    table.add_column("host", overflow="fold")
    table.add_column("address:port", overflow="fold")
    table.add_column("connection", no_wrap=True)
    table.add_column("groups")
    if show_vars:
        table.add_column("vars")
    for h in hosts:
        row = [h.name, _endpoint(h), _connection(h), ", ".join(g for g in h.group_names)]
        if show_vars:
            row.append("\n".join(f"{k}={_var_text(v)}  ({_source_text(h.var_source(k))})" for k, v in sorted(h.vars.items())))
        table.add_row(*row)
    console = Console(highlight=False)
    if not console.is_terminal:
        # Piped: let the table take its natural width instead of eliding names at 80 columns.
        console = Console(highlight=False, width=1000)
    console.print(title, markup=False)  # not the table's title: that would wrap a long path
    console.print(table)


def _graph_line(text: str, depth: int) -> str:
    # ansible-inventory --graph: "  |" per level, then "--"
    return ("  |" * depth + "--" + text) if depth else text


def graph_lines(inv: Inventory, group: str, show_vars: bool, depth: int = 0) -> list[str]:
    g = inv.groups[group]
    lines = [_graph_line(f"@{group}:", depth)]
    for child in sorted(g.children):
        lines.extend(graph_lines(inv, child, show_vars, depth + 1))
    if group != "all":
        for name in sorted(g.hosts):
            lines.append(_graph_line(name, depth + 1))
            if show_vars:
                host = inv.host(name)
                for key in sorted(host.own_keys):  # as written, like ansible-inventory --graph --vars
                    lines.append(_graph_line(f"{{{key} = {_var_text(host.raw_vars[key])}}}", depth + 2))
    if show_vars:
        for key, value in sorted(g.vars.items()):
            lines.append(_graph_line(f"{{{key} = {_var_text(value)}}}", depth + 1))
    return lines


@app.command("graph")
@reads_inventory
def graph(
    inventory: InventoryOption,
    group: Annotated[str, typer.Argument(help="Group to start from.")] = "all",
    show_vars: Annotated[bool, typer.Option("--vars", help="Show group vars and each host's own vars (secrets masked).")] = False,
) -> None:
    """Draw the group tree like `ansible-inventory --graph`: children first, then hosts, sorted by name."""
    inv, _ = load_and_select(inventory)
    if group not in inv.groups:
        fail(InventoryError(f"no group named {group!r} (groups: {', '.join(inv.groups)})", inv.source))
    typer.echo("\n".join(graph_lines(inv, group, show_vars)))


@app.command("host")
@reads_inventory
def show_host(
    inventory: InventoryOption,
    name: Annotated[str, typer.Argument(help="Inventory name of the host.", show_default=False)],
) -> None:
    """Print one host's merged vars as JSON (like `ansible-inventory --host`), with the file:line each came from."""
    inv, _ = load_and_select(inventory)
    try:
        host = inv.host(name)
    except InventoryError as exc:
        fail(exc)
    try:
        doc = host_json(host)
    except InventoryError as exc:
        fail(exc)
    doc["origins"] = {k: str(host.origins[k]) for k in sorted(host.raw_vars) if k in host.origins}
    typer.echo(json.dumps(doc, indent=2, default=str))
