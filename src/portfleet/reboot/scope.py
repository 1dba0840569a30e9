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

from portfleet.desired import DesiredState, build_desired
from portfleet.inventory import InventoryError, load_inventory
from portfleet.playbook import Playbook, PlaybookError, load_playbook

__all__ = ["RequestError", "Scope", "load_scope", "required"]


class RequestError(ValueError):
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


def _inventory(path: Path) -> Any:
    try:
        return load_inventory(path)
    except InventoryError as exc:
        raise RequestError(str(exc)) from None
    except FileNotFoundError:
        raise RequestError(f"{path}: no such inventory file or directory") from None


def _playbook(path: Path) -> Playbook:
    try:
        return load_playbook(path)
    except PlaybookError as exc:
        raise RequestError(str(exc)) from None
    except FileNotFoundError:
        raise RequestError(f"{path}: no such playbook file") from None


def _plays_hosts(inventory: Any, book: Playbook, limit: str | None) -> tuple[list[DesiredState], list[str]]:
    try:
        plans = build_desired(inventory, book, limit)
        for plan in plans.hosts:
            plan.host.resolve_password()  # fail fast: a missing portfleet_password_env variable
    except InventoryError as exc:
        raise RequestError(str(exc)) from None
    if not plans.hosts:
        raise RequestError(
            "no host matches both the playbook's plays and --limit "
            f"({', '.join(repr(p.hosts) for p in book.plays)}; limit {limit!r})"
        )
    return plans.hosts, plans.warnings


def load_scope(inventory: Path, playbook: Path | None, limit: str | None) -> Scope:
    """The hosts of the playbook (and --limit), or without a playbook every Windows host (and --limit)."""
    inv = _inventory(inventory)
    if playbook is not None:
        book = _playbook(playbook)
        plans, warnings = _plays_hosts(inv, book, limit)
        return Scope(inv, book, plans, warnings)
    try:
        hosts = inv.select(limit) if limit else list(inv.hosts)
    except InventoryError as exc:
        raise RequestError(str(exc)) from None
    plans = [DesiredState(h, {}, ()) for h in hosts if getattr(h, "platform", "windows") == "windows"]
    if not plans:
        raise RequestError("no Windows host in the inventory matches" + (f" --limit {limit!r}" if limit else ""))
    return Scope(inv, None, plans, [])
