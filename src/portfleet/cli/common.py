"""Options and loaders shared by the CLI commands; bad input files end here with exit 2."""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from portfleet.engine import DEFAULT_FORKS
from portfleet.exit_codes import (  # noqa: F401 - the CLI's one import point for exit codes
    EXIT_DRIFT,
    EXIT_FAILED,
    EXIT_HANGUP,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_UNEXPECTED,
    EXIT_USAGE,
)

from portfleet.cli.console import err, fail, out, wide_console  # noqa: F401,E402 - re-exported for the commands
from portfleet.cli import shard_options  # noqa: E402


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class TableOrJson(str, Enum):
    table = "table"
    json = "json"


InventoryOpt = typer.Option(
    ...,
    "-i",
    "--inventory",
    help="Ansible inventory: a YAML/INI file, an executable inventory script, a plugin file (run through "
    "ansible-inventory), a directory of these, or a host list such as web01,web02, (trailing comma).",
    show_default=False,
    metavar="INVENTORY",
)
PlaybookOpt = typer.Option(
    ...,
    "-p",
    "--playbook",
    help="Desired-state playbook (YAML): which hosts get which settings (the shipped one: port-exhaustion.yml).",
    show_default=False,
    metavar="PLAYBOOK",
)
LimitOpt = typer.Option(
    None,
    "-l",
    "--limit",
    help="Ansible host pattern to narrow the run: group, host, wildcard (web*), regex (~web\\d+), "
    "'!exclude', '&intersect', comma lists (e.g. 'windows:!legacy').",
    metavar="PATTERN",
)
ForksOpt = typer.Option(DEFAULT_FORKS, "-f", "--forks", min=1, max=1000, help="Hosts worked on at once.", metavar="N")
ProcsOpt = typer.Option(None, "--procs", min=1, max=256, metavar="N", show_default=False,
                        help="Processes sharing the --forks (each its share of the threads). Default: the cores.")
StateOpt = typer.Option(
    None,
    "--state",
    help="State store (runs, prior values, leases, pending reboots): a SQLite file, or "
    "postgresql://user@host/db shared by many controllers. Default: $PORTFLEET_STATE or ./.portfleet/state.db.",
    show_default=False,
    metavar="PATH",
)
TemplatesOpt = typer.Option(
    None,
    "--templates",
    help="Your own templates directory; a file there replaces the shipped template of the same path.",
    show_default=False,
    metavar="DIR",
)
TimeoutOpt = typer.Option(20, "--timeout", min=1, metavar="SECONDS",
                          help="Per-operation timeout in seconds (WinRM OperationTimeout).")
WideOpt = typer.Option(
    False, "--wide", help="Tables at full width: every column, nothing folded (default: fit the terminal)."
)
AskPassOpt = typer.Option(
    False,
    "-k",
    "--ask-pass",
    help="Prompt once for the password of hosts whose inventory sets none (as ansible -k).",
)
CaBundleOpt = typer.Option(
    None,
    "--ca-bundle",
    help="CA bundle (PEM) to verify HTTPS hosts that have no ansible_winrm_ca_trust_path.",
    show_default=False,
    metavar="FILE",
)


def procs_for(procs: Optional[int]) -> int:
    """--procs, else the cores this process may use."""
    from portfleet.worker_processes import default_procs

    return procs if procs is not None else default_procs()


def state_path(path: "Optional[Path | str]") -> Any:
    """The StateLocation of `--state` (a path or a postgresql:// URL), else $PORTFLEET_STATE, else the default."""
    from portfleet.state import StateError, default_location, parse_location

    try:
        return parse_location(path) if path is not None else default_location()
    except StateError as exc:
        fail(str(exc))


def read_store_or_none(path: "Optional[Path | str]") -> Any:
    """The store to read (runs list|show, status), or None when there is no state database at the path yet."""
    from portfleet.state import StateError, StateMissing, Store

    try:
        return Store(state_path(path), read_only=True)
    except StateMissing:
        return None
    except StateError as exc:
        fail(str(exc))


def open_store(path: "Optional[Path | str]", read_only: bool = False) -> Any:
    """The state store, or exit 2 saying why not. `read_only`: look, never create or upgrade (runs list|show)."""
    from portfleet.state import StateError, Store

    try:
        store = Store(state_path(path), read_only=read_only)
    except StateError as exc:
        fail(str(exc))
    for note in store.notes:
        err.print(f"note: {note}", style="yellow", soft_wrap=True, markup=False)
    return store


def load_inventory_or_exit(path: Path, vault: Any = None) -> Any:
    """``vault``: a keyring; None: the one of the command's vault flags (cli/vault_flags.py), which
    also reads the ANSIBLE_VAULT_* variables."""
    from portfleet.cli.vault_flags import command_keyring
    from portfleet.inputs import InputError, inventory_input

    try:
        return inventory_input(path, vault if vault is not None else command_keyring())
    except InputError as exc:
        fail(str(exc))


def load_playbook_or_exit(path: Path) -> Any:
    from portfleet.inputs import InputError, playbook_input

    try:
        return playbook_input(path)
    except InputError as exc:
        fail(str(exc))


def build_plans_or_exit(inventory: Any, playbook: Any, limit: Optional[str]) -> Any:
    from portfleet.inputs import InputError, desired_input

    try:
        plans = desired_input(inventory, playbook, limit)
    except InputError as exc:
        fail(str(exc))
    note_unused_ca(p.host for p in plans.hosts)
    return plans


def fleet_plans_or_exit(inventory: Path, playbook: Path, limit: Optional[str], shard: Any) -> Any:
    """What audit and apply work on: the inventory and playbook loaded, the plays and --limit applied, then
    this process's --shard taken (an empty shard ends the command, exit 0)."""
    plans = build_plans_or_exit(load_inventory_or_exit(inventory), load_playbook_or_exit(playbook), limit)
    plans.hosts = shard_options.narrow(plans.hosts, shard)
    return plans


def run_store(state: "Optional[Path | str]", shard: Any, job: Optional[str]) -> Any:
    """The state store, every run this process records labelled with its --shard and --job."""
    store = open_store(state)
    shard_options.label(store, shard, job)
    return store


def note_unused_ca(hosts: Any) -> None:
    """A CA path on a plain-HTTP host is not used (as in Ansible): said once, not silently ignored."""
    from portfleet.transport.tls_checks import unused_ca_notes

    for note in unused_ca_notes(list(hosts)):
        err.print(f"note: {note}", style="yellow", soft_wrap=True, markup=False)


def check_hosts_or_exit(hosts: Any) -> None:
    """Before any host is contacted (inputs.check_hosts): a bad template or vault value is exit 2."""
    from portfleet.inputs import InputError, check_hosts

    hosts = list(hosts)
    try:
        check_hosts(hosts)
    except InputError as exc:
        fail(str(exc))
    note_unused_ca(hosts)


def renderer(templates: Optional[Path]) -> Any:
    from portfleet.render import Renderer

    if templates is not None and not templates.is_dir():
        fail(f"--templates {templates}: not a directory")
    return Renderer(templates)


def is_interactive() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty() and not os.environ.get("CI")


def confirm_changes(count: int, what: str, yes: bool) -> None:
    """DESIGN: more than one host changes only with --yes or a yes at a terminal."""
    if yes or count <= 1:
        return
    if not is_interactive():
        fail(f"refusing to {what} on {count} hosts without --yes (no terminal to ask)")
    if not typer.confirm(f"{what} on up to {count} hosts?", default=False, err=True):
        err.print("nothing changed")
        raise typer.Exit(EXIT_OK)


def check_ca_bundle_or_exit(ca_bundle: Optional[str]) -> None:
    """--ca-bundle names a readable file or directory, or the command ends (exit 2) before any host is contacted."""
    from portfleet.transport.tls_checks import CaPathError, check_ca_bundle

    try:
        check_ca_bundle(ca_bundle)
    except CaPathError as exc:
        fail(str(exc))


def open_sessions(timeout: int, ca_bundle: Optional[str], ask_pass: bool = False) -> Any:
    """The session factory of a run; -k asks for the password once, before any host is contacted."""
    from portfleet.inventory import Secret
    from portfleet.transport.factory import ConnectOptions, session_factory

    check_ca_bundle_or_exit(ca_bundle)
    prompted = None
    if ask_pass:
        if not sys.stdin.isatty():
            fail("-k/--ask-pass needs a terminal; use portfleet_password_env: VAR for automation")
        import getpass

        prompted = Secret(getpass.getpass("SSH/WinRM password: "))
    return session_factory(ConnectOptions(operation_timeout=timeout, ca_bundle=ca_bundle, prompted_password=prompted))
