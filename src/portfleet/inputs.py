"""The user's input files for an operation, loaded and checked before any host is contacted.

Inventory (with the run's vault passwords), playbook, and the desired state of each selected host;
every host's templated/vaulted connection vars and password evaluated now, so that a bad template,
a vault value that will not decrypt or a missing portfleet_password_env is an InputError with its
file:line up front, never a failure in the middle of a run. The CLI turns InputError into exit 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from portfleet.desired import DesiredStates, build_desired
from portfleet.inventory import InventoryError, load_inventory
from portfleet.playbook import Playbook, PlaybookError, load_playbook
from portfleet.transport.tls_checks import CaPathError, check_host_ca


class InputError(ValueError):
    """Bad input; the message is complete (file:line where there is one) and holds no secret."""


def inventory_input(path: Path, vault: Any = None) -> Any:
    try:
        return load_inventory(path, vault)
    except InventoryError as exc:
        raise InputError(str(exc)) from None
    except FileNotFoundError:
        raise InputError(f"{path}: no such inventory file or directory") from None


def playbook_input(path: Path) -> Playbook:
    try:
        return load_playbook(path)
    except PlaybookError as exc:
        raise InputError(str(exc)) from None
    except FileNotFoundError:
        raise InputError(f"{path}: no such playbook file") from None


def check_hosts(hosts: Iterable[Any]) -> None:
    """Each host's address, user, port and password evaluated now (see the module doc), and the CA bundle it
    names found (transport/tls_checks.py)."""
    try:
        for host in hosts:
            host.check()
            host.resolve_password()
            check_host_ca(host)
    except (InventoryError, CaPathError) as exc:
        raise InputError(str(exc)) from None


def desired_input(inventory: Any, playbook: Playbook, limit: str | None) -> DesiredStates:
    """The hosts the plays name (and --limit narrows), each checked; none at all is an error."""
    try:
        plans = build_desired(inventory, playbook, limit)
    except InventoryError as exc:
        raise InputError(str(exc)) from None
    check_hosts(p.host for p in plans.hosts)
    if not plans.hosts:
        raise InputError(
            "no host matches both the playbook's plays and --limit "
            f"({', '.join(repr(p.hosts) for p in playbook.plays)}; limit {limit!r})"
        )
    return plans


def select_hosts(inventory: Any, limit: str | None) -> list[Any]:
    """The inventory's hosts narrowed by --limit (all of them without one)."""
    try:
        return inventory.select(limit) if limit else list(inventory.hosts)
    except InventoryError as exc:
        raise InputError(str(exc)) from None
