"""`wevtutil qe <log> /f:text` output -> events, by structure.

Every event starts with a flush-left header "Event[N]:" ("Ereignis[0]:", ...; the colon is missing
on some builds), followed by two-space-indented "label: value" lines in a fixed order (Log Name,
Source, Date, Event ID, Task, Level, Opcode, Keyword, User, User Name, Computer, Description) and
then the message, flush left. Labels are translated, so fields are found by position and by the
shape of their value: the date is the ISO-8601 value, the event id the first all-digit value after
the source. Builds from 10.0.19041 (Windows 10 2004, Server 2022) print the date in UTC with a
"Z"; older ones, Server 2016 and 2019 included, print local time without one (returned naive:
facts.local_to_utc applies the host's ActiveTimeBias). Event messages may carry invisible U+200E marks around date parts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

_HEADER = re.compile(r"^(?!\s)[^\s:\[][^:\[]*\[(\d+)\]:?\s*$")
_FIELD = re.compile(r"^  (?! )(?P<label>[^:\r\n]+?)\s*:\s?(?P<value>.*?)\s*$")
_BIDI = dict.fromkeys(map(ord, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"), None)
_ISO = re.compile(
    r"(?P<y>\d{4})\s*-\s*(?P<mo>\d{2})\s*-\s*(?P<d>\d{2})\s*T\s*(?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})"
    r"(?:\.(?P<frac>\d+))?\s*(?P<z>Z|[+-]\d{2}:?\d{2})?"
)
_FIELD_COUNT = 12  # Log Name .. Description


@dataclass(frozen=True)
class Event:
    id: int
    source: str
    date: datetime | None
    level: str
    message: str


def strip_bidi(text: str) -> str:
    return text.translate(_BIDI)


def parse_iso_time(text: str | None) -> datetime | None:
    """First ISO-8601 timestamp in the text; aware (UTC) when it carries Z or an offset."""
    m = _ISO.search(strip_bidi(text or ""))
    if not m:
        return None
    frac = (m.group("frac") or "0")[:6].ljust(6, "0")
    try:
        value = datetime(int(m.group("y")), int(m.group("mo")), int(m.group("d")),
                         int(m.group("h")), int(m.group("mi")), int(m.group("s")), int(frac))
    except ValueError:
        return None
    zone = m.group("z")
    if zone is None:
        return value
    if zone == "Z":
        return value.replace(tzinfo=timezone.utc)
    sign = 1 if zone[0] == "+" else -1
    digits = zone[1:].replace(":", "")
    offset = sign * (int(digits[:2]) * 60 + int(digits[2:]))
    return (value - timedelta(minutes=offset)).replace(tzinfo=timezone.utc)


def _split_events(lines: list[str]) -> list[list[str]]:
    blocks: list[list[str]] = []
    for line in lines:
        if _HEADER.match(line):
            blocks.append([])
        elif blocks:
            blocks[-1].append(line)
    return blocks


def _parse_block(lines: list[str]) -> Event | None:
    fields: list[str] = []
    body_start = len(lines)
    for i, line in enumerate(lines):
        m = _FIELD.match(line)
        if not m or len(fields) >= _FIELD_COUNT:
            body_start = i
            break
        fields.append(m.group("value"))
    else:
        body_start = len(lines)
    if len(fields) < 2:
        return None
    source = fields[1] if len(fields) > 1 else ""
    date = None
    event_id = None
    for value in fields[2:]:
        if date is None and _ISO.search(strip_bidi(value)):
            date = parse_iso_time(value)
            continue
        if event_id is None and re.fullmatch(r"\d+", value):
            event_id = int(value)
    if event_id is None:
        return None
    level = fields[5] if len(fields) == _FIELD_COUNT else ""
    body = [fields[-1]] if len(fields) == _FIELD_COUNT and fields[-1] else []
    body += [line.rstrip() for line in lines[body_start:]]
    message = strip_bidi("\n".join(body)).strip()
    return Event(id=event_id, source=source, date=date, level=level, message=message)


def parse_events_text(text: str | None) -> list[Event]:
    """Events in the order printed (newest first with /rd:true); malformed blocks are skipped."""
    lines = [line.rstrip("\r") for line in (text or "").splitlines()]
    events = []
    for block in _split_events(lines):
        event = _parse_block(block)
        if event is not None:
            events.append(event)
    return events
