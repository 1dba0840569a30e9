"""Rollback: put back the values a run found before it wrote (absent values are deleted again).

A run still in progress is not rolled back (it would leave hosts half restored as it goes on
writing): one recorded as running whose controller is alive, or one still holding a live lease.
A run whose process died (abandoned) is rolled back, its dead leases recovered by the rollback.

A sliced job (`--job NAME`) is rolled back as one: every apply run of the job (each shard's, and
each retry of a shard, a SIGKILLed one included), oldest first, so each host/setting gets the value
it had before the job's FIRST write to it, in one rollback run labelled with the job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portfleet.desired import DesiredState
from portfleet.state import StateError, Store
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
    refuse_live(store, run)
    targets = _first_priors(store, [run])
    if not targets:
        raise RollbackError(f"run {run.id} wrote nothing: nothing to roll back")
    return run.id, targets


def job_rollback_targets(store: Store, job: str, shard: str | None = None) -> tuple[list[Any], list[RollbackTarget]]:
    """The apply runs of `job` (of one shard: `shard`), oldest first, and per host the value each
    setting had before the job's first write to it."""
    found = [r for r in store.job_runs(job, kinds=("apply",)) if not r.check_mode]
    if shard is not None:
        found = [r for r in found if r.shard == shard]
    where = f"job {job!r}" + (f" shard {shard}" if shard else "")
    if not found:
        raise RollbackError(f"{where} has no apply run to roll back (see `portfleet runs list --job {job}`)")
    for run in found:
        refuse_live(store, run)
    targets = _first_priors(store, found)
    if not targets:
        raise RollbackError(f"the apply runs of {where} wrote nothing: nothing to roll back")
    return found, targets


def _first_priors(store: Store, runs: list[Any]) -> list[RollbackTarget]:
    priors: dict[str, dict[str, Any]] = {}
    for run in runs:
        for entry in store.journal(run.id):
            if entry.state not in MAY_HAVE_CHANGED:
                continue
            if entry.setting not in priors.get(entry.host, {}):
                priors.setdefault(entry.host, {})[entry.setting] = _prior(entry)
    return [RollbackTarget(h, p) for h, p in priors.items()]


def _prior(entry: Any) -> Any:
    """A journal row's prior value as a setting value; a damaged row is a StateError naming it."""
    try:
        return from_json(entry.prior)
    except (TypeError, ValueError, KeyError, OverflowError):
        raise StateError(f"the state database is damaged: journal row {entry.id} ({entry.host} {entry.setting}) "
                         f"holds a prior value that is not a setting value: {str(entry.prior)[:60]!r}") from None


def refuse_live(store: Store, run: Any) -> None:
    live = [lease for lease in store.leases(run.id) if lease.live]
    if store.run_alive(run) and run.controller_host is not None:
        raise RollbackError(
            f"run {run.id} is still in progress (controller {run.controller_host}, pid {run.controller_pid}): "
            "let it finish, or stop it (Ctrl-C), then roll it back"
        )
    if live:
        hosts = ", ".join(lease.host for lease in live[:5]) + (" ..." if len(live) > 5 else "")
        raise RollbackError(
            f"run {run.id} still holds live leases on {hosts} (controller {live[0].controller_host}, "
            f"pid {live[0].controller_pid}): it is still writing; roll it back once it is done"
        )


def recover_leases(store: Store, run_id: str) -> int:
    """Drop the leases the run being rolled back left behind (all dead: refuse_live checked), those
    of hosts it never wrote included, so nothing names it as a holder any more."""
    return store.release_lease(run_id)


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
