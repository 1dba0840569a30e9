"""Every parser of host text is total and linear-time (DESIGN "Rules that matter": host output is
untrusted input; one host's garbage must never cost the others their results).

Two checks per parser, both part of the normal run:

1. Totality, with hypothesis: arbitrary text, and real captured outputs (tests/data/windows, the Linux
   samples of test_ssh_parse) mutated the way a broken console, a hostile host or a cut connection
   mutates them: CRLF/CR/LF changes, NULs and control characters, huge and non-ASCII numbers, very long
   lines, repeated and dropped lines. Nothing may raise, and every result must have the documented type
   (ports within 0-65535, PIDs ints, dates convertible between zones, bounded details...).
2. Complexity: adversarial inputs (runs of spaces, digits, colons, TABs, brackets, repeated labels,
   one huge line, many lines) at n = 50,000 characters and at 8n. A linear parser takes about 8 times
   as long on the big input, a quadratic one about 64 times. The test fails only when the big input
   takes more than 30 times the small one AND more than a second: this is a check of how the time
   GROWS, not a speed target. The ratio keeps a slow or busy machine from failing a linear parser,
   and the one-second floor keeps timer noise on a few milliseconds (a GC pause, another process)
   from failing a fast one. The big input runs in a forked child that is killed once it has clearly
   failed, so a quadratic regression fails in seconds instead of hanging the suite.
"""

from __future__ import annotations

import multiprocessing
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portfleet.diagnose.collect import S_EVENTS, S_EVENTS_DAY, S_NETSTAT, S_TASKLIST, build_collected
from portfleet.diagnose.linux import parse_reserved
from portfleet.facts import FACT_SECTIONS, LINUX_FACT_SECTIONS, HostFacts, local_to_utc, parse_facts, parse_linux_facts
from portfleet.parse import net_statistics, netsh, netstat, reg, sections, ss, sysctl, tasklist, ver, wevtutil
from portfleet.parse.dates import zone_safe
from portfleet.parse.numbers import ascii_hex, ascii_int
from portfleet.settings import CATALOGUE, SHOWN_CHARS, PortRange, Reading, ReadStatus
from test_ssh_parse import LINUX_READ, SS_TANP

DATA = Path(__file__).parent / "data" / "windows"

settings.register_profile(
    "parsers", max_examples=200, deadline=None, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile("parsers")


def samples(prefix: str) -> list[str]:
    return [p.read_text(encoding="utf-8", errors="replace") for p in sorted(DATA.glob(f"{prefix}*.txt"))]


SYSCTL_SAMPLES = [
    "32768\t60999\n/etc/sysctl.d/90-portfleet.conf:net.ipv4.ip_local_port_range = 10000 65535\n"
    "/etc/sysctl.conf:net/ipv4/ip_local_port_range=1024 65535\n",
    "2\n", "60\n/etc/sysctl.d/90-portfleet.conf:net.ipv4.tcp_fin_timeout = 30\n",
    "sysctl: cannot stat /proc/sys/net/ipv4/tcp_tw_reuse: No such file or directory\n",
    "# comment\n; comment\n-net.ipv4.tcp_tw_reuse=1\n net/ipv4/tcp_fin_timeout = 30 \n",
]
SAMPLES = {
    "reg": samples("reg-"), "netsh": samples("netsh-"), "netstat": samples("netstat-"),
    "tasklist": samples("tasklist-"), "ver": samples("ver-"), "wevtutil": samples("wevtutil-"),
    "net_statistics": samples("net-statistics-"), "ss": [SS_TANP], "sysctl": SYSCTL_SAMPLES,
    "reserved": ["8080,9148,10000-10005", ""], "linux": [LINUX_READ],
}

# ---- mutations ------------------------------------------------------------------------------------
HOSTILE_PIECES = [
    "\r\n", "\r", "\n", "\x00", "\x1b[31m", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\ufeff", "\u200e",
    "²", "³", "٣", "１", "٤٩١٥٢", "9" * 5000, "-" * 50, ":", "[", "]", '"', "\\", "*", "%", "(", "((\"",
    "\t" * 200, " " * 3000, "0x" + "f" * 40, "PORTFLEET:BEGIN:x ", "PORTFLEET:END", "REG_DWORD",
    "Event[0]:", "  Date: 9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00", "users:((",
]
HOSTILE_NUMBERS = ["9" * 4400, "²", "٤٩١٥٢", "0", "-1", "99999999999", "1_000", " 1 ", "", "0x", "65536", "00"]
_DIGIT_RUN = re.compile(r"[0-9]+")


@st.composite
def mutated(draw: st.DrawFn, texts: list[str]) -> str:
    """A real sample with a few of the mutations a broken or hostile host produces."""
    text = draw(st.sampled_from(texts))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(("insert", "number", "dup", "drop", "cut", "eol", "case", "join", "repeat")))
        lines = text.splitlines(keepends=True)
        if op == "insert":
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(st.sampled_from(HOSTILE_PIECES)) + text[at:]
        elif op == "number":
            runs = list(_DIGIT_RUN.finditer(text))
            if runs:
                m = runs[draw(st.integers(0, len(runs) - 1))]
                text = text[:m.start()] + draw(st.sampled_from(HOSTILE_NUMBERS)) + text[m.end():]
        elif op in ("dup", "drop") and lines:
            i = draw(st.integers(0, len(lines) - 1))
            lines[i:i + 1] = [lines[i]] * (draw(st.integers(2, 50)) if op == "dup" else 0)
            text = "".join(lines)
        elif op == "cut":
            text = text[:draw(st.integers(0, len(text)))]
        elif op == "eol":
            eol = draw(st.sampled_from(("\n", "\r", "\r\n", "\r\r\n", "\x00")))
            text = text.replace("\r\n", "\n").replace("\n", eol)
        elif op == "case":
            text = text.upper() if draw(st.booleans()) else text.lower()
        elif op == "join":
            text = text.replace("\r", "").replace("\n", draw(st.sampled_from(("", " ", "\t"))))
        elif op == "repeat":
            text = text * draw(st.integers(2, 20))
    return text


STRUCTURAL = " \t\r\n\x00:;[]\"'()=,.*%/\\-+_#!0123456789²٣TZxREGPORTFLEET"


def host_text(kind: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=400),
        # Lone surrogates too: a decoder with errors="surrogateescape" leaves them in host text.
        st.text(alphabet=st.characters(exclude_categories=()), max_size=100),
        st.text(alphabet=STRUCTURAL, max_size=400),
        mutated(SAMPLES[kind]),
    )


# ---- result checks (the documented types) -------------------------------------------------------
def is_port(value: object) -> bool:
    return type(value) is int and 0 <= value <= 65535


def check_conn(c: Any) -> None:
    assert isinstance(c, netstat.Conn) and c.proto in ("TCP", "UDP")
    assert isinstance(c.local_addr, str) and is_port(c.local_port)
    assert isinstance(c.remote_addr, str) and (c.remote_port is None or is_port(c.remote_port))
    assert isinstance(c.state, str) and (c.pid is None or (type(c.pid) is int and 0 <= c.pid < 2**32))
    assert isinstance(c.is_listening, bool)


def check_process(pid: object, p: Any) -> None:
    assert type(pid) is int and 0 <= pid < 2**32 and isinstance(p, tasklist.Process) and p.pid == pid
    assert isinstance(p.name, str) and p.name and isinstance(p.session, str)
    assert p.mem_kb is None or (type(p.mem_kb) is int and 0 <= p.mem_kb < 10**15)
    assert p.session_id is None or (type(p.session_id) is int and p.session_id >= 0)


def check_date(value: object) -> None:
    """A parsed date is None or convertible: UTC offsets up to a day cannot overflow it."""
    if value is None:
        return
    assert isinstance(value, datetime) and zone_safe(value)
    if value.tzinfo is not None:
        assert value.utcoffset() == timedelta(0)
    value.replace(tzinfo=None) + timedelta(days=1)
    value.replace(tzinfo=None) - timedelta(days=1)


def check_range(r: object) -> None:
    assert r is None or (isinstance(r, PortRange) and 1 <= r.start and 1 <= r.num and r.end <= 65535)


def check_reg(values: object) -> None:
    assert isinstance(values, dict)
    for name, v in values.items():
        assert isinstance(v, reg.RegValue) and v.name == name and v.type.startswith("REG_")
        assert isinstance(v.value, (int, str, list)) and isinstance(v.key, str)
        if isinstance(v.value, int):
            assert 0 <= v.value < 2**64
        if isinstance(v.value, list):
            assert all(isinstance(s, str) for s in v.value)


def check_events(events: object) -> None:
    assert isinstance(events, list)
    for e in events:
        assert isinstance(e, wevtutil.Event) and type(e.id) is int and 0 <= e.id < 10**5
        assert isinstance(e.source, str) and isinstance(e.level, str) and isinstance(e.message, str)
        check_date(e.date)


def check_facts(f: object) -> None:
    assert isinstance(f, HostFacts) and all(isinstance(n, str) for n in f.notes)
    for part in (f.major, f.minor, f.build, f.revision):
        assert part is None or (type(part) is int and 0 <= part < 10**9)
    assert f.boot_time is None or (f.boot_time.tzinfo is not None and f.boot_time.utcoffset() == timedelta(0))
    if f.boot_time is not None:
        f.boot_time.isoformat()
    assert f.tz_bias_minutes is None or abs(f.tz_bias_minutes) <= 24 * 60
    assert f.date_order in (None, "MDY", "DMY", "YMD", "DYM", "MYD", "YDM")
    assert isinstance(f.os_label, str) and isinstance(f.version_known, bool)
    assert isinstance(f.supports_netstat_q, bool) and isinstance(f.supports_short_timed_wait, bool)
    kv = f.kernel_version
    assert kv is None or (len(kv) == 2 and all(type(x) is int for x in kv))


def check_reading(setting: Any, r: object) -> None:
    assert isinstance(r, Reading) and isinstance(r.status, ReadStatus) and isinstance(r.detail, str)
    # Setting.parse's safety net (catch-all) must never be what answered: the parsers are total.
    assert not r.detail.startswith(f"could not parse {setting.key}:"), r.detail
    for value in (r.value, r.effective):
        assert value is None or isinstance(value, (int, PortRange))
        if isinstance(value, PortRange):
            check_range(value)
        elif value is not None:
            assert type(value) is int and abs(value) < 10**20
    # A detail quotes host text cut to SHOWN_CHARS; the rest of it is ours (a few hundred characters).
    assert len(r.detail) <= 3 * SHOWN_CHARS + 400, len(r.detail)


def _list_of(check: Callable[[Any], None]) -> Callable[[Any], None]:
    def run(items: Any) -> None:
        assert isinstance(items, list)
        for item in items:
            check(item)
    return run


def check_excluded(rows: object) -> None:
    assert isinstance(rows, list)
    for start, end, administered in rows:  # type: ignore[misc]
        assert is_port(start) and is_port(end) and start <= end and isinstance(administered, bool)


def check_ss(result: Any) -> None:
    conns, processes = result
    _list_of(check_conn)(conns)
    for pid, p in processes.items():
        assert type(pid) is int and p.pid == pid and isinstance(p.name, str)


def check_sections(found: object) -> None:
    assert isinstance(found, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in found.items())


def check_reserved(found: object) -> None:
    assert found is None or (isinstance(found, list) and (check_excluded(found) is None))


def check_collected(c: Any) -> None:
    _list_of(check_conn)(c.conns)
    for pid, p in c.processes.items():
        check_process(pid, p)
    check_events(c.events)
    assert type(c.exhaustion_last_day) is int and all(isinstance(n, str) for n in c.notes)
    for rows in c.excluded.values():
        check_excluded(rows)


# ---- the parsers ----------------------------------------------------------------------------------
MODERN = parse_facts({"facts.ver": "Microsoft Windows [Version 10.0.20348.2340]"})
LEGACY = parse_facts({"facts.ver": "Microsoft Windows [Version 5.2.3790]"})
UNKNOWN = parse_facts({})
LINUX = parse_linux_facts({"facts.uname": "Linux 6.1.0-27-amd64"})
AT = datetime(2026, 11, 21, tzinfo=timezone.utc)


def _windows_read(text: str) -> dict[str, str]:
    return {name: text for name in FACT_SECTIONS}


def _collected(text: str) -> Any:
    found = {name: text for name in (S_NETSTAT, S_TASKLIST, S_EVENTS, S_EVENTS_DAY)}
    found.update({f"diag.excluded.{f}.{p}": text for f in ("ipv4", "ipv6") for p in ("tcp", "udp")})
    return build_collected(MODERN, {}, found, days=7, at=AT)


def _statistics(text: str) -> Any:
    return [net_statistics.parse_statistics_since(text, order) for order in (None, "MDY", "DMY", "YMD")]


def _check_all(check: Callable[[Any], None]) -> Callable[[Any], None]:
    return lambda results: [check(r) for r in results] and None


def _ver(text: str) -> Any:
    found = ver.parse_ver(text)
    return found, ver.version_tuple(found)


def _check_ver(result: Any) -> None:
    found, parts = result
    assert found is None or (isinstance(found, str) and len(found) < 60)
    assert parts is None or (len(parts) == 4 and all(type(p) is int for p in parts))


# name -> (function of one host text, check of its result, sample kind, tokens for the complexity shapes)
PARSERS: dict[str, tuple[Callable[[str], Any], Callable[[Any], None], str, tuple[str, ...]]] = {
    "split_sections": (sections.split_sections, check_sections, "linux", ("PORTFLEET:BEGIN:a ", "PORTFLEET:END")),
    "parse_reg_query": (reg.parse_reg_query, check_reg, "reg", ("REG_DWORD", "HKLM\\x")),
    "reg.error_lines": (reg.error_lines, _list_of(lambda m: isinstance(m, str) or pytest.fail(m)), "reg",
                        ("ERROR:", "Erreur :")),
    "reg.only_errors": (reg.only_errors, lambda b: isinstance(b, bool) or pytest.fail(b), "reg", ("ERROR:", "! REG.EXE")),
    "reg.key_lines": (reg.key_lines, _list_of(lambda m: isinstance(m, str) or pytest.fail(m)), "reg", ("HKLM\\",)),
    "parse_dynamicport": (netsh.parse_dynamicport, check_range, "netsh", ("Start Port :", "a")),
    "parse_excludedportrange": (netsh.parse_excludedportrange, check_excluded, "netsh", ("1", "*")),
    "netsh.command_not_found": (netsh.command_not_found, lambda b: isinstance(b, bool) or pytest.fail(b), "netsh",
                                (": int ipv4", ": interface")),
    "parse_netstat": (netstat.parse_netstat, _list_of(check_conn), "netstat", ("TCP", "0.0.0.0:0", "[::]:")),
    "parse_tasklist_csv": (tasklist.parse_tasklist_csv, lambda d: [check_process(k, v) for k, v in d.items()] and None,
                           "tasklist", ('"', '"a","1",')),
    "parse_ss": (ss.parse_ss, check_ss, "ss", ("ESTAB", "users:((\"a\",pid=1,fd=2)", '("')),
    "parse_sysctl_value": (sysctl.parse_sysctl_value,
                           lambda v: v is None or all(type(x) is int for x in v) or pytest.fail(v), "sysctl", ("1", "-")),
    "parse_sysctl_read": (lambda t: sysctl.parse_sysctl_read(t, "net.ipv4.ip_local_port_range"),
                          lambda r: isinstance(r, sysctl.SysctlRead) or pytest.fail(r), "sysctl",
                          ("/etc/sysctl.d/a.conf:net.ipv4.ip_local_port_range=", "=")),
    "parse_conf": (sysctl.parse_conf, check_sections, "sysctl", ("=", "-")),
    "parse_ver": (_ver, _check_ver, "ver", ("[", "10.0.")),
    "parse_events_text": (wevtutil.parse_events_text, check_events, "wevtutil", ("Event[0]:", "  Date:", "  a: 1")),
    "parse_iso_time": (wevtutil.parse_iso_time, check_date, "wevtutil", ("2026-01-01T00:00:00", "1111 - ")),
    "parse_statistics_since": (_statistics, _check_all(check_date), "net_statistics", ("1/1/2026 ", "1.")),
    "date_order_from_short_date": (net_statistics.date_order_from_short_date,
                                   lambda o: o in (None, "MDY", "DMY", "YMD", "DYM", "MYD", "YDM") or pytest.fail(o),
                                   "net_statistics", ("'", "d")),
    "parse_facts": (lambda t: parse_facts(_windows_read(t)), check_facts, "wevtutil", ("Event[0]:", "REG_DWORD")),
    "parse_linux_facts": (lambda t: parse_linux_facts({n: t for n in LINUX_FACT_SECTIONS}), check_facts, "linux",
                          ("btime ", "PRETTY_NAME=")),
    "parse_reserved": (parse_reserved, check_reserved, "reserved", ("1-", ",")),
    "build_collected": (_collected, check_collected, "netstat", ("TCP", "Event[0]:")),
}
SETTING_KIND = {"registry": "reg", "dynamicport": "netsh", "sysctl": "sysctl", "sysctl_range": "sysctl"}
SETTING_FACTS = {"windows": (MODERN, LEGACY, UNKNOWN), "linux": (LINUX, None)}


# ---- 1. totality ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(PARSERS))
def test_parser_is_total(name: str) -> None:
    fn, check, kind, _ = PARSERS[name]

    @FUZZ
    @given(text=host_text(kind))
    def run(text: str) -> None:
        check(fn(text))

    run()


@pytest.mark.parametrize("key", sorted(CATALOGUE))
def test_setting_parse_is_total(key: str) -> None:
    setting = CATALOGUE[key]

    @FUZZ
    @given(text=host_text(SETTING_KIND[setting.kind]), facts=st.sampled_from(SETTING_FACTS[setting.platform]))
    def run(text: str, facts: HostFacts | None) -> None:
        check_reading(setting, setting.parse(text, facts))  # type: ignore[arg-type]

    run()


@FUZZ
@given(sections_text=st.fixed_dictionaries({
    "facts.ver": host_text("ver"), "facts.boot": host_text("wevtutil"), "facts.boot_net": host_text("net_statistics"),
    "facts.tzbias": host_text("reg"), "facts.intl": host_text("reg"), "facts.reboot_cbs": host_text("reg"),
    "facts.reboot_wu": host_text("reg"), "facts.reboot_pfro": host_text("reg"),
}))
def test_facts_from_a_whole_read_are_total(sections_text: dict[str, str]) -> None:
    facts = parse_facts(sections_text)
    check_facts(facts)
    # Every date a parser gives converts with every bias a host may report.
    for bias in (None, -24 * 60, 24 * 60, 2**31 - 1):
        for date in [e.date for e in wevtutil.parse_events_text(sections_text["facts.boot"])] + \
                _statistics(sections_text["facts.boot_net"]):
            if date is not None:
                assert local_to_utc(date, bias, facts, "a date").tzinfo is not None


@FUZZ
@given(text=st.one_of(st.text(max_size=30), st.from_regex(r"-?[0-9]{1,25}", fullmatch=True),
                      st.from_regex(r"0[xX][0-9a-fA-F_]{0,20}", fullmatch=True)),
       max_digits=st.integers(1, 25))
def test_numbers_are_plain_bounded_ascii(text: str, max_digits: int) -> None:
    plain = text.isascii() and text.isdigit() and len(text) <= max_digits
    assert ascii_int(text, max_digits) == (int(text) if plain else None)
    negative = text[:1] == "-" and text[1:].isascii() and text[1:].isdigit() and len(text) - 1 <= max_digits
    assert ascii_int(text, max_digits, signed=True) == (int(text) if plain or negative else None)
    hexa = text[:2] in ("0x", "0X") and 0 < len(text) - 2 <= 16 and all(c in "0123456789abcdefABCDEF" for c in text[2:])
    assert ascii_hex(text) == (int(text, 16) if hexa else None)


# ---- 2. complexity --------------------------------------------------------------------------------
N = 50_000
GROWTH = 8
MAX_RATIO = 30  # linear ~8x, quadratic ~64x
MIN_SECONDS = 1.0


def _fill(piece: str, n: int) -> str:
    return (piece * (n // max(len(piece), 1) + 1))[:n]


GENERIC_SHAPES: dict[str, Callable[[int], str]] = {
    "spaces": lambda n: " " * n,
    "tabs": lambda n: "\t" * n,
    "digits": lambda n: "1" * n,
    "colons": lambda n: ":" * n,
    "brackets": lambda n: "[" * n,
    "quotes": lambda n: '"' * n,
    "words": lambda n: _fill("a ", n),
    "x-spaces-x": lambda n: "x" + " " * n + "x",
    "indented-spaces": lambda n: "  x" + " " * n + "x",
    "label-colon-spaces": lambda n: "  x: " + " " * n + "x",
    "numbers-spaces": lambda n: "1 1" + " " * n + "x",
    "digit-groups": lambda n: _fill("1.1/", n),
    "many-lines": lambda n: _fill("x\r\n", n),
    "blank-lines": lambda n: _fill("\r\n", n),
}


def shapes(name: str) -> dict[str, Callable[[int], str]]:
    _, _, kind, tokens = PARSERS[name]
    found = dict(GENERIC_SHAPES)
    for token in tokens:
        found[f"{token!r} repeated"] = lambda n, t=token: _fill(t + " ", n)
        found[f"{token!r} per line"] = lambda n, t=token: _fill(t + "\r\n", n)
        found[f"{token!r} spaces {token!r}"] = lambda n, t=token: "  " + t + " " * n + t
    sample = max(SAMPLES[kind], key=len)
    found["sample repeated"] = lambda n: _fill(sample, n)
    found["sample as one line"] = lambda n: _fill(sample.replace("\r", "").replace("\n", " "), n)
    return found


def _cpu_time(fn: Callable[[str], Any], text: str) -> float:
    # CPU time of this process: other processes on a shared machine do not count.
    start = time.process_time()
    fn(text)
    return time.process_time() - start


def _child(fn: Callable[[str], Any], text: str, conn: Any) -> None:
    conn.send(_cpu_time(fn, text))


def _timed_with_limit(fn: Callable[[str], Any], text: str, limit: float) -> float:
    """CPU seconds of fn(text) in a forked child, or inf once `limit` CPU seconds have surely passed."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(fn, text, send), daemon=True)
    child.start()
    send.close()
    # Waited for in wall-clock time: three times the CPU limit leaves room for a busy machine.
    took = receive.recv() if receive.poll(3 * limit + 1) else float("inf")
    child.kill()
    child.join()
    receive.close()
    return took


def growth_failure(fn: Callable[[str], Any], make: Callable[[int], str], n: int = N) -> str | None:
    """None when fn's time grows acceptably up to GROWTH*n characters; else what was measured.

    Sizes n/64, n/8, n and 8n are measured in turn, each step judged like the last (more than
    MAX_RATIO times the previous size's time AND more than MIN_SECONDS fails): a quadratic parser
    fails at the first step where it passes a second, instead of running for minutes on 8n. A step
    that could take seconds runs in a forked child, killed once it has clearly failed."""
    sizes = [n // GROWTH ** 2, n // GROWTH, n, GROWTH * n]
    previous = min(_cpu_time(fn, make(sizes[0])) for _ in range(2))
    for smaller, size in zip(sizes, sizes[1:]):
        text = make(size)
        limit = max(MIN_SECONDS, MAX_RATIO * previous)
        if previous * GROWTH ** 2 < 0.5 * MIN_SECONDS:
            took = min(_cpu_time(fn, text) for _ in range(2 if size < n else 1))  # even quadratic stays quick
        else:
            took = _timed_with_limit(fn, text, limit)
        if took > limit:
            shown = "killed after" if took == float("inf") else f"{took:.2f} s"
            return (f"{smaller:,} chars: {previous * 1000:.1f} ms; {size:,} chars: {shown} "
                    f"(> {MAX_RATIO}x and > {MIN_SECONDS:g} s)")
        previous = took
    return None


def assert_linear(fn: Callable[[str], Any], make: Callable[[int], str], n: int = N) -> None:
    failure = growth_failure(fn, make, n)
    assert failure is None, failure


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_parser_time_grows_linearly(name: str) -> None:
    fn = PARSERS[name][0]
    failures = {shape: f for shape, make in shapes(name).items() if (f := growth_failure(fn, make)) is not None}
    assert not failures, f"{name} is super-linear on: {failures}"


@pytest.mark.parametrize("key", sorted(CATALOGUE))
def test_setting_parse_time_grows_linearly(key: str) -> None:
    setting = CATALOGUE[key]
    facts = SETTING_FACTS[setting.platform][0]
    kind = SETTING_KIND[setting.kind]
    tokens = {"reg": ("REG_DWORD", "ERROR:"), "netsh": ("Start Port :", ": int ipv4"),
              "sysctl": ("/etc/sysctl.d/90-portfleet.conf:" + key + "=", "1")}[kind]
    makers = dict(GENERIC_SHAPES)
    for token in tokens:
        makers[f"{token!r} per line"] = lambda n, t=token: _fill(t + " 1\r\n", n)
        makers[f"{token!r} spaces"] = lambda n, t=token: "  " + t + " " * n + "x"
    failures = {shape: f for shape, make in makers.items()
                if (f := growth_failure(lambda t: setting.parse(t, facts), make)) is not None}  # type: ignore[arg-type]
    assert not failures, f"{key} parse is super-linear on: {failures}"


@given(data=st.binary(max_size=400), head=st.sampled_from([b"", b"\x05\x04", b"\x05\x03", b"\x05\x04\x00\x0c"]))
@settings(max_examples=300, deadline=None, derandomize=True)
def test_ccache_reader_is_total(tmp_path_factory, data, head):
    """The credential-cache reader (Kerberos renewal) over any bytes: an end time or None, nothing else."""
    from portfleet.transport.ccache import tgt_expiry

    path = tmp_path_factory.mktemp("cc") / "tkt"
    path.write_bytes(head + data)
    got = tgt_expiry(path)
    assert got is None or isinstance(got, float)
