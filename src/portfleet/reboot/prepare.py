"""Inventory x playbook x --limit -> the hosts to reboot, their windows, the policy, a plan.

Shared by `reboot plan`, `reboot run` and `reboot schedule`, so that all three agree on who
needs a reboot, when, and by which command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from portfleet.engine import Progress
from portfleet.desired import DesiredState
from portfleet.reboot.commands import shutdown_command
from portfleet.reboot.executor import RunOptions, Target, comment_for
from portfleet.reboot.needs import HostNeed, assess
from portfleet.reboot.planner import RebootHost, RebootPlan, plan_reboots
from portfleet.reboot.policy import (
    ALWAYS,
    HostWindows,
    PlayReboot,
    PolicyInputs,
    build_policy,
    host_windows,
    play_group,
    reboot_plays,
)
from portfleet.reboot.maintenance import MaintenanceSchedule
from portfleet.render import Renderer
from portfleet.shares import Share
from portfleet.state import Store
from portfleet.transport.base import Session

__all__ = ["Prepared", "group_sizes", "groups_for", "groups_of", "load_windows", "make_plan", "prepare", "shutdown_commands"]

# Groups every host is in: a limit on them would be a fleet-wide cap, which max_parallel already is.
_IMPLICIT_GROUPS = ("all", "ungrouped")


def groups_of(host: Any) -> tuple[str, ...]:
    return tuple(sorted(g for g in host.groups if g not in _IMPLICIT_GROUPS))


def groups_for(host: Any, play: PlayReboot | None) -> tuple[str, ...]:
    """The host's groups as the planner sees them: its inventory groups and its play's group."""
    return groups_of(host) + ((play_group(play),) if play is not None else ())


def group_sizes(inventory: Any) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for h in inventory.hosts:
        for g in groups_of(h):
            sizes[g] = sizes.get(g, 0) + 1
    return sizes


def load_windows(inventory: Any, playbook: Any, plans: list[DesiredState]) -> tuple[dict[str, HostWindows], dict[str, PlayReboot | None]]:
    """Each host's windows (WindowError with file:line on the first invalid one)."""
    plays = reboot_plays(inventory, playbook, [p.name for p in plans])
    return {p.name: host_windows(p.host, plays[p.name]) for p in plans}, plays


@dataclass
class Prepared:
    plans: list[DesiredState]
    needs: list[HostNeed]
    windows: dict[str, HostWindows]
    plays: dict[str, PlayReboot | None]
    policy: PolicyInputs
    targets: dict[str, Target]  # the hosts that need (or are forced to) a reboot, in inventory order
    warnings: list[str] = field(default_factory=list)

    def need(self, name: str) -> HostNeed:
        return next(n for n in self.needs if n.name == name)


def prepare(
    inventory: Any,
    playbook: Any,
    plans: list[DesiredState],
    *,
    open_session: Callable[[Any], Session],
    renderer: Renderer,
    store: Store | None,
    forced: set[str],
    forks: int,
    max_parallel: int | None = None,
    batch: Share | int | str | None = None,
    max_unavailable: Share | int | str | None = None,
    progress: Progress | None = None,
    windows: tuple[dict[str, HostWindows], dict[str, PlayReboot | None]] | None = None,
) -> Prepared:
    host_windows_, plays = windows or load_windows(inventory, playbook, plans)
    needs = assess(plans, open_session=open_session, renderer=renderer, store=store, forced=forced, forks=forks,
                   progress=progress)
    chosen = [p for p, n in zip(plans, needs) if n.needs_reboot]
    policy = build_policy([p.host for p in chosen], plays, group_sizes(inventory), max_parallel=max_parallel,
                          batch=batch, max_unavailable=max_unavailable)
    # build_policy resolves against host.groups; keep only the named groups the planner sees.
    limits = {g: v for g, v in policy.max_unavailable.items() if g not in _IMPLICIT_GROUPS}
    policy = PolicyInputs(policy.max_parallel, policy.batch, limits, policy.notes)
    targets = {p.name: Target(p, host_windows_[p.name].schedule, groups_for(p.host, plays[p.name])) for p in chosen}
    return Prepared(plans, needs, host_windows_, plays, policy, targets, list(policy.notes))


def make_plan(targets: list[Target], now: datetime, options: RunOptions) -> RebootPlan:
    """The plan a run would follow from `now` (windows ignored with options.ignore_windows)."""
    empty = MaintenanceSchedule("UTC", ())
    hosts = [
        RebootHost(t.name, t.groups, ALWAYS if options.ignore_windows else (t.schedule or empty), options.duration)
        for t in targets
    ]
    return plan_reboots(hosts, now, options.policy())


def shutdown_commands(prepared: Prepared, renderer: Renderer, delay: int) -> dict[str, str]:
    """The exact shutdown line `reboot run` sends to each target."""
    return {
        name: shutdown_command(renderer, t.plan.host.vars, delay, comment_for(prepared.need(name).reasons))
        for name, t in prepared.targets.items()
    }
