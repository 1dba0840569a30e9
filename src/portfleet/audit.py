"""Audit: compare each host with its desired state, one session and one batched read per host."""

from __future__ import annotations

from typing import Any, Callable

from portfleet.compare import compare, host_status, maxuserport_note, with_note
from portfleet.desired import DesiredState
from portfleet.engine import Progress
from portfleet.models import HostReport, RunReport
from portfleet.read_host import read_host
from portfleet.render import Renderer
from portfleet.run_record import failure_report, known_pending, recorded_rollout, values_in_force
from portfleet.state import Store
from portfleet.transport.base import Session, TransportError


def audit_host(plan: DesiredState, open_session: Callable[[Any], Session], renderer: Renderer,
               store: Store | None) -> HostReport:
    try:
        with open_session(plan.host) as session:
            found = read_host(session, renderer, plan.host, plan.desired)
    except TransportError as exc:
        return failure_report(plan, exc)
    pending = known_pending(store, plan.name, found.facts.boot_time) if store is not None else {}
    in_force = values_in_force(store, plan.name, found.facts, pending) if store is not None else {}
    rows = compare(plan.desired, found, pending, in_force)
    status, detail = host_status(rows)
    detail = with_note(detail, maxuserport_note(plan.desired, found))
    return HostReport(plan.name, plan.host.address, status, detail, found.facts, rows)


def run_audit(
    plans: list[DesiredState],
    *,
    open_session: Callable[[Any], Session],
    renderer: Renderer,
    store: Store,
    forks: int,
    progress: Progress | None = None,
    inventory: str | None = None,
    playbook: str | None = None,
    limit: str | None = None,
    warnings: list[str] | None = None,
    procs: int = 1,
) -> RunReport:
    return recorded_rollout(
        "audit",
        plans,
        lambda p, run_id: audit_host(p, open_session, renderer, store),
        store=store,
        forks=forks,
        progress=progress,
        inventory=inventory,
        playbook=playbook,
        limit=limit,
        warnings=warnings,
        procs=procs,
    )
