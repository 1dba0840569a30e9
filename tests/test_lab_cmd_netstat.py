"""netstat -ano / -anoq and tasklist /fo csv as Windows lays them out."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from portfleet_lab.fleet import Fleet

HEADER = "\r\nActive Connections\r\n\r\n  Proto  Local Address          Foreign Address        State           PID\r\n"
ROW = re.compile(r"^  (TCP|UDP)    (\S+)\s+(\S+)\s+([A-Z_]*)\s+(\d+)$")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    return Fleet.open(tmp_path_factory.mktemp("lab"), hosts=8, seed=5)


def _rows(text):
    return [ROW.match(line).groups() for line in text.split("\r\n")[4:] if line]


def test_layout_and_columns(fleet):
    host = next(h for h in fleet.hosts if not h.state.is_legacy and h.state.tcp.leak is None)
    r = host.execute("netstat -ano")
    assert r.stdout.startswith(HEADER) and r.exit_code == 0
    lines = r.stdout.split("\r\n")
    assert "  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING       " in "\r\n".join(lines)
    assert any(line.startswith("  TCP    [::]:135               [::]:0                 LISTENING       ")
               for line in lines)
    udp = next(line for line in lines if line.startswith("  UDP    0.0.0.0:123 "))
    assert re.fullmatch(r"  UDP    0\.0\.0\.0:123            \*:\*                                    \d+", udp)
    for proto, local, foreign, state, pid in _rows(r.stdout):
        if state == "TIME_WAIT":
            assert pid == "0"  # TIME_WAIT sockets no longer belong to a process
    assert "BOUND" not in r.stdout


def test_rows_sorted_tcp4_tcp6_udp(fleet):
    host = fleet.hosts[0]
    rows = _rows(host.execute("netstat -ano").stdout)
    kinds = [(p, "[" in local) for p, local, *_ in rows]
    order = [("TCP", False), ("TCP", True), ("UDP", False), ("UDP", True)]
    assert kinds == sorted(kinds, key=order.index)


def test_exhausted_host_fills_its_range(fleet):
    victim = next(h for h in fleet.hosts if h.state.tcp.leak is not None)
    leak_pid = victim.state.tcp.leak.pid
    r = victim.execute("netstat -anoq")
    rows = _rows(r.stdout)
    states = Counter(s for _, _, _, s, _ in rows)
    assert states["BOUND"] > 1000 and states["TIME_WAIT"] > 1000 and states["CLOSE_WAIT"] > 1000
    start, num = victim.state.ranges["ipv4 tcp"].start, victim.state.ranges["ipv4 tcp"].num
    ephemeral = {int(local.rsplit(":", 1)[1]) for _, local, _, s, _ in rows
                 if s in ("BOUND", "TIME_WAIT", "CLOSE_WAIT", "ESTABLISHED") and not local.startswith("[")
                 and start <= int(local.rsplit(":", 1)[1]) < start + num}
    assert len(ephemeral) >= num - 100  # the whole dynamic range is taken (minus listeners/exclusions)
    owners = Counter(pid for _, _, _, s, pid in rows if s in ("BOUND", "CLOSE_WAIT"))
    assert owners.most_common(1)[0][0] == str(leak_pid)
    # without -q the BOUND rows are hidden
    assert "BOUND" not in victim.execute("netstat -ano").stdout
    names = victim.execute("tasklist /fo csv /nh").stdout
    assert f'"LeakyApp.exe","{leak_pid}","Services","0",' in names
    assert victim.to_json()["tcp_summary"]["exhausted"] is True


def test_legacy_netstat_has_no_q_switch(fleet):
    legacy = fleet.host("legacy-01")
    r = legacy.execute("netstat -anoq")
    assert r.stdout.startswith("\r\nDisplays protocol statistics and current TCP/IP network connections.\r\n")
    assert "NETSTAT [-a] [-b] [-e] [-n] [-o] [-p proto] [-r] [-s] [-v] [interval]" in r.stdout
    assert r.exit_code == 1
    ok = legacy.execute("netstat -ano")
    assert ok.exit_code == 0 and "[::]" not in ok.stdout  # no IPv6 stack by default on 2003
    ports = [int(local.rsplit(":", 1)[1]) for _, local, _, s, _ in _rows(ok.stdout) if s == "TIME_WAIT"]
    assert ports and all(1025 <= p <= 5000 for p in ports)


def test_german_netstat_labels(fleet):
    de = next(h for h in fleet.hosts if h.state.locale == "de-DE")
    r = de.execute("netstat -ano")
    assert r.stdout.startswith("\r\nAktive Verbindungen\r\n\r\n  Proto  Lokale Adresse         Remoteadresse"
                               "          Status           PID\r\n")
    assert "ABH\u00d6REN          " in r.stdout


def test_protocol_filter(fleet):
    rows = _rows(fleet.hosts[1].execute("netstat -ano -p UDP").stdout)
    assert rows and {p for p, *_ in rows} == {"UDP"} and not any("[" in local for _, local, *_ in rows)


def test_tasklist_csv_and_header(fleet):
    host = fleet.hosts[1]
    r = host.execute("tasklist /fo csv /nh")
    lines = r.stdout.split("\r\n")
    assert lines[0] == '"System Idle Process","0","Services","0","8 K"'
    assert all(re.fullmatch(r'"[^"]+","\d+","\w+","\d+","[\d,]+ K"', line) for line in lines if line)
    with_header = host.execute("tasklist /fo csv").stdout.split("\r\n")
    assert with_header[0] == '"Image Name","PID","Session Name","Session#","Mem Usage"'
    assert '"tasklist.exe"' in r.stdout  # the command sees itself
    r = host.execute("tasklist /bogus")
    assert r.exit_code == 1 and r.stderr.startswith("ERROR: Invalid argument/option - '/bogus'.")


def test_tasklist_german_units(fleet):
    de = next(h for h in fleet.hosts if h.state.locale == "de-DE")
    lines = de.execute("tasklist /fo csv").stdout.split("\r\n")
    assert lines[0] == '"Abbildname","PID","Sitzungsname","Sitz.-Nr.","Speichernutzung"'
    big = [line for line in lines[1:] if line and int(line.rsplit('"', 2)[1].split()[0].replace(".", "")) >= 1000]
    assert big and all(re.search(r'"\d{1,3}(\.\d{3})+ K"$', line) for line in big)
