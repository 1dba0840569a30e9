"""What several `portfleet reboot` commands print alike: warnings, the plan's tables and summary line."""

from __future__ import annotations

from typing import Any

from portfleet.cli import common as c


def warn(warnings: list[str]) -> None:
    for w in warnings:
        c.err.print(f"[yellow]warning:[/yellow] {w}", soft_wrap=True, markup=True)


def print_all(*renderables: Any) -> None:
    for r in renderables:
        c.out.print(r)


def plan_summary(planned: Any) -> str:
    """'6 host(s) in 3 batch(es); 1 not schedulable; 2 need no reboot; 1 could not be read'."""
    prepared, plan = planned.prepared, planned.plan
    not_needed = sum(1 for n in prepared.needs if n.status == "not_needed")
    bad = len(planned.unread)
    parts = [f"{len(plan.hosts)} host(s) in {len(plan.batches)} batch(es)"]
    if plan.unschedulable:
        parts.append(f"{len(plan.unschedulable)} not schedulable")
    parts.append(f"{not_needed} need no reboot")
    if bad:
        parts.append(f"{bad} could not be read")
    return "; ".join(parts)


def plan_document(planned: Any) -> dict[str, Any]:
    """The portfleet.reboot-plan/1 document of a PlanResult."""
    from portfleet.report.reboot_json import plan_json

    return plan_json(planned.prepared, planned.plan, planned.options, planned.commands,
                     inventory=planned.inventory, playbook=planned.playbook)


def print_plan(planned: Any, *, show_commands: bool = True) -> None:
    from portfleet.cli.render.reboot_tables import plan_tables

    print_all(*plan_tables(planned.prepared, planned.plan, planned.commands, show_commands=show_commands))
