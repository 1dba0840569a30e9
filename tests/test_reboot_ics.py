"""iCalendar export, read back by a small strict RFC 5545 checker."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from portfleet.reboot.ics import escape_text, fold_line, plan_to_ics, write_ics
from portfleet.reboot.planner import RebootHost, RebootPlan, RebootPolicy, plan_reboots
from portfleet.reboot.maintenance import parse_windows

UTC = timezone.utc
TEXT_PROPS = {"SUMMARY", "DESCRIPTION", "UID", "X-WR-CALNAME"}
# RFC 5545 3.3.11: TEXT is TSAFE-CHAR / ":" / DQUOTE / ESCAPED-CHAR; no CONTROL but HTAB
TEXT_RE = re.compile(r'(?:[^\\;,\x00-\x08\x0a-\x1f\x7f]|\\[\\;,nN])*')
UTC_DATETIME_RE = re.compile(r"\d{8}T\d{6}Z")
CONTENT_LINE_RE = re.compile(r"(?P<name>[A-Za-z0-9-]+)(?P<params>(?:;[A-Za-z0-9-]+=[^;:]*)*):(?P<value>.*)")


def parse_ics(data: bytes) -> list[dict[str, str]]:
    """Strict reader: CRLF only, <= 75 octets a line, valid UTF-8, BEGIN/END nesting, required
    properties, TEXT grammar. Returns the VEVENTs as {name: unescaped value}."""
    assert data.endswith(b"\r\n")
    physical = data[:-2].split(b"\r\n")
    for line in physical:
        assert b"\r" not in line and b"\n" not in line, f"bare CR or LF in {line!r}"
        assert len(line) <= 75, f"{len(line)} octets: {line!r}"
        line.decode("utf-8")  # a fold never splits a character
    logical: list[bytes] = []
    for line in physical:
        if line[:1] in (b" ", b"\t"):
            assert logical, "continuation before any line"
            logical[-1] += line[1:]
        else:
            logical.append(line)
    stack: list[str] = []
    calendar: dict[str, str] = {}
    events: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for raw in logical:
        m = CONTENT_LINE_RE.fullmatch(raw.decode("utf-8"))
        assert m, f"not a content line: {raw!r}"
        name, value = m["name"].upper(), m["value"]
        if name == "BEGIN":
            stack.append(value)
            if value == "VEVENT":
                assert stack == ["VCALENDAR", "VEVENT"]
                current = {}
            continue
        if name == "END":
            assert stack and stack.pop() == value, f"END:{value} does not close {stack}"
            if value == "VEVENT":
                assert current is not None
                for required in ("UID", "DTSTAMP", "DTSTART"):
                    assert required in current, f"VEVENT without {required}"
                assert current["DTEND"] > current["DTSTART"]
                events.append(current)
                current = None
            continue
        assert stack, f"{name} outside VCALENDAR"
        if name in TEXT_PROPS:
            assert TEXT_RE.fullmatch(value), f"{name} is not valid TEXT: {value!r}"
            value = re.sub(r"\\([\\;,nN])", lambda x: "\n" if x[1] in "nN" else x[1], value)
        if name in ("DTSTART", "DTEND", "DTSTAMP"):
            assert UTC_DATETIME_RE.fullmatch(value), f"{name} not in UTC form: {value!r}"
        target = current if current is not None else calendar
        assert name not in target, f"{name} twice"
        target[name] = value
    assert stack == [], f"unclosed {stack}"
    assert calendar["VERSION"] == "2.0" and calendar["PRODID"]
    return events


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def web_plan() -> RebootPlan:
    sched = parse_windows(["Sun 02:00-05:00"], "Europe/Berlin")
    fleet = [RebootHost(f"web-{i:02d}", ["web"], sched, timedelta(minutes=20)) for i in range(1, 11)]
    return plan_reboots(fleet, utc(2027, 3, 26, 12), RebootPolicy(batch_size="20%"))


def test_one_event_per_batch_with_utc_times_and_summary() -> None:
    plan = web_plan()
    events = parse_ics(plan_to_ics(plan).encode("utf-8"))
    assert len(events) == len(plan.batches) == 5
    second = events[1]
    assert second["SUMMARY"] == "portfleet reboot batch 2/5: web-03, web-04"
    assert second["DTSTART"] == "20270328T012000Z"  # 03:20 CEST on Berlin's spring-forward Sunday
    assert second["DTEND"] == "20270328T014000Z"
    assert second["DTSTAMP"] == "20270326T120000Z"  # the plan's now: the same plan gives the same file
    assert len({e["UID"] for e in events}) == 5


def test_description_lists_hosts_windows_and_commands() -> None:
    plan = web_plan()
    commands = {
        "web-03": ['shutdown /r /t 60 /c "portfleet: apply TcpTimedWaitDelay; MaxUserPort"'],
        "web-04": "shutdown /r /t 60 /c \"portfleet: a\\b, c\"",
    }
    events = parse_ics(plan_to_ics(plan, commands=commands).encode("utf-8"))
    description = events[1]["DESCRIPTION"]
    assert description.splitlines() == [
        "portfleet rolling reboot, batch 2 of 5 (2 hosts)",
        "Start: 2027-03-28 01:20 UTC; latest safe start: 2027-03-28 02:40 UTC; estimated end: 2027-03-28 01:40 UTC",
        "Window: 2027-03-28 01:00 UTC - 2027-03-28 03:00 UTC (Sun 02:00-05:00)",
        "Hosts:",
        "- web-03 (groups: web; window Sun 2027-03-28 03:00 CEST - 05:00 CEST (Europe/Berlin 'Sun 02:00-05:00'); reboot ~20 min)",
        '    shutdown /r /t 60 /c "portfleet: apply TcpTimedWaitDelay; MaxUserPort"',
        "- web-04 (groups: web; window Sun 2027-03-28 03:00 CEST - 05:00 CEST (Europe/Berlin 'Sun 02:00-05:00'); reboot ~20 min)",
        '    shutdown /r /t 60 /c "portfleet: a\\b, c"',
    ]


def test_uids_are_stable_across_exports_and_replans() -> None:
    plan = web_plan()
    first = parse_ics(plan_to_ics(plan).encode("utf-8"))
    again = parse_ics(plan_to_ics(web_plan()).encode("utf-8"))
    assert [e["UID"] for e in first] == [e["UID"] for e in again]
    assert plan_to_ics(plan) == plan_to_ics(web_plan())
    # planning a week later moves the batches but keeps their identity for calendar clients
    later = plan_reboots(
        [RebootHost(f"web-{i:02d}", ["web"], parse_windows(["Sun 02:00-05:00"], "Europe/Berlin"), timedelta(minutes=20)) for i in range(1, 11)],
        utc(2027, 4, 2, 12),
        RebootPolicy(batch_size="20%"),
    )
    moved = parse_ics(plan_to_ics(later).encode("utf-8"))
    assert [e["UID"] for e in moved] == [e["UID"] for e in first]
    assert moved[0]["DTSTART"] == "20270404T000000Z"


def test_lines_end_in_crlf_and_are_folded_at_75_octets() -> None:
    text = plan_to_ics(web_plan())
    assert "\n" not in text.replace("\r\n", "")
    assert max(len(line.encode()) for line in text.split("\r\n")) == 75  # long DESCRIPTIONs were folded
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")


def test_fold_never_splits_a_utf8_character() -> None:
    line = "DESCRIPTION:" + "ü" * 100  # 2 octets each
    folded = fold_line(line)
    parts = folded.encode("utf-8").split(b"\r\n")
    assert all(len(p) <= 75 for p in parts)
    assert [len(p) for p in parts] == [74, 75, 65]  # 12 + 31*2; 1 + 37*2; 1 + 32*2
    assert "".join(p.decode("utf-8")[1:] if i else p.decode("utf-8") for i, p in enumerate(parts)) == line


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("a,b;c\\d", "a\\,b\\;c\\\\d"),
        ("one\r\ntwo\nthree\rfour", "one\\ntwo\\nthree\\nfour"),
        ('quote " and colon : stay', 'quote " and colon : stay'),
        ("bell\x07 gone, tab\tspace", "bell gone\\, tab space"),
    ],
)
def test_escape_text(raw: str, escaped: str) -> None:
    assert escape_text(raw) == escaped
    assert TEXT_RE.fullmatch(escaped)


def test_many_hosts_in_one_batch_shorten_the_summary_not_the_description() -> None:
    sched = parse_windows(["daily 01:00-05:00"], "UTC")
    fleet = [RebootHost(f"h{i:02d}", [], sched, timedelta(minutes=20)) for i in range(1, 14)]
    (event,) = parse_ics(plan_to_ics(plan_reboots(fleet, utc(2026, 11, 21), RebootPolicy())).encode("utf-8"))
    assert event["SUMMARY"] == "portfleet reboot batch 1/1: h01, h02, h03, h04, h05, h06, h07, h08, h09, h10 +3 more"
    assert all(f"- h{i:02d} " in event["DESCRIPTION"] for i in range(1, 14))


def test_empty_plan_is_a_valid_calendar() -> None:
    plan = plan_reboots([], utc(2026, 11, 21))
    assert parse_ics(plan_to_ics(plan).encode("utf-8")) == []


def test_write_ics_keeps_crlf(tmp_path: Path) -> None:
    plan = web_plan()
    out = tmp_path / "reboots.ics"
    write_ics(plan, out)
    assert out.read_bytes() == plan_to_ics(plan).encode("utf-8")
    assert len(parse_ics(out.read_bytes())) == 5
