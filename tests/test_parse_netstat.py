"""netstat -ano / -anoq parsing on recorded Windows outputs (sources: tests/data/windows/README-diagnose.md)."""

from collections import Counter
from pathlib import Path

import pytest

from portfleet.parse.netstat import Conn, normalize_state, parse_netstat

DATA = Path(__file__).parent / "data" / "windows"


def read(name: str) -> str:
    # newline="" keeps the CRLF Windows printed: the parser must cope with it, not the test.
    return (DATA / name).open(encoding="utf-8", newline="").read()


def test_samples_keep_their_crlf():
    for name in ("netstat-ano-win10.txt", "netstat-an-de-DE.txt", "netstat-ano-fr-FR.txt"):
        assert "\r\n" in read(name), name


def test_windows_10_capture_every_row_with_pid_ipv6_and_udp():
    conns = parse_netstat(read("netstat-ano-win10.txt"))
    assert len(conns) == 208  # every TCP/UDP line of the capture; headers skipped
    assert conns[0] == Conn("TCP", "0.0.0.0", 135, "0.0.0.0", 0, "LISTENING", 1712)
    assert Counter(c.proto for c in conns) == {"UDP": 137, "TCP": 71}
    # IPv6 listeners: brackets dropped, the port after the last colon.
    v6 = next(c for c in conns if c.local_addr == "::" and c.local_port == 49664)
    assert (v6.remote_addr, v6.remote_port, v6.state, v6.pid) == ("::", 0, "LISTENING", 1428)
    # Link-local UDP with a zone index, wider than its column: still one endpoint.
    last = conns[-1]
    assert last == Conn("UDP", "fe80::f5d1:8bf7:c410:e325%64", 52284, "*", None, "", 8844)
    assert all(c.state == "" for c in conns if c.proto == "UDP")


def test_b_switch_lines_are_not_rows():
    conns = parse_netstat(read("netstat-anob-win10.txt"))
    # "[svchost.exe]", "RpcSs", "Can not obtain ownership information" lines are skipped.
    assert len(conns) == 318
    assert {c.proto for c in conns} == {"TCP", "UDP"}
    assert Counter(c.state for c in conns if c.proto == "TCP")["CLOSE_WAIT"] == 6


def test_german_state_names_are_translated_back():
    """de-DE netstat translates the state column (ABHÖREN, HERGESTELLT, WARTEND, SCHLIESSEN_WARTEN);
    this capture even carries the Ö mangled to ™ by a code page mix-up, as pasted from a console."""
    conns = parse_netstat(read("netstat-an-de-DE.txt"))
    states = Counter(c.state for c in conns if c.proto == "TCP")
    assert states == {"ESTABLISHED": 56, "LISTENING": 20, "CLOSE_WAIT": 7, "TIME_WAIT": 5, "FIN_WAIT_2": 4}
    assert all(c.pid is None for c in conns)  # `netstat -an`: no PID column
    listener = next(c for c in conns if c.local_port == 3389 and c.local_addr == "0.0.0.0")
    assert listener.is_listening


def test_french_headers_english_states():
    """fr-FR translates the headers ("Connexions actives", "Adresse locale", "État") but not the states."""
    conns = parse_netstat(read("netstat-ano-fr-FR.txt"))
    tw = [c for c in conns if c.state == "TIME_WAIT"]
    assert len(tw) == 6 and {c.pid for c in tw} == {0} and {c.remote_port for c in tw} == {49350}
    close_wait = Counter(c.pid for c in conns if c.state == "CLOSE_WAIT")
    assert close_wait == {10160: 3, 10948: 2}


@pytest.mark.parametrize(
    "word, english",
    [
        ("ABHÖREN", "LISTENING"),
        ("ABH™REN", "LISTENING"),  # cp850 Ö read as cp1252
        ("ABHÃ–REN", "LISTENING"),  # UTF-8 Ö read as cp1252
        ("HERGESTELLT", "ESTABLISHED"),
        ("WARTEND", "TIME_WAIT"),
        ("SCHLIESSEN_WARTEN", "CLOSE_WAIT"),
        ("GEBUNDEN", "BOUND"),
        ("ESCUCHANDO", "LISTENING"),
        ("BOUND", "BOUND"),
        ("SYN_SENT", "SYN_SENT"),
        ("IN ASCOLTO", "IN ASCOLTO"),  # unknown: kept, upper-cased
    ],
)
def test_state_words(word, english):
    assert normalize_state(word) == english


def test_bound_rows_of_q_and_an_unknown_translated_listener():
    text = "\r\n".join([
        "",
        "Active Connections",
        "",
        "  Proto  Local Address          Foreign Address        State           PID",
        "  TCP    0.0.0.0:22             0.0.0.0:0              BOUND           4242",
        "  TCP    0.0.0.0:49999          0.0.0.0:0              LISTENING       900",
        "  TCP    127.0.0.1:3000         0.0.0.0:0              IN ASCOLTO      31",
        "  TCP    [::1]:5173             [::]:0                 ABHÖREN         77",
        "  UDP    0.0.0.0:500            *:*                                    5024",
        "",
    ])
    conns = parse_netstat(text)
    assert [c.state for c in conns] == ["BOUND", "LISTENING", "IN ASCOLTO", "LISTENING", ""]
    assert [c.pid for c in conns] == [4242, 900, 31, 77, 5024]
    # BOUND has the same zero foreign endpoint as a listener, and is none.
    assert [c.is_listening for c in conns] == [False, True, True, True, False]


def test_server_2003_layout_and_usage_text_without_rows():
    """2003: the same table without IPv6 rows; asked for -q it prints its usage text instead."""
    legacy = "\r\n".join([
        "",
        "Active Connections",
        "",
        "  Proto  Local Address          Foreign Address        State           PID",
        "  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING       692",
        "  TCP    10.20.0.22:1042        10.20.2.31:1433        TIME_WAIT       0",
        "  UDP    0.0.0.0:445            *:*                                    4",
        "",
    ])
    conns = parse_netstat(legacy)
    assert conns[1] == Conn("TCP", "10.20.0.22", 1042, "10.20.2.31", 1433, "TIME_WAIT", 0)
    usage = ("\r\nDisplays protocol statistics and current TCP/IP network connections.\r\n\r\n"
             "NETSTAT [-a] [-b] [-e] [-n] [-o] [-p proto] [-r] [-s] [-v] [interval]\r\n\r\n"
             "  -a            Displays all connections and listening ports.\r\n"
             "  -p proto      Shows connections for the protocol specified by proto; proto\r\n"
             "                may be any of: TCP, UDP, TCPv6, or UDPv6.\r\n")
    assert parse_netstat(usage) == []
    assert parse_netstat(None) == [] and parse_netstat("") == []


def test_fifty_thousand_rows_parse_well_under_a_second():
    import time

    rows = ["", "Active Connections", "", "  Proto  Local Address          Foreign Address        State           PID"]
    states = ["TIME_WAIT", "ESTABLISHED", "CLOSE_WAIT", "BOUND"]
    for i in range(50_000):
        rows.append(f"  TCP    10.0.0.5:{1025 + i % 64000:<5}        10.0.0.9:443           {states[i % 4]:<15} {4000 + i % 9}")
    text = "\r\n".join(rows)
    start = time.perf_counter()
    conns = parse_netstat(text)
    elapsed = time.perf_counter() - start
    assert len(conns) == 50_000
    assert elapsed < 1.0, f"{elapsed:.2f}s for 50,000 rows"
