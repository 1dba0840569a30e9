"""iCalendar (RFC 5545) export of a reboot plan, for change calendars.

One VEVENT per batch, times in UTC ('Z' form, RFC 5545 3.3.5 form #2) so no VTIMEZONE is needed.
Content lines end in CRLF and are folded at 75 octets (3.1), without splitting a UTF-8
character; TEXT values escape backslash, ';', ',' and newlines (3.3.11).

UIDs are derived from the batch's host set, so exporting the same plan again (or a re-plan that
only moves a batch in time) gives the same UIDs and calendar clients update the event instead
of adding a second one. DTSTAMP is the plan's `now`, which keeps the output reproducible.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

from portfleet.reboot.planner import Batch, RebootPlan

__all__ = ["escape_text", "fold_line", "plan_to_ics", "write_ics"]

CRLF = "\r\n"
_MAX_OCTETS = 75
_SUMMARY_HOSTS = 10  # more than this and SUMMARY says "+N more"; DESCRIPTION lists them all
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # CONTROL chars TEXT may not carry (3.3.11)


def escape_text(value: str) -> str:
    """Escape a TEXT value: \\ ; , and newlines (CRLF, CR and LF all become \\n)."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = _CONTROL_RE.sub("", value.replace("\t", " "))
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def fold_line(line: str) -> str:
    """Fold one content line: at most 75 octets per physical line, continuations start with a space."""
    out: list[str] = []
    current, size, limit = [], 0, _MAX_OCTETS
    for ch in line:
        n = len(ch.encode("utf-8"))
        if size + n > limit:
            out.append("".join(current))
            current, size, limit = [" "], 1, _MAX_OCTETS
        current.append(ch)
        size += n
    out.append("".join(current))
    return CRLF.join(out)


def plan_to_ics(
    plan: RebootPlan,
    *,
    commands: Mapping[str, str | Sequence[str]] | None = None,
    calendar_name: str = "portfleet reboot plan",
    uid_domain: str = "portfleet",
) -> str:
    """The plan as an iCalendar document (a str with CRLF line ends).

    `commands` maps a host name to the command(s) that will reboot it (as rendered for that
    host); they are listed in each event's DESCRIPTION under the host."""
    commands = commands or {}
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//portfleet//reboot plan//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(calendar_name)}",
    ]
    for batch in plan.batches:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{_uid(batch, uid_domain)}",
            f"DTSTAMP:{_utc(plan.now)}",
            f"DTSTART:{_utc(batch.start)}",
            f"DTEND:{_utc(batch.estimated_end)}",
            f"SUMMARY:{escape_text(_summary(batch))}",
            f"DESCRIPTION:{escape_text(_description(batch, commands))}",
            "TRANSP:OPAQUE",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(fold_line(line) + CRLF for line in lines)


def write_ics(plan: RebootPlan, path: str | Path, **kwargs) -> None:
    """Write the plan to `path` as UTF-8, keeping the CRLF line ends byte for byte."""
    Path(path).write_bytes(plan_to_ics(plan, **kwargs).encode("utf-8"))


def _uid(batch: Batch, domain: str) -> str:
    digest = hashlib.sha256("\n".join(sorted(batch.hosts)).encode("utf-8")).hexdigest()[:24]
    return f"portfleet-reboot-{digest}@{domain}"


def _summary(batch: Batch) -> str:
    names = list(batch.hosts)
    shown = ", ".join(names[:_SUMMARY_HOSTS])
    if len(names) > _SUMMARY_HOSTS:
        shown += f" +{len(names) - _SUMMARY_HOSTS} more"
    return f"portfleet reboot batch {batch.number}/{batch.total}: {shown}"


def _description(batch: Batch, commands: Mapping[str, str | Sequence[str]]) -> str:
    w = batch.window
    text = [
        f"portfleet rolling reboot, batch {batch.number} of {batch.total} ({len(batch.members)} hosts)",
        f"Start: {_human(batch.start)}; latest safe start: {_human(batch.latest_safe_start)}; "
        f"estimated end: {_human(batch.estimated_end)}",
        f"Window: {_human(w.start)} - {_human(w.end)} ({w.spec})",
        "Hosts:",
    ]
    for m in batch.members:
        groups = ", ".join(m.groups) or "-"
        text.append(f"- {m.name} (groups: {groups}; window {m.window.describe()}; reboot ~{_minutes(m)})")
        cmds = commands.get(m.name, ())
        for cmd in [cmds] if isinstance(cmds, str) else cmds:
            text.append(f"    {cmd}")
    return "\n".join(text)


def _minutes(m) -> str:
    return f"{int(m.duration.total_seconds() // 60)} min"


def _utc(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _human(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
