"""wevtutil qe System with the XPath subset and /f:text."""

from __future__ import annotations

import re

import pytest

from portfleet_lab.fleet import Fleet

Q_PORTS = 'wevtutil qe System /q:"*[System[(EventID=4227 or EventID=4231)]]" /f:text /c:{n} /rd:true'


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    return Fleet.open(tmp_path_factory.mktemp("lab"), hosts=8, seed=11)


def _events(text):
    return [block for block in text.split("\r\n\r\n") if block.startswith("Event[")]


def test_port_exhaustion_events_text_layout(fleet):
    victim = next(h for h in fleet.hosts if h.state.tcp.leak is not None)
    r = victim.execute(Q_PORTS.format(n=5))
    assert r.exit_code == 0 and r.stderr == ""
    blocks = _events(r.stdout)
    assert len(blocks) == 5
    first = blocks[0].split("\r\n")
    # Server 2022 (20348) drops the header's colon and prints the date in UTC (tests/test_lab_fidelity_wevtutil.py)
    modern = victim.state.build >= 20348
    assert first[0] == ("Event[0]" if modern else "Event[0]:")
    assert first[1] == "  Log Name: System"
    assert first[2] == "  Source: Tcpip"
    date = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\." + (r"\d{7}Z" if modern else r"\d{3}")
    assert re.fullmatch(r"  Date: " + date, first[3])
    assert first[4] in ("  Event ID: 4227", "  Event ID: 4231")
    assert [line.split(":")[0].strip() for line in first[5:13]] == [
        "Task", "Level", "Opcode", "Keyword", "User", "User Name", "Computer", "Description"]
    assert first[13].startswith(("TCP/IP failed to establish an outgoing connection",
                                 "A request to allocate an ephemeral port number"))
    dates = [b.split("\r\n")[3] for b in blocks]
    assert dates == sorted(dates, reverse=True)  # /rd:true: newest first


def test_healthy_host_has_no_port_events(fleet):
    healthy = next(h for h in fleet.hosts if h.state.tcp.leak is None and not h.state.is_legacy)
    r = healthy.execute(Q_PORTS.format(n=5))
    assert (r.stdout, r.exit_code) == ("", 0)


def test_boot_event_12(fleet):
    host = fleet.hosts[0]
    r = host.execute('wevtutil qe System /q:"*[System[Provider[@Name=\'Microsoft-Windows-Kernel-General\'] and '
                     '(EventID=12)]]" /f:text /c:1 /rd:true')
    block = _events(r.stdout)[0]
    m = re.search(r"The operating system started at system time \u200e(\S+)Z\.", block)
    assert m, block
    from datetime import datetime, timezone
    started = datetime.fromisoformat(m.group(1)[:26]).replace(tzinfo=timezone.utc).timestamp()
    assert abs(started - host.state.boot_time) < 0.001


def test_timediff_and_count(fleet):
    host = fleet.hosts[0]
    r = host.execute('wevtutil qe System /q:"*[System[TimeCreated[timediff(@SystemTime) <= 1000]]]" /f:text')
    assert r.stdout == ""
    r = host.execute('wevtutil qe System /q:"*[System[(EventID=6005)]]" /f:text /c:1')
    assert len(_events(r.stdout)) == 1 and "  Source: EventLog\r\n" in r.stdout


def test_xml_is_the_default_format(fleet):
    r = fleet.hosts[0].execute('wevtutil qe System /q:"*[System[EventID=6005]]" /c:1')
    assert r.stdout.startswith("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>")
    assert "<EventID Qualifiers='32768'>6005</EventID>" in r.stdout


def test_errors(fleet):
    host = fleet.hosts[0]
    r = host.execute('wevtutil qe System /q:"*[System[Bogus=1]]"')
    assert (r.stderr, r.exit_code) == ("Failed to read events. The specified query is invalid.\r\n", 15001)
    r = host.execute("wevtutil qe NoSuchLog")
    assert r.exit_code == 15007


def test_no_wevtutil_before_vista(fleet):
    r = fleet.host("legacy-01").execute(Q_PORTS.format(n=1))
    assert r.exit_code == 9009
    assert r.stderr == "'wevtutil' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"
