"""The drift check: desired values against what a host read back. Pure: no I/O, no state.

Values are compared as integers (ranges as start/num), never as text. A reboot-needing value that
matches is still `pending_reboot` while the caller's record says it was written after the host's
last boot (Windows sets no flag for Tcpip\\Parameters: DESIGN "Windows facts"); its `effective`
is then the value the caller says is in force until the next boot.
"""

from __future__ import annotations

from datetime import datetime
from typing import Mapping

from portfleet.facts import HostFacts
from portfleet.models import HostStatus, SettingStatus
from portfleet.read_host import HostReading
from portfleet.settings import Reading, ReadStatus, SettingError, Value, get_setting
from portfleet.times import iso


def compare(
    desired: Mapping[str, Value], found: HostReading, pending: Mapping[str, datetime],
    in_force: Mapping[str, Value] | None = None,
) -> list[SettingStatus]:
    """One SettingStatus per desired key; `pending` maps keys written since the last boot to the write
    time, `in_force` (the caller's record) what Windows uses for them until the next boot: the
    `effective` of a pending_reboot row is that, not the value just written."""
    facts = found.facts
    rows: list[SettingStatus] = []
    for key, wanted in desired.items():
        setting = get_setting(key)
        reading: Reading = found.readings[key]
        row = SettingStatus(key, wanted, reading.value, reading.effective, "ok", setting.needs_reboot, reading.detail)
        if reading.status == ReadStatus.UNSUPPORTED:
            row.status = "unsupported"
            row.detail = reading.detail or f"this host ({facts.os_version or 'unknown version'}) has no such setting"
        elif reading.status == ReadStatus.UNPARSABLE:
            row.status = "unreadable"
        else:
            try:
                matched = value_matches(key, wanted, reading, facts)
            except SettingError as exc:
                row.status, row.detail = "invalid", str(exc)
            else:
                if not matched:
                    row.status = "drift"
                elif setting.needs_reboot and key in pending:
                    row.status = "pending_reboot"
                    booted = iso(facts.boot_time) if facts.boot_time else "(unknown)"
                    row.detail = f"written {iso(pending[key])}, host last booted {booted}"
                    if in_force is not None and key in in_force:
                        row.effective = in_force[key]
        rows.append(row)
    return rows


def value_matches(key: str, desired: Value, reading: Reading, facts: HostFacts) -> bool:
    """None as a desired value means "absent" (a rollback to a value that never existed)."""
    if desired is None:
        return reading.status == ReadStatus.ABSENT
    setting = get_setting(key)
    setting.validate(desired, facts)
    return setting.matches(desired, reading)


def host_status(rows: list[SettingStatus]) -> tuple[HostStatus, str]:
    """The host's verdict from its settings, worst first, and why."""
    bad = [r for r in rows if r.status in ("unreadable", "invalid")]
    if bad:
        return HostStatus.ERROR, "; ".join(f"{r.key}: {r.status} {r.detail}".strip() for r in bad)
    if any(r.status == "drift" for r in rows):
        return HostStatus.DRIFT, ""
    if any(r.status == "pending_reboot" for r in rows):
        return HostStatus.PENDING_REBOOT, "reboot needed for the new values to take effect"
    return HostStatus.COMPLIANT, ""


def maxuserport_note(desired: Mapping[str, Value], found: HostReading) -> str | None:
    """DESIGN: on Vista+ a MaxUserPort value resets the TCP range at every boot, overriding netsh."""
    reading = found.readings.get("MaxUserPort")
    if (
        "MaxUserPort" in desired
        or reading is None
        or reading.status != ReadStatus.VALUE
        or found.facts.is_legacy
        or not any(k.startswith("dynamicport.") and k.endswith(".tcp") for k in desired)
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
