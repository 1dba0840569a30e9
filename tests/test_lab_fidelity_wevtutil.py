"""wevtutil qe /f:text per build: local dates with "Event[N]:" up to Server 2019, UTC dates with "Z" later,
and Server 2022's header without a colon, as in the real capture tests/data/windows/wevtutil-security-ws2022.txt."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from portfleet_lab.clock import LabClock
from portfleet_lab.cmd import shell
from portfleet_lab.cmd.base import Ctx
from portfleet_lab.profiles import Plan, build_host

CAPTURE = Path(__file__).parent / "data" / "windows" / "wevtutil-security-ws2022.txt"
NOW = datetime(2026, 7, 15, 12, 0, tzinfo=timezone.utc).timestamp()  # New York is on EDT (UTC-4)
BOOT_EVENT = ('wevtutil qe System /q:"*[System[Provider[@Name=\'Microsoft-Windows-Kernel-General\'] and '
              '(EventID=12)]]" /c:1 /rd:true /f:text')


def first_event(build: str) -> tuple[list[str], object]:
    state = build_host(Plan("web-01", "web", build, "default", timezone="America/New_York"), 0, "127.0.0.1", 9, NOW)
    out = shell.run_line(Ctx(host=state, clock=LabClock(), now=NOW), BOOT_EVENT)
    assert out.code == 0, out.stderr
    return out.stdout.split("\r\n"), state


def logged_at(state) -> datetime:
    """When the newest Kernel-General 12 was logged (its Date field)."""
    return datetime.fromtimestamp(max(e.time for e in state.events if e.event_id == 12), tz=timezone.utc)


@pytest.mark.parametrize("build", ["2012r2", "2016", "2019"])
def test_up_to_server_2019_local_time_and_colon(build):
    lines, state = first_event(build)
    assert lines[0] == "Event[0]:"
    local = logged_at(state).astimezone(ZoneInfo("America/New_York"))
    assert lines[3] == "  Date: " + local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}"
    assert lines[12] == "  Description:"


def test_server_2022_utc_date_and_header_like_the_capture():
    lines, state = first_event("2022")
    logged = logged_at(state)
    assert lines[0] == "Event[0]"
    assert lines[3] == "  Date: " + logged.strftime("%Y-%m-%dT%H:%M:%S.") + f"{logged.microsecond:06d}0Z"
    assert lines[12] == "  Description: "
    # line for line the shapes of the real Server 2022 capture (its first event has a garbled Task line,
    # its second one is regular)
    capture = CAPTURE.read_bytes().decode("utf-8").split("\r\n")
    second = capture[capture.index("Event[1]"):]
    shape = lambda line: re.sub(r"(?<=: ).*", "<v>", re.sub(r"\d", "9", line))  # noqa: E731
    assert shape(second[0]) == shape(lines[0]) == "Event[9]"
    assert [shape(x) for x in second[1:13]] == [shape(x) for x in lines[1:13]]
    assert re.fullmatch(r"  Date: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z", second[3])
    assert re.fullmatch(r"  Date: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z", lines[3])
