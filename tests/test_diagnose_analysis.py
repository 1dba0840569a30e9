"""Diagnose analysis on real-shaped outputs: the texts Windows prints go through the real parsers
(parse_facts, the settings catalogue, netstat/tasklist/netsh/wevtutil) into the verdict."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from portfleet.diagnose import (
    READ_KEYS, S_EVENTS, S_EVENTS_DAY, S_NETSTAT, S_TASKLIST, DiagnoseReport, analyse, apply_trend,
    build_collected, diagnose_command, failure, rank, trend_of,
)
from portfleet.facts import parse_facts
from portfleet.parse.netsh import PortRange
from portfleet.render import Renderer
from portfleet.settings import get_setting, parse_readings
from portfleet.transport.base import TransportError

DATA = Path(__file__).parent / "data" / "windows"
NOW = datetime(2026, 11, 21, 5, 0, tzinfo=timezone.utc)
HEADER = ["", "Active Connections", "", "  Proto  Local Address          Foreign Address        State           PID"]
VER_2022 = "\r\nMicrosoft Windows [Version 10.0.20348.2849]\r\n"
VER_2003 = (DATA / "ver-en-US-2003.txt").read_text(encoding="utf-8")
REG_ABSENT = (DATA / "reg-query-absent-en-US.txt").read_text(encoding="utf-8")
EXCLUDED = (DATA / "netsh-excludedportrange-en-US.txt").open(encoding="utf-8", newline="").read()


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def netsh_range(start: int, num: int) -> str:
    # The layout of tests/data/windows/netsh-dynamicport-en-US.txt (a real capture), other numbers.
    return (f"\r\nProtocol tcp Dynamic Port Range\r\n---------------------------------\r\n"
            f"Start Port      : {start}\r\nNumber of Ports : {num}\r\n\r\n")


def reg_dword(name: str, value: int) -> str:
    return (f"\r\nHKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters\r\n"
            f"    {name}    REG_DWORD    {value:#x}\r\n\r\n")


def tcp_row(local: str, remote: str, state: str, pid: int) -> str:
    return f"  TCP    {local:<22} {remote:<22} {state:<15} {pid}"


def wevtutil_event(event_id: int, when: datetime) -> str:
    # The /f:text layout of tests/data/windows/wevtutil-security-ws2022.txt; Tcpip texts as Windows renders them.
    level, message = {
        4227: ("Warning", "TCP/IP failed to establish an outgoing connection because the selected local endpoint "
                          "was recently used to connect to the same remote endpoint."),
        4231: ("Error", "A request to allocate an ephemeral port number from the global TCP port space has "
                        "failed due to all such ports being in use."),
    }[event_id]
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.000") + "0000Z"
    return (f"Event[0]:\r\n  Log Name: System\r\n  Source: Tcpip\r\n  Date: {stamp}\r\n  Event ID: {event_id}\r\n"
            f"  Task: N/A\r\n  Level: {level}\r\n  Opcode: Info\r\n  Keyword: Classic\r\n  User: N/A\r\n"
            f"  User Name: N/A\r\n  Computer: app-01.corp.example\r\n  Description: \r\n{message}\r\n\r\n")


def host_read(*, ver: str = VER_2022, start: int = 49152, num: int = 16384, tw: int | None = None,
              maxuserport: int | None = None, netstat: list[str], tasklist: str = "", excluded: str = "",
              events: str = "", events_day: str = "", days: int = 7):
    """The two reads of one host, as text, through the real parsers -> Collected."""
    facts = parse_facts({"facts.ver": ver})
    texts = {key: netsh_range(start, num) for key in READ_KEYS if key.startswith("dynamicport.")}
    texts["TcpTimedWaitDelay"] = reg_dword("TcpTimedWaitDelay", tw) if tw else REG_ABSENT
    texts["MaxUserPort"] = reg_dword("MaxUserPort", maxuserport) if maxuserport else REG_ABSENT
    readings = parse_readings(texts, [get_setting(k) for k in READ_KEYS], facts)
    sections = {
        S_NETSTAT: "\r\n".join(HEADER + netstat) + "\r\n",
        S_TASKLIST: tasklist,
        "diag.excluded.ipv4.tcp": excluded,
        "diag.excluded.ipv6.tcp": excluded,
        S_EVENTS: events,
        S_EVENTS_DAY: events_day,
    }
    return build_collected(facts, readings, sections, days=days, at=NOW)


def leaky_table(time_wait: int, close_wait: int, bound: int, first: int = 49152) -> list[str]:
    rows = [tcp_row("0.0.0.0:135", "0.0.0.0:0", "LISTENING", 692), tcp_row("0.0.0.0:8080", "0.0.0.0:0", "LISTENING", 3120),
            tcp_row("0.0.0.0:47001", "0.0.0.0:0", "LISTENING", 4)]
    port = first
    for _ in range(time_wait):
        rows.append(tcp_row(f"10.20.0.19:{port}", "10.20.5.40:443", "TIME_WAIT", 0))
        port += 1
    for _ in range(close_wait):
        rows.append(tcp_row(f"10.20.0.19:{port}", "10.20.5.40:443", "CLOSE_WAIT", 6148))
        port += 1
    for _ in range(bound):
        rows.append(tcp_row(f"0.0.0.0:{port}", "0.0.0.0:0", "BOUND", 6148))
        port += 1
    rows.append(tcp_row(f"10.20.0.19:{port}", "10.20.5.40:443", "ESTABLISHED", 6148))
    rows.append(tcp_row(f"10.20.0.19:{port + 1}", "10.20.2.31:1433", "ESTABLISHED", 3120))
    return rows


TASKLIST = ('"System Idle Process","0","Services","0","8 K"\r\n"System","4","Services","0","144 K"\r\n'
            '"svchost.exe","692","Services","0","12,040 K"\r\n"java.exe","3120","Services","0","1,204,112 K"\r\n'
            '"LeakyApp.exe","6148","Services","0","812,345 K"\r\n')


def test_a_healthy_real_host(renderer):
    """The fr-FR capture (Windows 10, default range) through the analysis: nothing to worry about."""
    netstat = (DATA / "netstat-ano-fr-FR.txt").read_text(encoding="utf-8").splitlines()
    got = host_read(netstat=netstat)
    d = analyse("pc-fr", "192.168.0.31", got, renderer=renderer)
    assert d.verdict == "healthy"
    # 10 IPv4 listeners inside 49152-65535 (RPC endpoints 49664-49669 and others) + 30 connections.
    assert d.main.in_use == 40 and d.main.capacity == 16384
    assert d.states["ESTABLISHED"] == 19 and d.states["TIME_WAIT"] == 6 and d.states["CLOSE_WAIT"] == 5
    assert d.recommendations == [] and d.leak_suspects == []
    assert "no 4227/4231 events" in d.evidence[0]


def test_an_exhausted_host_names_the_leaking_application(renderer):
    got = host_read(
        netstat=leaky_table(time_wait=4000, close_wait=4800, bound=7500),
        tasklist=TASKLIST,
        events=wevtutil_event(4231, NOW - timedelta(hours=2)) + wevtutil_event(4227, NOW - timedelta(hours=3)),
        events_day=wevtutil_event(4231, NOW - timedelta(hours=2)),
    )
    d = analyse("app-01", "10.20.0.19", got, renderer=renderer)
    assert d.verdict == "exhausted"
    assert d.main.in_use == 4000 + 4800 + 7500 + 2 and d.fill > 0.99
    assert d.culprit.name == "LeakyApp.exe" and d.culprit.pid == 6148
    assert d.leak_suspects == [6148]
    assert d.events == {4231: 1, 4227: 1} and d.exhaustion_last_day == 1
    assert any("event 4231" in e and "24 h" in e for e in d.evidence)
    assert any("LeakyApp.exe (pid 6148) holds 4,800 CLOSE_WAIT, 7,500 BOUND" in e for e in d.evidence)
    # TIME_WAIT rows carry PID 0; they go to the process talking to the same remote endpoint.
    assert d.culprit.time_wait_likely == 4000
    kinds = [r.kind for r in d.recommendations]
    assert kinds[0] == "fix_application" and "widen_range" in kinds
    fix = d.recommendations[0].text
    assert "LeakyApp.exe" in fix and "not Windows" in fix
    widen = next(r for r in d.recommendations if r.kind == "widen_range")
    assert widen.value.end == 65535 and widen.value.num >= 2 * d.main.in_use
    assert widen.command == f"netsh int ipv4 set dynamicport tcp start={widen.value.start} num={widen.value.num}"
    # The wider range would swallow the WinRM listener 47001: reserve it first.
    assert any(r.kind == "exclude_ports" and "47001" in r.text for r in d.recommendations)


def test_time_wait_churn_asks_for_a_shorter_time_wait_and_a_wider_range(renderer):
    rows = [tcp_row("0.0.0.0:135", "0.0.0.0:0", "LISTENING", 692)]
    port = 49152
    for _ in range(9000):
        rows.append(tcp_row(f"10.20.0.30:{port}", "10.20.2.31:1433", "TIME_WAIT", 0))
        port += 1
    for _ in range(1500):
        rows.append(tcp_row(f"10.20.0.30:{port}", "10.20.2.31:1433", "ESTABLISHED", 3120))
        port += 1
    d = analyse("web-07", "10.20.0.30", host_read(netstat=rows, tasklist=TASKLIST), renderer=renderer)
    assert d.verdict == "at_risk"  # 64% full, no leak, no events
    assert d.leak_suspects == []
    lower = next(r for r in d.recommendations if r.kind == "lower_timed_wait")
    assert lower.value == 30 and "120 s" in lower.text and "java.exe (pid 3120)" in lower.text
    assert lower.command.startswith('reg add "HKLM\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters" '
                                    "/v TcpTimedWaitDelay /t REG_DWORD /d 30")
    assert any(r.kind == "widen_range" for r in d.recommendations)
    # Already at 30 s: no advice to lower it further.
    tuned = analyse("web-08", "x", host_read(netstat=rows, tasklist=TASKLIST, tw=30), renderer=renderer)
    assert tuned.timed_wait_delay == 30 and tuned.timed_wait_configured
    assert not any(r.kind == "lower_timed_wait" for r in tuned.recommendations)


def test_events_alone_decide_when_the_table_looks_calm(renderer):
    calm = leaky_table(time_wait=20, close_wait=0, bound=0)
    recent = host_read(netstat=calm, events=wevtutil_event(4231, NOW - timedelta(hours=1)),
                       events_day=wevtutil_event(4231, NOW - timedelta(hours=1)))
    assert analyse("a", "x", recent, renderer=renderer).verdict == "exhausted"
    older = host_read(netstat=calm, events=wevtutil_event(4227, NOW - timedelta(days=3)))
    d = analyse("b", "x", older, renderer=renderer)
    assert d.verdict == "at_risk" and d.events == {4227: 1}
    assert any("4227" in e for e in d.evidence)


def test_excluded_ranges_shrink_the_capacity(renderer):
    # The real excluded list holds 80, 5986, 47001 (outside the default range) and 55679 (administered).
    got = host_read(netstat=leaky_table(10, 0, 0), excluded=EXCLUDED)
    d = analyse("gh", "x", got, renderer=renderer)
    assert d.main.excluded == 1 and d.main.capacity == 16383
    assert d.excluded["ipv4.tcp"][-1] == (55679, 55679, True)


def test_server_2003_uses_max_user_port_and_has_no_q(renderer):
    rows = [tcp_row("0.0.0.0:135", "0.0.0.0:0", "LISTENING", 692)]
    for port in range(1025, 1025 + 3000):
        rows.append(tcp_row(f"10.20.0.22:{port}", "10.20.2.31:1433", "TIME_WAIT", 0))
    got = host_read(ver=VER_2003, netstat=rows, events="'wevtutil' is not recognized as an internal or external "
                    "command,\r\noperable program or batch file.\r\n")
    assert got.netstat_flags == "-ano"
    d = analyse("legacy-01", "10.20.0.22", got, renderer=renderer)
    assert d.ranges["ipv4.tcp"] == PortRange(1025, 3976)  # 1025-5000: MaxUserPort absent (KB 196271)
    assert d.verdict == "at_risk" and round(d.fill, 2) == 0.75
    assert not d.events_readable
    assert any("no `netstat -q`" in n for n in d.notes)
    assert any("wevtutil" in n for n in d.notes)
    widen = next(r for r in d.recommendations if r.kind == "widen_range")
    assert widen.setting == "MaxUserPort" and widen.value == 65534
    assert "/v MaxUserPort /t REG_DWORD /d 65534" in widen.command


def test_playbook_ranges_that_swallow_listeners_or_exclusions_are_warned(renderer):
    got = host_read(netstat=leaky_table(10, 0, 0), excluded=EXCLUDED)
    desired = {"dynamicport.ipv4.tcp": PortRange(10000, 55536), "TcpTimedWaitDelay": 30}
    d = analyse("app-01", "x", got, desired=desired, renderer=renderer)
    listener = next(w for w in d.warnings if "listening" in w)
    assert "10000-65535" in listener and "47001" in listener and "8080" not in listener
    exclusion = next(w for w in d.warnings if "overlaps excluded port range" in w)
    assert "47001-47001" in exclusion and "55679-55679 (administered)" in exclusion
    busy = host_read(netstat=leaky_table(time_wait=2000, close_wait=0, bound=0))
    small = analyse("b", "x", busy, desired={"dynamicport.ipv4.tcp": PortRange(64000, 1000)}, renderer=renderer)
    assert any("smaller than the" in w for w in small.warnings)


def test_max_user_port_on_a_modern_host_is_called_out(renderer):
    got = host_read(start=1024, num=64511, maxuserport=65534, netstat=leaky_table(10, 0, 0))
    d = analyse("x", "x", got, renderer=renderer)
    assert any("MaxUserPort is set to 65534" in w and "1024-65534" in w for w in d.warnings)


def test_trend_projects_the_time_to_exhaustion(renderer):
    points = [(NOW + timedelta(seconds=10 * i), 10000 + 500 * i) for i in range(4)]  # +3000 ports/min
    t = trend_of(points, capacity=16384)
    assert t.slope_per_min == pytest.approx(3000)
    assert t.exhaustion_in_s == pytest.approx((16384 - 11500) / 50)
    d = analyse("x", "x", host_read(netstat=leaky_table(100, 0, 0)), renderer=renderer)
    assert d.verdict == "healthy"
    apply_trend(d, t)
    assert d.verdict == "at_risk" and any("full in about" in e for e in d.evidence)
    flat = trend_of([(NOW, 50), (NOW + timedelta(seconds=5), 50)], 16384)
    assert flat.slope_per_min == 0 and flat.exhaustion_in_s is None


def test_ranking_and_exit_codes(renderer):
    sick = analyse("app-01", "x", host_read(netstat=leaky_table(4000, 4800, 7500), tasklist=TASKLIST), renderer=renderer)
    fine = analyse("web-01", "x", host_read(netstat=leaky_table(10, 0, 0)), renderer=renderer)
    gone = failure(SimpleNamespace(name="db-09", address="10.0.0.9"),
                   TransportError("unreachable", "db-09: connection refused by 10.0.0.9:5985"))
    report = DiagnoseReport(hosts=rank([fine, gone, sick]), days=7, generated_at=NOW)
    assert [h.name for h in report.hosts] == ["app-01", "db-09", "web-01"]
    assert report.exit_code() == 4  # an unreachable host wins, as in audit
    assert DiagnoseReport(hosts=[sick, fine], days=7, generated_at=NOW).exit_code() == 3
    assert DiagnoseReport(hosts=[fine], days=7, generated_at=NOW).exit_code() == 0
    data = report.to_json()
    assert data["schema"] == "portfleet.diagnose/1"
    assert data["summary"] == {"exhausted": 1, "at_risk": 0, "unknown": 1, "healthy": 1, "unreachable": 1, "hosts": 3}
    assert data["hosts"][0]["culprit"]["name"] == "LeakyApp.exe"
    assert data["hosts"][1]["status"] == "unreachable" and "refused" in data["hosts"][1]["detail"]


def test_the_diagnose_read_is_one_command_line(renderer):
    modern = diagnose_command(renderer, with_q=True, days=7)
    assert "\n" not in modern and "netstat -anoq 2>&1" in modern and "tasklist /fo csv /nh 2>&1" in modern
    assert "netsh int ipv6 show excludedportrange protocol=tcp 2>&1" in modern
    assert ('wevtutil qe System /q:"*[System[(EventID=4227 or EventID=4231) and '
            'TimeCreated[timediff(@SystemTime) <= 604800000]]]" /rd:true /c:200 /f:text 2>&1') in modern
    assert modern.startswith("echo PORTFLEET:BEGIN:") and modern.endswith("echo PORTFLEET:END")
    legacy = diagnose_command(renderer, with_q=False, days=0)
    assert "netstat -ano 2>&1" in legacy and "wevtutil" not in legacy
    light = diagnose_command(renderer, with_q=True, days=7, full=False)
    assert "excludedportrange" not in light and "wevtutil" not in light and "netstat -anoq" in light
