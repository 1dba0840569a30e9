"""Audit: compare each host with its plan, one session and one batched read per host."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from portfleet.engine import Progress, rollout
from portfleet.facts import HostFacts
from portfleet.plan import HostPlan
from portfleet.probe import Probe, probe
from portfleet.render import Renderer
from portfleet.settings import Reading, ReadStatus, SettingError, Value, get_setting
from portfleet.state import Store, iso
from portfleet.transport.base import Session, TransportError
from portfleet.values import to_json

# Host statuses, worst first: the order decides a host's status and the exit code.
FAILED_STATUSES = ("unreachable", "auth_failed", "error")
HOST_STATUSES = (*FAILED_STATUSES, "drift", "pending_reboot", "compliant")


@dataclass
class SettingStatus:
    key: str
    desired: Value
    actual: Value  # configured value as read (None: absent)
    effective: Value  # what Windows uses (the default when absent)
    status: str  # ok | drift | pending_reboot | unsupported | unreadable | invalid
    needs_reboot: bool
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "desired": to_json(self.desired),
            "actual": to_json(self.actual),
            "effective": to_json(self.effective),
            "status": self.status,
            "needs_reboot": self.needs_reboot,
            "detail": self.detail,
        }


@dataclass
class Change:
    """One write (apply) or restore (rollback) on one host."""

    key: str
    before: Value
    after: Value
    command: str
    state: str = "planned"  # planned | done | failed | verified | unverified | skipped
    detail: str = ""
    journal_id: int | None = None  # the state journal row of this write, once intended

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "before": to_json(self.before),
            "after": to_json(self.after),
            "command": self.command,
            "state": self.state,
            "detail": self.detail,
        }


@dataclass
class HostReport:
    name: str
    address: str
    status: str
    detail: str = ""
    facts: HostFacts | None = None
    settings: list[SettingStatus] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": self.address,
            "status": self.status,
            "detail": self.detail,
            "facts": facts_json(self.facts),
            "settings": [s.to_json() for s in self.settings],
            "changes": [c.to_json() for c in self.changes],
        }


def facts_json(facts: HostFacts | None) -> dict[str, Any] | None:
    if facts is None:
        return None
    out: dict[str, Any] = {}
    for f in dataclasses.fields(facts):
        value = getattr(facts, f.name)
        out[f.name] = iso(value) if isinstance(value, datetime) else value
    return out


def failure_report(plan: HostPlan, error: TransportError | Exception) -> HostReport:
    if isinstance(error, TransportError):
        return HostReport(plan.name, plan.host.address, error.host_status, str(error))
    return HostReport(plan.name, plan.host.address, "error", f"{type(error).__name__}: {error}")


def evaluate(plan: HostPlan, found: Probe, store: Store | None) -> list[SettingStatus]:
    """Compare as integers; a matching reboot-needing value is pending until a later boot."""
    facts = found.facts
    pending: dict[str, datetime] = {}
    if store is not None:
        if facts.boot_time is not None:
            # A boot after the write made it effective (DESIGN: portfleet tracks this itself,
            # Windows sets no flag for Tcpip\Parameters).
            store.clear_pending_reboots(plan.name, facts.boot_time)
        pending = {p.setting: p.applied_at for p in store.pending_reboots(plan.name)}
    rows: list[SettingStatus] = []
    for key, desired in plan.desired.items():
        setting = get_setting(key)
        reading: Reading = found.readings[key]
        row = SettingStatus(key, desired, reading.value, reading.effective, "ok", setting.needs_reboot, reading.detail)
        if reading.status == ReadStatus.UNSUPPORTED:
            row.status = "unsupported"
            row.detail = reading.detail or f"this host ({facts.os_version or 'unknown version'}) has no such setting"
        elif reading.status == ReadStatus.UNPARSABLE:
            row.status = "unreadable"
        else:
            try:
                matched = value_matches(key, desired, reading, facts)
            except SettingError as exc:
                row.status, row.detail = "invalid", str(exc)
            else:
                if not matched:
                    row.status = "drift"
                elif setting.needs_reboot and key in pending:
                    row.status = "pending_reboot"
                    booted = iso(facts.boot_time) if facts.boot_time else "(unknown)"
                    row.detail = f"written {iso(pending[key])}, host last booted {booted}"
        rows.append(row)
    return rows


def value_matches(key: str, desired: Value, reading: Reading, facts: HostFacts) -> bool:
    """None as a desired value means "absent" (a rollback to a value that never existed)."""
    if desired is None:
        return reading.status == ReadStatus.ABSENT
    setting = get_setting(key)
    setting.validate(desired, facts)
    return setting.matches(desired, reading)


def maxuserport_note(plan: HostPlan, found: Probe) -> str | None:
    """DESIGN: on Vista+ a MaxUserPort value resets the TCP range at every boot, overriding netsh."""
    reading = found.readings.get("MaxUserPort")
    if (
        "MaxUserPort" in plan.desired
        or reading is None
        or reading.status != ReadStatus.VALUE
        or found.facts.is_legacy
        or not any(k.startswith("dynamicport.") and k.endswith(".tcp") for k in plan.desired)
    ):
        return None
    value = reading.value
    return (
        f"MaxUserPort={value} is set: at every boot Windows resets the TCP range to 1024-{value}, "
        "overriding netsh; add 'MaxUserPort: null' to the play to delete it"
    )


def with_note(detail: str, note: str | None) -> str:
    if not note:
        return detail
    return f"{detail}; {note}" if detail else note


def host_status(rows: list[SettingStatus]) -> tuple[str, str]:
    bad = [r for r in rows if r.status in ("unreadable", "invalid")]
    if bad:
        return "error", "; ".join(f"{r.key}: {r.status} {r.detail}".strip() for r in bad)
    if any(r.status == "drift" for r in rows):
        return "drift", ""
    if any(r.status == "pending_reboot" for r in rows):
        return "pending_reboot", "reboot needed for the new values to take effect"
    return "compliant", ""


def audit_host(plan: HostPlan, open_session: Callable[[Any], Session], renderer: Renderer, store: Store | None) -> HostReport:
    try:
        with open_session(plan.host) as session:
            found = probe(session, renderer, plan.host, plan.desired)
    except TransportError as exc:
        return failure_report(plan, exc)
    rows = evaluate(plan, found, store)
    status, detail = host_status(rows)
    detail = with_note(detail, maxuserport_note(plan, found))
    return HostReport(plan.name, plan.host.address, status, detail, found.facts, rows)


@dataclass
class RunReport:
    kind: str
    run_id: str | None
    hosts: list[HostReport]
    check_mode: bool = False
    stopped_reason: str | None = None
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    inventory: str | None = None
    playbook: str | None = None

    def summary(self) -> dict[str, int]:
        counts = {s: 0 for s in HOST_STATUSES}
        for h in self.hosts:
            counts[h.status] = counts.get(h.status, 0) + 1
        counts["hosts"] = len(self.hosts)
        counts["skipped"] = len(self.skipped)
        return counts

    def exit_code(self) -> int:
        s = self.summary()
        if any(s[k] for k in FAILED_STATUSES) or self.stopped_reason:
            return 4
        if s["drift"] or s["pending_reboot"]:
            return 3
        return 0

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": f"portfleet.{self.kind}/1",
            "run_id": self.run_id,
            "check_mode": self.check_mode,
            "inventory": self.inventory,
            "playbook": self.playbook,
            "hosts": [h.to_json() for h in self.hosts],
            "skipped": self.skipped,
            "stopped_reason": self.stopped_reason,
            "warnings": self.warnings,
            "summary": self.summary(),
        }


def record(store: Store, run_id: str, report: HostReport) -> None:
    store.record_host(
        run_id,
        report.name,
        report.status,
        report.detail or None,
        facts_json(report.facts),
        [s.to_json() for s in report.settings] + [{"change": c.to_json()} for c in report.changes],
    )


def recorded_rollout(
    kind: str,
    plans: list[HostPlan],
    work: Callable[[HostPlan, str], HostReport],
    *,
    store: Store,
    forks: int,
    check: bool = False,
    batch: int | str | None = None,
    max_fail_percentage: float | None = None,
    progress: Progress | None = None,
    inventory: str | None = None,
    playbook: str | None = None,
    limit: str | None = None,
    parent_run: str | None = None,
    warnings: list[str] | None = None,
) -> RunReport:
    """`work(plan, run_id)` over the plans as the state store keeps a run: the run row first, each
    host's result row as soon as the host is done, the end status and summary last."""
    run_id = store.start_run(
        kind, check_mode=check, inventory=inventory, playbook=playbook, limit_pattern=limit, parent_run=parent_run
    )
    try:
        outcome = rollout(
            plans,
            lambda p: work(p, run_id),
            failed=lambda r: r.failed,
            batch=batch,
            max_fail_percentage=max_fail_percentage,
            forks=forks,
            name=lambda p: p.name,
            status=lambda r: r.status,
            progress=progress,
            on_result=lambda p, r: record(store, run_id, r),
        )
    except BaseException as exc:  # a bug, not a host failure: the run row must not stay "running"
        store.finish_run(run_id, "failed", {"error": f"{type(exc).__name__}: {exc}"[:500]})
        raise
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
    )
    if outcome.interrupted:
        status = "interrupted"
    elif outcome.stopped_reason:
        status = "stopped"
    else:
        status = "completed"
    store.finish_run(run_id, status, report.summary())
    return report


def run_audit(
    plans: list[HostPlan],
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
    )
