"""A run as the state store keeps it: the run row first, each host's result as soon as the host is
done, the end status and summary last; plus the pending-reboot bookkeeping the comparison needs.

One host's failure is that host's result: an exception escaping one host's work (a portfleet bug
tripped by an odd answer) becomes that host's `error` row, and every other host keeps its result.

A run that writes (`leases=True`: apply, rollback) takes each host's lease before its work starts
and gives it back once the host's result is recorded; a host another run holds is not contacted
and is reported `locked`, naming the holder. While the run works its heartbeat renews its leases.
A lease whose host's work never finished (a second Ctrl-C abandons in-flight hosts, a crash, a
SIGKILL) is left to expire or to be recovered once the process is gone (state/leases.py): its
host may still be written by a thread of this process until then.

With `procs` > 1 the hosts are worked on in forked processes (worker_processes.py): each host's work and its
bookkeeping (`done` below) run there, and every store call they make is run by this process, the run's
one writer, in the same order as with threads. A worker process that dies costs its in-flight hosts an
`error` row saying so (`lost`), never a missing or doubled host.
"""

from __future__ import annotations

from contextlib import nullcontext as _no_heartbeat
from datetime import datetime
from typing import Any, Callable, Mapping

from portfleet.desired import DesiredState
from portfleet.engine import Progress, rollout
from portfleet.facts import HostFacts
from portfleet.worker_processes import WorkerProcesses
from portfleet.models import HostReport, HostStatus, RunReport, facts_json
from portfleet.settings import Value, get_setting
from portfleet.state import Heartbeat, Lease, Store
from portfleet.transport.base import TransportError
from portfleet.values import from_json

MAX_BUG_TEXT = 300  # an unexpected exception's text is cut: it may quote a host's (untrusted) output


def known_pending(store: Store, name: str, boot_time: datetime | None) -> dict[str, datetime]:
    """Settings written to `name` that still wait for a boot, after dropping those the host's last
    boot made effective (a boot after the write: DESIGN, Windows sets no flag for these). A host with nothing
    pending costs one read, not a write transaction (and, with --procs, one call to the writing process)."""
    pending = store.pending_reboots(name)
    if pending and boot_time is not None:
        store.clear_pending_reboots(name, boot_time)
        pending = store.pending_reboots(name)
    return {p.setting: p.applied_at for p in pending}


def values_in_force(store: Store, name: str, facts: HostFacts, pending: Mapping[str, datetime]) -> dict[str, Value]:
    """What Windows uses now for each of `pending` (values written since the last boot, which take
    effect at the next one): the value in force at that boot, i.e. the prior value journaled by the
    earliest write since it, or Windows' default when that prior was absent. A key with no journal
    row since the boot (a store from before the journal) is left out: the reading's own stands.
    With the boot time unknown every journal row counts, as every pending row is kept then."""
    if not pending:
        return {}
    earliest: dict[str, Any] = {}
    for entry in store.host_journal(name, facts.boot_time):
        if entry.setting in pending:
            earliest.setdefault(entry.setting, entry.prior)
    out: dict[str, Value] = {}
    for key, prior in earliest.items():
        try:
            value = from_json(prior)
        except (TypeError, ValueError, KeyError, OverflowError):  # a damaged row: say nothing rather than something wrong
            continue
        out[key] = value if value is not None else get_setting(key).default(facts)
    return out


def failure_report(plan: DesiredState, error: BaseException) -> HostReport:
    """The report of a host whose work ended in an error: its transport status, or `error`."""
    if isinstance(error, TransportError):
        return HostReport(plan.name, plan.host.address, error.host_status, str(error))
    text = f"{type(error).__name__}: {error}"[:MAX_BUG_TEXT]
    return HostReport(plan.name, plan.host.address, HostStatus.ERROR,
                      f"unexpected error while handling this host (a portfleet bug; please report it): {text}")


def locked_report(plan: DesiredState, holder: Lease) -> HostReport:
    return HostReport(plan.name, plan.host.address, HostStatus.LOCKED,
                      f"skipped: {holder.holder()} holds this host; run again when it is done")


def leased(work: Callable[[DesiredState, str], HostReport], store: Store) -> Callable[[DesiredState, str], HostReport]:
    """`work` on hosts whose lease the run took; a host held by another run is reported `locked`."""

    def run(plan: DesiredState, run_id: str) -> HostReport:
        holder = store.acquire_lease(run_id, plan.name)
        if holder is not None:
            return locked_report(plan, holder)
        return work(plan, run_id)

    return run


def record(store: Store, run_id: str, report: HostReport) -> None:
    store.record_host(run_id, report.name, str(report.status), report.detail or None, facts_json(report.facts),
                      report.state_rows())


def guarded(work: Callable[[DesiredState, str], HostReport]) -> Callable[[DesiredState, str], HostReport]:
    """`work` whose ordinary exceptions become the host's own error report (see the module doc)."""

    def run(plan: DesiredState, run_id: str) -> HostReport:
        try:
            return work(plan, run_id)
        except Exception as exc:  # noqa: BLE001 - one host's trouble must not cost the others their results
            return failure_report(plan, exc)

    return run


def recorded_rollout(
    kind: str,
    plans: list[DesiredState],
    work: Callable[[DesiredState, str], HostReport],
    *,
    store: Store,
    forks: int,
    check: bool = False,
    batch: Any = None,
    max_fail_percentage: float | None = None,
    progress: Progress | None = None,
    inventory: str | None = None,
    playbook: str | None = None,
    limit: str | None = None,
    parent_run: str | None = None,
    warnings: list[str] | None = None,
    leases: bool = False,
    procs: int = 1,
) -> RunReport:
    """`work(plan, run_id)` over the plans, kept in the store as the module doc says."""
    run_id = store.start_run(
        kind, check_mode=check, inventory=inventory, playbook=playbook, limit_pattern=limit, parent_run=parent_run
    )
    safe_work = guarded(leased(work, store) if leases else work)

    def one(plan: DesiredState) -> HostReport:
        return safe_work(plan, run_id)

    def done(plan: DesiredState, report: HostReport) -> None:
        record(store, run_id, report)
        if leases:
            store.release_lease(run_id, plan.name)  # only this run's own lease, if it holds one

    def lost(plan: DesiredState, reason: str) -> HostReport:
        report = HostReport(plan.name, plan.host.address, HostStatus.ERROR,
                            f"{reason}; what it wrote is in the journal: run `portfleet audit` to see the host")
        done(plan, report)
        return report

    # Forked before the heartbeat and the progress bar start their threads (worker_processes.py says why).
    workers = WorkerProcesses(plans, one, procs=procs, forks=forks, on_result=done, shared=[store], on_lost=lost)
    started = False
    try:
        started = procs > 1 and workers.start()
        with Heartbeat(store, run_id) if leases else _no_heartbeat():
            outcome = rollout(
                plans,
                one,
                failed=lambda r: r.failed,
                batch=batch,
                max_fail_percentage=max_fail_percentage,
                forks=forks,
                name=lambda p: p.name,
                status=lambda r: str(r.status),
                progress=progress,
                on_result=done,
                workers=workers if started else None,
            )
    except BaseException as exc:  # a bug, not a host failure: the run row must not stay "running"
        store.finish_run(run_id, "failed", {"error": f"{type(exc).__name__}: {exc}"[:500]})
        raise
    finally:
        if started:
            workers.close()
    order = {p.name: i for i, p in enumerate(plans)}
    hosts = sorted((r for _, r in outcome.results), key=lambda r: order[r.name])
    report = RunReport(
        kind,
        run_id,
        hosts,
        check_mode=check,
        stopped_reason=outcome.stopped_reason,
        skipped=[p.name for p in outcome.skipped],
        warnings=list(warnings or []),
        inventory=inventory,
        playbook=playbook,
        interrupted_by=outcome.interrupted_by,
    )
    if outcome.interrupted:
        status = "interrupted"
    elif outcome.stopped_reason:
        status = "stopped"
    else:
        status = "completed"
    store.finish_run(run_id, status, report.summary())
    return report
