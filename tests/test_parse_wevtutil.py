"""wevtutil /f:text parser: fields by position and shape, never by (translated) label."""

from datetime import datetime, timezone
from pathlib import Path

import pytest

from portfleet.parse.wevtutil import parse_events_text, parse_iso_time

DATA = Path(__file__).parent / "data" / "windows"


def sample(name: str) -> str:
    return open(DATA / name, encoding="utf-8", newline="").read()


def test_server_2022_capture_with_garbled_line_and_no_header_colon():
    events = parse_events_text(sample("wevtutil-security-ws2022.txt"))
    assert [e.id for e in events] == [4625, 4625]
    first, second = events
    assert first.source == "Microsoft-Windows-Security-Auditing"
    assert first.date == datetime(2021, 12, 25, 7, 33, 18, 152000, tzinfo=timezone.utc)
    assert first.message.startswith("An account failed to log on.")
    assert "Unknown user name or bad password." in first.message
    assert second.level == "N/A" and second.message == "N/A"


@pytest.mark.parametrize("name,level", [
    ("wevtutil-kernel-general-12-en-US.txt", "Information"),
    ("wevtutil-kernel-general-12-de-DE.txt", "Informationen"),
])
def test_boot_event_in_english_and_german(name, level):
    (event,) = parse_events_text(sample(name))
    assert event.id == 12
    assert event.source == "Microsoft-Windows-Kernel-General"
    assert event.level == level
    assert "\u200e" not in event.message  # invisible direction marks removed
    assert parse_iso_time(event.message) == datetime(2024, 8, 24, 19, 15, 58, 500000, tzinfo=timezone.utc)


def test_iso_time_with_direction_marks_rendered_as_spaces():
    # el-GR Get-EventLog listing: "system time  2026 - 03 - 15T04:22:14.500000000Z."
    text = "The operating system started at system time  2026 - 03 - 15T04:22:14.500000000Z."
    assert parse_iso_time(text) == datetime(2026, 3, 15, 4, 22, 14, 500000, tzinfo=timezone.utc)


def test_old_builds_print_local_time_without_zone():
    text = "Event[0]:\r\n  Log Name: System\r\n  Source: EventLog\r\n  Date: 2012-03-13T10:13:27.000\r\n  Event ID: 6005\r\n"
    (event,) = parse_events_text(text)
    assert event.id == 6005
    assert event.date == datetime(2012, 3, 13, 10, 13, 27)
    assert event.date.tzinfo is None


def test_offsets_are_converted_to_utc():
    assert parse_iso_time("2026-11-21T06:00:00+01:00") == datetime(2026, 11, 21, 5, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("garbage", [
    "", "'wevtutil' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n",
    "Failed to read events. The specified channel could not be found.\r\n", "Event[0]:\r\n  Log Name: System\r\n",
])
def test_garbage_gives_no_events(garbage):
    assert parse_events_text(garbage) == []
