"""The values a run produces: host and setting statuses, changes, per-host and per-run reports.

Plain data with their JSON forms (the documented schemas portfleet.<kind>/1); no I/O. Statuses are
str-valued enums so that they compare equal to, and serialize as, the strings of the schemas.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from portfleet.exit_codes import EXIT_DRIFT, EXIT_FAILED, EXIT_OK
from portfleet.facts import HostFacts
from portfleet.settings import Value
from portfleet.times import iso
from portfleet.values import to_json


class HostStatus(str, Enum):
    """A host's status in a run, worst first: the order decides a host's status and the exit code."""

    UNREACHABLE = "unreachable"
    AUTH_FAILED = "auth_failed"
    ERROR = "error"
    # Another run holds the host's lease (DESIGN "Rules that matter"): skipped, not contacted. It
    # did not get its change, so it counts as failed, as Ansible counts a host it could not
    # configure: exit 4, and towards --max-fail.
    LOCKED = "locked"
    DRIFT = "drift"
    PENDING_REBOOT = "pending_reboot"
    COMPLIANT = "compliant"

    # Format and print as the plain schema string ("drift"), not "HostStatus.DRIFT".
    __str__ = str.__str__
    __format__ = str.__format__

    @property
    def failed(self) -> bool:
        return self in FAILED_STATUSES


FAILED_STATUSES = frozenset({HostStatus.UNREACHABLE, HostStatus.AUTH_FAILED, HostStatus.ERROR, HostStatus.LOCKED})
HOST_STATUSES = tuple(HostStatus)


def is_failed(status: str) -> bool:
    """True for the statuses that count as a failed host (unreachable, auth_failed, error, locked)."""
    return status in FAILED_STATUSES


@dataclass
class SettingStatus:
    """One setting of one host: what is wanted, what is set, what Windows uses, and the verdict."""

    key: str
    desired: Value
    actual: Value  # configured value as read (None: absent)
    effective: Value  # what Windows uses (the default when absent)
    status: str  # ok | drift | pending_reboot | unsupported | unreadable | invalid | unrestorable
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


def facts_json(facts: HostFacts | None) -> dict[str, Any] | None:
    if facts is None:
        return None
    out: dict[str, Any] = {}
    for f in dataclasses.fields(facts):
        value = getattr(facts, f.name)
        out[f.name] = iso(value) if isinstance(value, datetime) else value
    return out


@dataclass
class HostReport:
    name: str
    address: str
    status: str  # a HostStatus value
    detail: str = ""
    facts: HostFacts | None = None
    settings: list[SettingStatus] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return is_failed(self.status)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": self.address,
            "status": str(self.status),
            "detail": self.detail,
            "facts": facts_json(self.facts),
            "settings": [s.to_json() for s in self.settings],
            "changes": [c.to_json() for c in self.changes],
        }

    def state_rows(self) -> list[dict[str, Any]]:
        """What the state store keeps of the host's settings and changes (host_results.settings)."""
        return [s.to_json() for s in self.settings] + [{"change": c.to_json()} for c in self.changes]


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
    interrupted_by: int | None = None  # the signal that cut the run short, if one did

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {str(s): 0 for s in HOST_STATUSES}
        for h in self.hosts:
            counts[str(h.status)] = counts.get(str(h.status), 0) + 1
        counts["hosts"] = len(self.hosts)
        counts["skipped"] = len(self.skipped)
        return counts

    def exit_code(self) -> int:
        """0 compliant, 3 drift or pending, 4 a host failed or the rollout stopped (signals: the CLI)."""
        if any(h.failed for h in self.hosts) or self.stopped_reason:
            return EXIT_FAILED
        if any(h.status in (HostStatus.DRIFT, HostStatus.PENDING_REBOOT) for h in self.hosts):
            return EXIT_DRIFT
        return EXIT_OK

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
