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

from portfleet.parse.dates import zone_safe
from portfleet.parse.numbers import ascii_int, is_ascii_digits

# Host text is untrusted (DESIGN "Rules that matter"): patterns are anchored or start at a digit, and
# no two of their quantifiers can take the same characters, so each costs one pass over a line. The
# field lines are split by hand (`_field_value`): a lazy label and a lazy value before "\s*$" made a
# line of 20,000 spaces cost seconds.
_HEADER = re.compile(r"^(?!\s)[^\s:\[][^:\[]*\[([0-9]+)\]:?\s*$")
_BIDI = dict.fromkeys(map(ord, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"), None)
_ISO = re.compile(
    r"(?P<y>[0-9]{4})\s*-\s*(?P<mo>[0-9]{2})\s*-\s*(?P<d>[0-9]{2})\s*T\s*(?P<h>[0-9]{2}):(?P<mi>[0-9]{2}):(?P<s>[0-9]{2})"
    r"(?:\.(?P<frac>[0-9]+))?\s*(?P<z>Z|[+-][0-9]{2}:?[0-9]{2})?"
)
_FIELD_COUNT = 12  # Log Name .. Description
EVENT_ID_DIGITS = 5  # an event ID is 16 bits (0-65535)


@dataclass(frozen=True)
class Event:
    id: int
    source: str
    date: datetime | None
    level: str
    message: str


def strip_bidi(text: str) -> str:
    return text.translate(_BIDI)


def iso_time_text(text: str | None) -> str | None:
    """The first ISO-8601 timestamp in the text as printed (for notes), at most 40 characters."""
    m = _ISO.search(strip_bidi(text or ""))
    return m.group(0)[:40] if m else None


def parse_iso_time(text: str | None) -> datetime | None:
    """First ISO-8601 timestamp in the text; aware (UTC) when it carries Z or an offset.

    None when there is none, when it is no calendar date ("2026-02-30"), and when it lies within a
    day of datetime's range (years 1-9999), where converting it between zones would overflow: such a
    date is "unknown", and the caller notes it (iso_time_text says what was printed)."""
    m = _ISO.search(strip_bidi(text or ""))
    if not m:
        return None
    frac = (m.group("frac") or "0")[:6].ljust(6, "0")
    try:
        value = datetime(int(m.group("y")), int(m.group("mo")), int(m.group("d")),
                         int(m.group("h")), int(m.group("mi")), int(m.group("s")), int(frac))
    except ValueError:
        return None
    if not zone_safe(value):
        return None
    zone = m.group("z")
    if zone is None:
        return value
    if zone == "Z":
        return value.replace(tzinfo=timezone.utc)
    digits = zone[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 23 or minutes > 59:  # "+99:99" is no UTC offset (ISO 8601 keeps them under a day)
        return None
    offset = timedelta(hours=hours, minutes=minutes)
    utc = value - offset if zone[0] == "+" else value + offset  # under a day: value is zone_safe
    return utc.replace(tzinfo=timezone.utc) if zone_safe(utc) else None


def _field_value(line: str) -> str | None:
    """"  Event ID: 12" -> "12": a field line is indented by exactly two spaces, and its label (up to
    the first colon) is not empty; the value is the rest, less one leading blank and trailing blanks."""
    if line[:2] != "  " or line[2:3] in ("", " "):
        return None
    colon = line.find(":", 2)
    if colon <= 2:  # no colon, or no label before it
        return None
    value = line[colon + 1:]
    if value[:1].isspace():
        value = value[1:]
    return value.rstrip()


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
        value = _field_value(line)
        if value is None or len(fields) >= _FIELD_COUNT:
            body_start = i
            break
        fields.append(value)
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
        if event_id is None and is_ascii_digits(value):
            event_id = ascii_int(value, EVENT_ID_DIGITS)
            if event_id is None:
                return None  # an "all-digit" event id past 16 bits: not an event wevtutil printed
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
