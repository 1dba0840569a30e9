"""JSON documents of `portfleet reboot` (stable schemas, no decoration).

Schemas: portfleet.reboot-plan/1, portfleet.reboot-run/1, portfleet.reboot-schedule/1,
portfleet.reboot-status/1, portfleet.reboot-cancel/1; each one object with a `hosts` list and a
`summary`. Times are UTC ISO 8601 ('Z'); each host's window is also given in its own zone.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Sequence

from portfleet.reboot.executor import RunOptions, RunOutcome
from portfleet.reboot.tasks import CancelResult, ScheduleItem, StatusRow
from portfleet.reboot.planner import RebootPlan
from portfleet.reboot.prepare import Prepared

__all__ = ["cancel_json", "plan_json", "run_json", "schedule_json", "status_json"]


def _z(t: datetime | None) -> str | None:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if t else None



def plan_json(
    prepared: Prepared,
    plan: RebootPlan,
    options: RunOptions,
    commands: dict[str, str],
    *,
    inventory: str | None,
    playbook: str | None,
    kind: str = "reboot-plan",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    batch_of = {m.name: (b, m) for b in plan.batches for m in b.members}
    unschedulable = {u.name: u.reason for u in plan.unschedulable}
    hosts = []
    counts = {"planned": 0, "not_needed": 0, "unschedulable": 0, "unreachable": 0, "auth_failed": 0, "error": 0}
    for need in prepared.needs:
        entry = need.to_json()
        windows = prepared.windows.get(need.name)
        entry["windows_source"] = windows.source if windows else ""
        entry["timezone"] = windows.schedule.tz if windows and windows.schedule else None
        if need.name in batch_of:
            b, m = batch_of[need.name]
            entry.update(
                status="planned",
                need=need.status,
                batch=b.number,
                start=_z(b.start),
                latest_safe_start=_z(b.latest_safe_start),
                window={
                    "start": _z(m.window.start),
                    "end": _z(m.window.end),
                    "local_start": m.window.local_start.isoformat(),
                    "local_end": m.window.local_end.isoformat(),
                    "tz": m.window.tz,
                    "spec": m.window.spec,
                },
                command=commands.get(need.name),
            )
        elif need.name in unschedulable:
            entry.update(status="unschedulable", need=need.status, detail=unschedulable[need.name],
                         command=commands.get(need.name))
        else:
            entry["need"] = need.status
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
        hosts.append(entry)
    data = plan.to_dict()
    doc = {
        "schema": f"portfleet.{kind}/1",
        "now": data["now"],
        "check_mode": True,
        "inventory": inventory,
        "playbook": playbook,
        "policy": {
            "max_parallel": options.max_parallel,
            "batch": options.batch,
            "max_unavailable": options.max_unavailable,
            "ignore_windows": options.ignore_windows,
            "estimated_duration_s": int(options.duration.total_seconds()),
            "delay_s": options.delay,
        },
        "hosts": hosts,
        "batches": data["batches"],
        "unschedulable": data["unschedulable"],
        "warnings": list(prepared.warnings),
        "summary": {"hosts": len(hosts), **counts, "batches": len(plan.batches)},
    }
    if extra:
        doc.update(extra)
    return doc



def run_json(outcome: RunOutcome, options: RunOptions, *, inventory: str | None, playbook: str | None,
             resumed: bool, check: bool = False) -> dict[str, Any]:
    counts = outcome.counts()
    return {
        "schema": "portfleet.reboot-run/1",
        "run_id": outcome.run_id,
        "resumed": resumed,
        "check_mode": check,
        "inventory": inventory,
        "playbook": playbook,
        "options": options.to_json(),
        "hosts": [h.to_json() for h in outcome.hosts],
        "stopped_reason": outcome.stopped_reason,
        "status": outcome.status,
        "summary": {"hosts": len(outcome.hosts), "batches": outcome.batches_run, **counts},
    }



def schedule_json(items: Sequence[ScheduleItem], plan_doc: dict[str, Any], check: bool) -> dict[str, Any]:
    doc = dict(plan_doc)
    doc["schema"] = "portfleet.reboot-schedule/1"
    doc["check_mode"] = check
    doc["tasks"] = [i.to_json() for i in items]
    summary = dict(doc.get("summary", {}))
    summary["tasks_created"] = sum(1 for i in items if i.state == "created")
    summary["tasks_failed"] = sum(1 for i in items if i.state == "failed")
    doc["summary"] = summary
    return doc



def status_json(rows: Sequence[StatusRow]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.state] = counts.get(r.state, 0) + 1
    return {"schema": "portfleet.reboot-status/1", "hosts": [r.to_json() for r in rows],
            "summary": {"hosts": len(rows), **counts}}



def cancel_json(results: Sequence[CancelResult], check: bool) -> dict[str, Any]:
    return {
        "schema": "portfleet.reboot-cancel/1",
        "check_mode": check,
        "hosts": [r.to_json() for r in results],
        "summary": {
            "hosts": len(results),
            "tasks_deleted": sum(1 for r in results if r.task == "deleted"),
            "shutdowns_aborted": sum(1 for r in results if r.shutdown == "aborted"),
            "failed": sum(1 for r in results if r.failed),
        },
    }

