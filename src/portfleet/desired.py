"""Inventory x playbook x --limit -> what each host should look like (one DesiredState per host).

Desired state, not a schedule: the reboot schedule is reboot/planner.py's RebootPlan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from portfleet.inventory import PatternError
from portfleet.inventory.patterns import evaluate
from portfleet.settings import CATALOGUE, Value


@dataclass(frozen=True)
class DesiredState:
    host: Any  # portfleet.inventory.Host
    desired: dict[str, Value]  # catalogue key -> value, catalogue order
    plays: tuple[str, ...]
    rollout: Any = None  # the Rollout of the last play naming this host
    restore: bool = False  # rollback: a prior value that cannot be written is skipped, not fatal

    @property
    def name(self) -> str:
        return self.host.name


@dataclass
class DesiredStates:
    hosts: list[DesiredState] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def build_desired(inventory: Any, playbook: Any, limit: str | None = None) -> DesiredStates:
    """Later plays override earlier ones for the same setting, as later tasks would in Ansible."""
    allowed: set[str] | None = None
    if limit:
        allowed = {h.name for h in inventory.select(limit)}
    desired: dict[str, dict[str, Value]] = {}
    plays: dict[str, list[str]] = {}
    rollouts: dict[str, Any] = {}
    out = DesiredStates(warnings=list(getattr(playbook, "warnings", [])))
    for play in playbook.plays:
        try:
            matched = evaluate(inventory, play.hosts, lenient_exclusions=True)
        except PatternError as exc:  # a play that matches nothing is a warning, as in Ansible
            out.warnings.append(f"play {play.name!r}: {exc}")
            continue
        if not matched:
            out.warnings.append(f"play {play.name!r}: hosts {play.hosts!r} match no host of this inventory")
            continue
        for host in matched:
            if allowed is not None and host.name not in allowed:
                continue
            desired.setdefault(host.name, {}).update(play.settings)
            plays.setdefault(host.name, []).append(play.name)
            rollouts[host.name] = play.rollout
    order = list(CATALOGUE)
    for host in inventory.hosts:
        if host.name in desired:
            values = desired[host.name]
            ordered = {k: values[k] for k in sorted(values, key=order.index)}
            out.hosts.append(DesiredState(host, ordered, tuple(plays[host.name]), rollouts.get(host.name)))
    return out
