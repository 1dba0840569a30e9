"""Which hosts need a reboot, read from the hosts themselves and from portfleet's state.

A host needs one when
* portfleet wrote a reboot-needing value (a pending_reboots row) AFTER the host's last boot: the
  boot time comes from the same batched read audit uses (Kernel-General event 12), so a row older
  than the boot is already effective (Windows sets no flag for Tcpip\\Parameters: DESIGN); or
* Windows itself says so: CBS RebootPending, WindowsUpdate RebootRequired,
  PendingFileRenameOperations (facts.windows_reboot_pending); or
* the user forces it (--all, or the hosts named by --limit).
Read-only: nothing is written to the hosts or to the state (stale rows are left for audit to clear).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

from portfleet.engine import Progress, fan_out
from portfleet.facts import HostFacts
from portfleet.desired import DesiredState
from portfleet.models import is_failed
from portfleet.read_host import HostReading, read_host
from portfleet.render import Renderer
from portfleet.state import Store, iso
from portfleet.transport.base import Session, TransportError

__all__ = ["HostNeed", "assess", "assess_host", "pending_reasons", "short_date_pattern"]

NEEDED = ("pending", "forced")


@dataclass
class HostNeed:
    name: str
    status: str  # pending | forced | not_needed | unreachable | auth_failed | error
    reasons: list[str] = field(default_factory=list)
    facts: HostFacts | None = None
    detail: str = ""
    short_date: str | None = None  # the user's sShortDate (for schtasks /sd), when read

    @property
    def needs_reboot(self) -> bool:
        return self.status in NEEDED

    @property
    def failed(self) -> bool:
        """The host could not be read (unreachable, auth_failed, error)."""
        return is_failed(self.status)

    @property
    def boot_time(self) -> datetime | None:
        return self.facts.boot_time if self.facts else None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "reasons": list(self.reasons),
            "boot_time": iso(self.boot_time) if self.boot_time else None,
            "detail": self.detail,
        }


def pending_reasons(store: Store | None, name: str, facts: HostFacts | None) -> list[str]:
    """Why the host needs a reboot: its own pending rows newer than its boot, then Windows' flags."""
    reasons: list[str] = []
    boot = facts.boot_time if facts else None
    if store is not None:
        for row in store.pending_reboots(name):
            if boot is None or row.applied_at >= boot:
                when = f"written {row.applied_at.astimezone(timezone.utc).strftime('%Y-%m-%d %H:%MZ')} by run {row.run_id}"
                suffix = "" if boot is not None else " (boot time unknown)"
                reasons.append(f"{row.setting} {when}{suffix}")
    if facts is not None:
        reasons += [f"Windows: {flag}" for flag in facts.windows_reboot_pending]
    return reasons


def short_date_pattern(found: HostReading) -> str | None:
    """The connecting user's short date format (facts.intl), which schtasks /sd follows."""
    from portfleet.parse.reg import find_value, parse_reg_query
    from portfleet.parse.sections import split_sections

    value = find_value(parse_reg_query(split_sections(found.raw.stdout).get("facts.intl")), "sShortDate")
    return value.value if value is not None and isinstance(value.value, str) else None


def assess_host(
    plan: DesiredState,
    *,
    open_session: Callable[[Any], Session],
    renderer: Renderer,
    store: Store | None,
    forced: bool = False,
) -> HostNeed:
    try:
        with open_session(plan.host) as session:
            found = read_host(session, renderer, plan.host, plan.desired)
    except TransportError as exc:
        kind = exc.host_status
        reasons = pending_reasons(store, plan.name, None)
        if forced:
            return HostNeed(plan.name, "forced", ["forced"] + reasons, None, str(exc))
        if reasons:
            # portfleet's own rows say so; the boot time could not be read to rule them out.
            return HostNeed(plan.name, "pending", reasons, None, f"not verified: {exc}")
        return HostNeed(plan.name, kind, [], None, str(exc))
    if getattr(found.facts, "platform", "windows") == "linux":
        # sysctl values are in force the moment they are written: there is nothing a reboot would
        # make effective, and the shutdown commands here are Windows'. Never forced.
        return HostNeed(plan.name, "not_needed", [], found.facts,
                        "Linux: sysctl values take effect at once; portfleet does not reboot Linux hosts")
    reasons = pending_reasons(store, plan.name, found.facts)
    if found.facts.boot_time is None:
        note = "; ".join(found.facts.notes) or "boot time unknown"
        status = "forced" if forced else ("pending" if reasons else "not_needed")
        return HostNeed(plan.name, status, (["forced"] if forced else []) + reasons, found.facts, note,
                        short_date_pattern(found))
    if forced:
        return HostNeed(plan.name, "forced", ["forced"] + reasons, found.facts, "", short_date_pattern(found))
    return HostNeed(plan.name, "pending" if reasons else "not_needed", reasons, found.facts, "",
                    short_date_pattern(found))


def assess(
    plans: Sequence[DesiredState],
    *,
    open_session: Callable[[Any], Session],
    renderer: Renderer,
    store: Store | None,
    forced: set[str] | None = None,
    forks: int = 50,
    progress: Progress | None = None,
) -> list[HostNeed]:
    """One read per host, `forks` at a time; results in the order of `plans`."""
    forced = forced or set()
    done = fan_out(
        list(plans),
        lambda p: assess_host(p, open_session=open_session, renderer=renderer, store=store, forced=p.name in forced),
        forks=forks,
        name=lambda p: p.name,
        status=lambda n: n.status,
        progress=progress,
    )
    by_name = {p.name: need for p, need in done}
    return [by_name[p.name] for p in plans]
