"""Rollback: put back the values a run found before it wrote (absent values are deleted again)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portfleet.desired import DesiredState
from portfleet.state import Store
from portfleet.values import from_json
from portfleet.wording import article

# Journal states in which the host may have been changed: a write that was sent ("intent" with no
# outcome means the connection died mid-write) or confirmed. "failed" writes changed nothing.
MAY_HAVE_CHANGED = {"intent", "done", "verified", "unverified"}


class RollbackError(Exception):
    pass


@dataclass(frozen=True)
class RollbackTarget:
    host: str
    priors: dict[str, Any]  # catalogue key -> Value (None = absent)


def rollback_targets(store: Store, run_id: str) -> tuple[str, list[RollbackTarget]]:
    """Per host, the value each setting had before the run's FIRST write to it."""
    run = store.get_run(run_id)
    if run.kind not in ("apply", "rollback"):
        raise RollbackError(f"run {run.id} is {article(run.kind)} run: it changed nothing to roll back")
    if run.check_mode:
        raise RollbackError(f"run {run.id} was a --check run: it changed nothing to roll back")
    priors: dict[str, dict[str, Any]] = {}
    for entry in store.journal(run.id):
        if entry.state not in MAY_HAVE_CHANGED:
            continue
        priors.setdefault(entry.host, {}).setdefault(entry.setting, from_json(entry.prior))
    if not priors:
        raise RollbackError(f"run {run.id} wrote nothing: nothing to roll back")
    return run.id, [RollbackTarget(h, p) for h, p in priors.items()]


def rollback_plans(targets: list[RollbackTarget], inventory: Any) -> tuple[list[DesiredState], list[str]]:
    """Match journal hosts to the inventory (the connection details live there, not in state)."""
    by_name = {h.name: h for h in inventory.hosts}
    plans, missing = [], []
    for t in targets:
        host = by_name.get(t.host)
        if host is None:
            missing.append(t.host)
            continue
        plans.append(DesiredState(host, dict(t.priors), ("rollback",), restore=True))
    return plans, missing
