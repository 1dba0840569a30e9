"""JSON of `portfleet runs list|show`: the public schema, spelled out field by field.

Written from the state's rows but not as them: a column added to the store does not change these
documents unless it is added here (and documented in the README's JSON section).
"""

from __future__ import annotations

from typing import Any, Sequence

from portfleet.state import HostResult, JournalEntry, Lease, Run

# status may be "abandoned" (running, its controller gone); controller_host/pid are null for runs
# recorded before leases; job and shard ("K/N") null for runs started without --job/--shard.
RUN_FIELDS = ("id", "kind", "check_mode", "status", "started_at", "finished_at", "inventory", "playbook",
              "limit_pattern", "parent_run", "summary", "note", "controller_host", "controller_pid", "job", "shard")
HOST_FIELDS = ("run_id", "host", "status", "detail", "facts", "settings", "finished_at")
JOURNAL_FIELDS = ("id", "run_id", "host", "setting", "prior", "desired", "command", "state", "exit_code", "output",
                  "created_at", "updated_at")
LEASE_FIELDS = ("host", "run_id", "controller_host", "controller_pid", "acquired_at", "expires_at", "live")


def _pick(row: Any, names: Sequence[str]) -> dict[str, Any]:
    return {name: getattr(row, name) for name in names}


def runs_list_json(runs: Sequence[Run], job: str | None = None, kinds: Sequence[Any] = ()) -> dict[str, Any]:
    """{"runs": [...]}; with `job` (runs list --job) also "job": {"name", "kinds": [jobs.KindOverview]}."""
    document: dict[str, Any] = {"runs": [_pick(r, RUN_FIELDS) for r in runs]}
    if job is not None:
        document["job"] = {"name": job, "kinds": [k.to_json() for k in kinds]}
    return document


def run_show_json(run: Run, hosts: Sequence[HostResult], journal: Sequence[JournalEntry],
                  leases: Sequence[Lease] = ()) -> dict[str, Any]:
    return {
        "run": _pick(run, RUN_FIELDS),
        "hosts": [_pick(h, HOST_FIELDS) for h in hosts],
        "journal": [_pick(j, JOURNAL_FIELDS) for j in journal],
        "leases": [_pick(lease, LEASE_FIELDS) for lease in leases],
    }
