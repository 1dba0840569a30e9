"""Options and loaders shared by the CLI commands; bad input files end here with exit 2."""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Any, NoReturn, Optional

import typer
from rich.console import Console

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

def _console(stderr: bool = False) -> Console:
    # Not a terminal (a pipe, a file, CI): wide enough that tables are not folded into
    # unreadable slivers; a real terminal keeps its own width.
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else int(os.environ.get("COLUMNS", "200"))
    return Console(stderr=stderr, highlight=False, width=width)


out = _console()
err = _console(stderr=True)


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class TableOrJson(str, Enum):
    table = "table"
    json = "json"


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    # The message is plain text (it quotes paths, URLs, pip extras like 'portfleet[postgresql]'):
    # escaped, so rich never takes a part of it for markup.
    from rich.markup import escape

    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


InventoryOpt = typer.Option(
    ...,
    "-i",
    "--inventory",
    help="Ansible inventory: YAML or INI file (or a directory of them). Hosts, groups, vars, ranges.",
    show_default=False,
)
PlaybookOpt = typer.Option(
    ...,
    "-p",
    "--playbook",
    help="Desired-state playbook (YAML): which hosts get which settings; see playbooks/port-exhaustion.yml.",
    show_default=False,
)
LimitOpt = typer.Option(
    None,
    "-l",
    "--limit",
    help="Ansible host pattern to narrow the run: group, host, wildcard (web*), regex (~web\\d+), "
    "'!exclude', '&intersect', comma lists (e.g. 'windows:!legacy').",
)
ForksOpt = typer.Option(DEFAULT_FORKS, "-f", "--forks", min=1, max=1000, help="Hosts worked on at once.")
StateOpt = typer.Option(
    None,
    "--state",
    help="State store (runs, prior values, leases, pending reboots): a SQLite file, or "
    "postgresql://user@host/db shared by many controllers. Default: $PORTFLEET_STATE or ./.portfleet/state.db.",
    show_default=False,
)
TemplatesOpt = typer.Option(
    None,
    "--templates",
    help="Your own templates directory; a file there replaces the shipped template of the same path.",
    show_default=False,
)
TimeoutOpt = typer.Option(20, "--timeout", min=1, help="Per-operation timeout in seconds (WinRM OperationTimeout).")
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
)


def state_path(path: "Optional[Path | str]") -> Any:
    """The StateLocation of `--state` (a path or a postgresql:// URL), else $PORTFLEET_STATE, else the default."""
    from portfleet.state import StateError, default_location, parse_location

    try:
        return parse_location(path) if path is not None else default_location()
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


def load_inventory_or_exit(path: Path) -> Any:
    from portfleet.inventory import InventoryError, load_inventory

    try:
        return load_inventory(path)
    except InventoryError as exc:
        fail(str(exc))
    except FileNotFoundError:
        fail(f"{path}: no such inventory file or directory")


def load_playbook_or_exit(path: Path) -> Any:
    from portfleet.playbook import PlaybookError, load_playbook

    try:
        return load_playbook(path)
    except PlaybookError as exc:
        fail(str(exc))
    except FileNotFoundError:
        fail(f"{path}: no such playbook file")


def build_plans_or_exit(inventory: Any, playbook: Any, limit: Optional[str]) -> Any:
    from portfleet.desired import build_desired
    from portfleet.inventory import InventoryError

    try:
        plans = build_desired(inventory, playbook, limit)
    except InventoryError as exc:
        fail(str(exc))
    for plan in plans.hosts:
        try:
            plan.host.resolve_password()  # fail fast: a missing portfleet_password_env variable
        except InventoryError as exc:
            fail(str(exc))
    if not plans.hosts:
        fail(
            "no host matches both the playbook's plays and --limit "
            f"({', '.join(repr(p.hosts) for p in playbook.plays)}; limit {limit!r})"
        )
    return plans


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


def open_sessions(timeout: int, ca_bundle: Optional[str], ask_pass: bool = False) -> Any:
    """The session factory of a run; -k asks for the password once, before any host is contacted."""
    from portfleet.inventory import Secret
    from portfleet.transport.factory import ConnectOptions, session_factory

    prompted = None
    if ask_pass:
        if not sys.stdin.isatty():
            fail("-k/--ask-pass needs a terminal; use portfleet_password_env: VAR for automation")
        import getpass

        prompted = Secret(getpass.getpass("SSH/WinRM password: "))
    return session_factory(ConnectOptions(operation_timeout=timeout, ca_bundle=ca_bundle, prompted_password=prompted))
