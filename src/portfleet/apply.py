"""Apply: write only what drifts, read back and verify, journal prior values for rollback.

Per host, in one session: batched read -> compare -> for each drifting setting a journal row
(prior value + exact command) committed BEFORE the write (and, for a value that needs a reboot, its
pending-reboot row), the write, the journal row completed ->
batched read again -> verify -> host result row.
A run that writes holds each host's lease while it works on it (run_record.py); a journal intent
refused because another run took the lease over stops that host's writes (`locked`).
"""

from __future__ import annotations

from typing import Any, Callable

from portfleet.compare import compare, host_status, maxuserport_note, value_matches, with_note
from portfleet.desired import DesiredState
from portfleet.engine import Progress
from portfleet.models import Change, HostReport, HostStatus, RunReport
from portfleet.read_host import HostReading, read_host
from portfleet.render import Renderer
from portfleet.run_record import failure_report, known_pending, recorded_rollout, values_in_force
from portfleet.settings import PortRange, ReadStatus, get_setting
from portfleet.state import LeaseLost, Store
from portfleet.times import utcnow
from portfleet.transport.base import Session, TransportError
from portfleet.values import to_json

TCP_RANGES = ("dynamicport.ipv4.tcp", "dynamicport.ipv6.tcp")  # the ranges MaxUserPort rewrites at boot
# A write whose command was sent but whose answer never came (Change.state "unknown"; the journal row
# stays "intent"): the host may hold the old or the new value.
UNKNOWN_DETAIL = "the connection dropped while writing: audit it"


def render_change(renderer: Renderer, host: Any, key: str, before: Any, after: Any) -> Change:
    setting = get_setting(key)
    if after is None:
        command = renderer.unset_command(setting, host.vars)
        if command is None:
            raise ValueError(f"{key} cannot be made absent")
    else:
        command = renderer.write_command(setting, after, host.vars)
    return Change(key, before, after, command)


def _output(result: Any) -> str:
    return (result.stdout + result.stderr).strip()[:2000]


def _mark_unrestorable(plan: DesiredState, rows: list, found: HostReading) -> list:
    """Rollback: a prior value Windows will not take back is skipped so the rest is restored; the
    skipped rows are returned. A TCP range starting at 1024 that MaxUserPort produced at boot (netsh
    refuses start < 1025) is not skipped but pending_reboot when MaxUserPort is restored with it:
    Windows rebuilds exactly that range from MaxUserPort at the next boot (DESIGN "Windows facts")."""
    if not plan.restore:
        return []
    skipped = []
    for r in rows:
        if r.status != "invalid":
            continue
        rebuilt_by = _rebuilt_at_boot_by(plan, r, found)
        if rebuilt_by is not None:
            r.status = "pending_reboot"
            r.detail = (f"netsh takes no range starting at 1024; MaxUserPort {rebuilt_by} puts this one back at the "
                        f"next boot (Windows sets the TCP range to 1024-{rebuilt_by} at every boot)")
        else:
            r.status = "unrestorable"
            skipped.append(r)
    return skipped


def _rebuilt_at_boot_by(plan: DesiredState, row: Any, found: HostReading) -> int | None:
    """The MaxUserPort value (restored by this plan, or already on the host) from which Windows makes
    the prior range `row.desired` at boot on Vista+: start=1024, num=MaxUserPort-1023; else None."""
    wanted = row.desired
    if row.key not in TCP_RANGES or not isinstance(wanted, PortRange) or found.facts.is_legacy:
        return None
    if "MaxUserPort" in plan.desired:
        mup = plan.desired["MaxUserPort"]
    else:
        reading = found.readings.get("MaxUserPort")
        mup = reading.value if reading is not None and reading.status == ReadStatus.VALUE else None
    if not isinstance(mup, int) or isinstance(mup, PortRange):
        return None
    return mup if (wanted.start, wanted.num) == (1024, mup - 1023) else None


def _report_unrestorable(report: HostReport, skipped: list) -> None:
    if skipped:
        report.status = HostStatus.ERROR
        note = "; ".join(f"{r.key}: prior value cannot be written back ({r.detail})" for r in skipped)
        report.detail = f"{report.detail}; {note}" if report.detail else note


def _compare(plan: DesiredState, found: HostReading, store: Store) -> list:
    pending = known_pending(store, plan.name, found.facts.boot_time)
    return compare(plan.desired, found, pending, values_in_force(store, plan.name, found.facts, pending))


def _mark_pending_before_write(store: Store, name: str, key: str, run_id: str) -> Callable[[], None]:
    """Record a reboot-needing write as pending BEFORE it is sent, so a write whose answer never
    comes (a dropped connection, a SIGKILL) is still known to wait for a boot; returns the undo for
    a write Windows refused (the pending row the setting had before, or none)."""
    before = next((p for p in store.pending_reboots(name) if p.setting == key), None)
    store.mark_pending_reboot(name, key, utcnow(), run_id)
    if before is None:
        return lambda: store.unmark_pending_reboot(name, key)
    return lambda: store.mark_pending_reboot(name, key, before.applied_at, before.run_id)


def converge_host(
    plan: DesiredState,
    *,
    open_session: Callable[[Any], Session],
    renderer: Renderer,
    store: Store,
    run_id: str,
    check: bool,
) -> HostReport:
    """Bring one host to plan.desired (None = absent); used by apply and by rollback."""
    host = plan.host
    report = HostReport(plan.name, host.address, HostStatus.ERROR)
    try:
        with open_session(host) as session:
            found = read_host(session, renderer, host, plan.desired)
            rows = _compare(plan, found, store)
            report.facts, report.settings = found.facts, rows
            unrestorable = _mark_unrestorable(plan, rows, found)
            note = maxuserport_note(plan.desired, found)
            status, detail = host_status(rows)
            if status == HostStatus.ERROR:
                report.status, report.detail = status, detail
                return report
            drift = [r for r in rows if r.status == "drift"]
            report.changes = [render_change(renderer, host, r.key, r.actual, r.desired) for r in drift]
            if check or not drift:
                report.status, report.detail = status, with_note(detail, note)
                _report_unrestorable(report, unrestorable)
                return report

            write_error = None
            in_flight: Change | None = None
            try:
                for change in report.changes:
                    setting = get_setting(change.key)
                    entry = change.journal_id = store.journal_intent(
                        run_id, plan.name, change.key, to_json(change.before), to_json(change.after), change.command
                    )
                    undo_pending = (_mark_pending_before_write(store, plan.name, change.key, run_id)
                                    if setting.needs_reboot else None)
                    in_flight = change
                    result = session.run(change.command)
                    in_flight = None
                    if result.exit_code != 0:
                        store.journal_update(entry, "failed", result.exit_code, _output(result))
                        if undo_pending is not None:
                            undo_pending()  # Windows refused it: nothing changed, nothing waits for a boot
                        change.state, change.detail = "failed", f"exit {result.exit_code}: {_output(result)}"
                        write_error = f"{change.key}: write failed ({change.detail})"
                        break
                    store.journal_update(entry, "done", result.exit_code, _output(result))
                    change.state = "done"
            except LeaseLost as lost:
                report.status = HostStatus.LOCKED
                report.detail = f"stopped before writing {change.key}: {lost}"
                for change in report.changes:
                    if change.state == "planned":
                        change.state, change.detail = "skipped", "not written: the host's lease was lost"
                return report
            except TransportError as exc:
                if in_flight is not None:
                    # The command was sent and its answer lost: the host may hold either value. The
                    # journal keeps the row as `intent` (rollback restores it); the report says so.
                    in_flight.state = "unknown"
                    in_flight.detail = UNKNOWN_DETAIL
                for change in report.changes:
                    if change.state == "planned":
                        change.state, change.detail = "skipped", "not written: the connection dropped before it"
                report.status = HostStatus.ERROR
                report.detail = f"{exc} (during writes; run `portfleet audit` to see what is set)"
                return report
            for change in report.changes:
                if change.state == "planned":
                    change.state, change.detail = "skipped", "not written: an earlier write on this host failed"

            # Read back in the same session and verify what was written.
            after = read_host(session, renderer, host, plan.desired)
            rows = _compare(plan, after, store)
            _mark_unrestorable(plan, rows, after)
            report.facts, report.settings = after.facts, rows
            by_key = {r.key: r for r in rows}
            unverified = []
            for change in report.changes:
                if change.state != "done":
                    continue
                reading = after.readings[change.key]
                ok = value_matches(change.key, change.after, reading, after.facts)
                change.state = "verified" if ok else "unverified"
                assert change.journal_id is not None
                store.journal_update(change.journal_id, change.state)
                if not ok:
                    change.detail = f"read back {by_key[change.key].actual!r}, expected {change.after!r}"
                    unverified.append(change.key)
            status, detail = host_status(rows)
            if write_error or unverified:
                report.status = HostStatus.ERROR
                report.detail = write_error or f"verify failed for {', '.join(unverified)}"
            else:
                report.status, report.detail = status, with_note(detail, note)
            _report_unrestorable(report, unrestorable)
            return report
    except TransportError as exc:
        failed = failure_report(plan, exc)
        failed.settings, failed.changes = report.settings, report.changes
        return failed


def run_converge(
    kind: str,
    plans: list[DesiredState],
    *,
    open_session: Callable[[Any], Session],
    renderer: Renderer,
    store: Store,
    check: bool,
    forks: int,
    batch: int | str | None = None,
    max_fail_percentage: float | None = None,
    progress: Progress | None = None,
    inventory: str | None = None,
    playbook: str | None = None,
    limit: str | None = None,
    parent_run: str | None = None,
    warnings: list[str] | None = None,
    procs: int = 1,
) -> RunReport:
    return recorded_rollout(
        kind,
        plans,
        lambda p, run_id: converge_host(
            p, open_session=open_session, renderer=renderer, store=store, run_id=run_id, check=check
        ),
        store=store,
        forks=forks,
        check=check,
        batch=batch,
        max_fail_percentage=max_fail_percentage,
        progress=progress,
        inventory=inventory,
        playbook=playbook,
        limit=limit,
        parent_run=parent_run,
        warnings=warnings,
        leases=not check,  # --check writes nothing: it takes no lease and is never locked out
        procs=procs,
    )
