"""Which hosts a reboot command is about: inventory x playbook (optional) x --limit.

With a playbook, the hosts its plays name (and --limit narrows); without one (`reboot status`,
`reboot cancel`), every Windows host of the inventory. Bad input (a missing option, a file that does
not load, a pattern that matches nothing) is a RequestError whose text is what the user is told;
the CLI exits 2 with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portfleet.desired import DesiredState
from portfleet.inputs import InputError, check_hosts, desired_input, inventory_input, playbook_input, select_hosts
from portfleet.playbook import Playbook

__all__ = ["RequestError", "Scope", "load_scope", "required"]


class RequestError(InputError):
    """Bad input to a reboot command; the message is complete (file:line where there is one)."""


@dataclass
class Scope:
    inventory: Any  # portfleet.inventory.Inventory
    playbook: Playbook | None
    plans: list[DesiredState]
    warnings: list[str] = field(default_factory=list)


def required(value: Path | None, flag: str, what: str) -> Path:
    """The value of an option a command cannot do without."""
    if value is None:
        raise RequestError(f"missing option {flag}: {what}")
    return value


def load_scope(inventory: Path, playbook: Path | None, limit: str | None, vault: Any = None) -> Scope:
    """The hosts of the playbook (and --limit), or without a playbook every Windows host (and --limit).
    `vault`: the run's vault passwords (None: the ANSIBLE_VAULT_* variables' only)."""
    try:
        inv = inventory_input(inventory, vault)
        if playbook is not None:
            book = playbook_input(playbook)
            desired = desired_input(inv, book, limit)
            return Scope(inv, book, desired.hosts, desired.warnings)
        hosts = [h for h in select_hosts(inv, limit) if getattr(h, "platform", "windows") == "windows"]
        check_hosts(hosts)
    except InputError as exc:
        raise RequestError(str(exc)) from None
    if not hosts:
        raise RequestError("no Windows host in the inventory matches" + (f" --limit {limit!r}" if limit else ""))
    return Scope(inv, None, [DesiredState(h, {}, ()) for h in hosts], [])
