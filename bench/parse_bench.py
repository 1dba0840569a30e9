"""How fast the parsers of host text are, on large real-shaped outputs and on hostile ones. Figures only.

    python bench/parse_bench.py [ROWS] [REPEAT] [--before REV]

1. The 50,000-row `netstat -anoq` table (ROWS rows): the exact layout Windows prints (CRLF, padded
   columns, PID column), with the mix an exhausted host shows: TIME_WAIT (PID 0), CLOSE_WAIT and
   BOUND held by one process, some ESTABLISHED, IPv6 and UDP rows.
2. Throughput of every parser on a few MB of its own kind of output (real samples from
   tests/data/windows repeated, or generated rows), in MB/s: the best of REPEAT runs (the others paid
   for warm-up and the GC).
3. Hostile lines (issue 12): a line of 20,000 and of 160,000 spaces, brackets or words, in seconds.
   A linear parser takes about 8 times as long on the longer line, a quadratic one about 64 times.
   Each runs in its own process, stopped after CAP seconds.

With --before REV (a git revision, e.g. the commit before the parse hardening) the same figures are
taken from that revision's src/ (extracted to a temporary directory) and shown beside today's.
Nothing is asserted: tests/test_fuzz_parsers.py checks growth; this shows speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "windows"
CAP = 20.0  # seconds a hostile case may run before it is stopped
SIZE = 4_000_000  # characters of each throughput input


def table(rows: int) -> str:
    lines = ["", "Active Connections", "", "  Proto  Local Address          Foreign Address        State           PID"]
    for i in range(rows):
        port = 10000 + i % 55536
        kind = i % 10
        if kind < 4:
            lines.append(f"  TCP    {'10.20.0.19:%d' % port:<22} {'10.20.5.40:443':<22} {'TIME_WAIT':<15} 0")
        elif kind < 6:
            lines.append(f"  TCP    {'10.20.0.19:%d' % port:<22} {'10.20.5.40:443':<22} {'CLOSE_WAIT':<15} 6148")
        elif kind < 8:
            lines.append(f"  TCP    {'0.0.0.0:%d' % port:<22} {'0.0.0.0:0':<22} {'BOUND':<15} 6148")
        elif kind == 8:
            lines.append(f"  TCP    {'[fe80::1%%9]:%d' % port:<22} {'[fe80::2%%9]:445':<22} {'ESTABLISHED':<15} 4")
        else:
            lines.append(f"  UDP    {'0.0.0.0:%d' % port:<22} {'*:*':<22} {'':<15} 1392")
    return "\r\n".join(lines) + "\r\n"


def _sample(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def _repeat(text: str, size: int = SIZE) -> str:
    return text * (size // max(len(text), 1) + 1)


def _tasklist(size: int = SIZE) -> str:
    row = '"svchost.exe","{pid}","Services","0","28,256 K"\r\n'
    return "".join(row.format(pid=i) for i in range(size // len(row) + 1))


def _ss(size: int = SIZE) -> str:
    row = 'ESTAB 0      0      10.0.0.5:{port}   10.0.0.9:443   users:(("python3",pid=24319,fd=7))\n'
    return "".join(row.format(port=10000 + i % 50000) for i in range(size // len(row) + 1))


def _reg(size: int = SIZE) -> str:
    row = "    Value{i}    REG_DWORD    0x{i:x}\r\n"
    return "\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\X\r\n" + "".join(row.format(i=i) for i in range(size // len(row) + 1))


def _excluded(size: int = SIZE) -> str:
    row = "     {a:5}       {a:5}     *\r\n"
    return "".join(row.format(a=1 + i % 65000) for i in range(size // len(row) + 1))


def _sysctl_conf(size: int = SIZE) -> str:
    row = "net.ipv4.conf.eth{i}.forwarding = 1\n"
    return "".join(row.format(i=i) for i in range(size // len(row) + 1))


def _facts_read(size: int = SIZE) -> dict[str, str]:
    events = _repeat(_sample("wevtutil-kernel-general-12-en-US.txt"), size)
    return {"facts.ver": _sample("ver-en-US-win10.txt"), "facts.boot": events,
            "facts.boot_net": _sample("net-statistics-workstation-en-US.txt")}


def throughput_cases() -> dict[str, tuple[Callable[[Any], Any], Callable[[], Any]]]:
    """name -> (parser, input maker). Only functions that exist before and after the hardening."""
    from portfleet.facts import parse_facts
    from portfleet.parse.net_statistics import parse_statistics_since
    from portfleet.parse.netsh import parse_dynamicport, parse_excludedportrange
    from portfleet.parse.netstat import parse_netstat
    from portfleet.parse.reg import error_lines, parse_reg_query
    from portfleet.parse.sections import split_sections
    from portfleet.parse.ss import parse_ss
    from portfleet.parse.sysctl import parse_conf
    from portfleet.parse.tasklist import parse_tasklist_csv
    from portfleet.parse.ver import parse_ver
    from portfleet.parse.wevtutil import parse_events_text

    no_match = _repeat("Protocol tcp Dynamic Port Range, and no number here\r\n")  # scanned to the end
    return {
        "parse_netstat (netstat -anoq rows)": (parse_netstat, lambda: table(SIZE // 85)),
        "parse_tasklist_csv (rows)": (parse_tasklist_csv, _tasklist),
        "parse_ss (ss -tanp rows)": (parse_ss, _ss),
        "parse_reg_query (value lines)": (parse_reg_query, _reg),
        "reg.error_lines (error lines)": (error_lines, lambda: _repeat(_sample("reg-query-absent-fr-FR.txt"))),
        "parse_dynamicport (no number)": (parse_dynamicport, lambda: no_match),
        "parse_excludedportrange (rows)": (parse_excludedportrange, _excluded),
        "parse_events_text (wevtutil events)": (parse_events_text, lambda: _repeat(_sample("wevtutil-security-ws2022.txt"))),
        "parse_statistics_since (no date)": (parse_statistics_since, lambda: no_match),
        "parse_ver (no version)": (parse_ver, lambda: no_match),
        "parse_conf (sysctl.d lines)": (parse_conf, _sysctl_conf),
        "split_sections (batched read)": (
            split_sections, lambda: "".join(f"PORTFLEET:BEGIN:s{i} \r\n{table(2000)}" for i in range(SIZE // 170_000))),
        "parse_facts (boot events)": (parse_facts, _facts_read),
    }


def hostile_cases() -> dict[str, tuple[Callable[[str], Any], Callable[[int], str]]]:
    from portfleet.parse.netsh import parse_dynamicport, parse_excludedportrange
    from portfleet.parse.reg import error_lines, parse_reg_query
    from portfleet.parse.ver import parse_ver
    from portfleet.parse.wevtutil import parse_events_text

    return {
        "reg.error_lines 'ERROR: x<spaces>x'": (error_lines, lambda n: "ERROR: x" + " " * n + "x"),
        "parse_reg_query '  x<spaces>x'": (parse_reg_query, lambda n: "  x" + " " * n + "x"),
        "parse_dynamicport 'a a a ...'": (parse_dynamicport, lambda n: "a " * (n // 2)),
        "parse_excludedportrange '1 1<spaces>x'": (parse_excludedportrange, lambda n: "1 1" + " " * n + "x"),
        "parse_events_text '  a: x<spaces>x'": (parse_events_text, lambda n: "Event[0]:\n  a: x" + " " * n + "x"),
        "parse_ver '[[[...'": (parse_ver, lambda n: "[" * n),
    }


def _size(value: Any) -> int:
    return sum(map(len, value.values())) if isinstance(value, dict) else len(value)


def measure_throughput(repeat: int) -> dict[str, float]:
    """MB/s per case, best of `repeat`."""
    out = {}
    for name, (parse, make) in throughput_cases().items():
        text = make()
        best = min(_timed(parse, text) for _ in range(repeat))
        out[name] = _size(text) / 1e6 / best
    return out


def _timed(fn: Callable[[Any], Any], arg: Any) -> float:
    start = time.perf_counter()
    fn(arg)
    return time.perf_counter() - start


def measure_hostile(src: Path) -> dict[str, list[float | None]]:
    """Seconds per hostile case at 20,000 and 160,000 characters; None when stopped after CAP."""
    out: dict[str, list[float | None]] = {}
    for name in hostile_cases():
        row: list[float | None] = []
        for n in (20_000, 160_000):
            try:
                proc = subprocess.run([sys.executable, __file__, "--one", name, str(n)], capture_output=True, text=True,
                                      timeout=CAP, env={"PYTHONPATH": str(src)}, check=True)
                row.append(float(proc.stdout))
            except subprocess.TimeoutExpired:
                row.append(None)
            if row[-1] is None:
                break  # the longer line would only take longer
        out[name] = row + [None] * (2 - len(row))
    return out


def figures(src: Path, rows: int, repeat: int) -> dict[str, Any]:
    """All figures for the tree whose package lives in `src`, taken in a fresh process."""
    proc = subprocess.run([sys.executable, __file__, "--throughput", str(rows), str(repeat)], capture_output=True,
                          text=True, env={"PYTHONPATH": str(src)}, check=True)
    data = json.loads(proc.stdout)
    data["hostile"] = measure_hostile(src)
    return data


def _netstat_figure(rows: int, repeat: int) -> dict[str, float]:
    from portfleet.parse.netstat import parse_netstat

    text = table(rows)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        conns = parse_netstat(text)
        best = min(best, time.perf_counter() - start)
    assert len(conns) == rows, (len(conns), rows)  # the table is what it should be, not a speed check
    return {"rows": rows, "mb": len(text) / 1e6, "ms": best * 1000, "rows_per_s": rows / best}


def _shown_seconds(value: float | None) -> str:
    return f"> {CAP:.0f} s" if value is None else f"{value:.3f} s"


def report(now: dict[str, Any], before: dict[str, Any] | None, rev: str | None, repeat: int) -> None:
    n = now["netstat"]
    print(f"parse_netstat: {n['rows']:,} rows ({n['mb']:.1f} MB) in {n['ms']:.1f} ms "
          f"= {n['rows_per_s']:,.0f} rows/s (best of {repeat})")
    if before:
        b = before["netstat"]
        print(f"  before ({rev}): {b['ms']:.1f} ms = {b['rows_per_s']:,.0f} rows/s")
    print(f"\nThroughput on ~{SIZE / 1e6:.0f} MB of each parser's own kind of output, MB/s (best of {repeat}):")
    head = f"  {'parser (input)':<40} {'now':>9}" + (f" {'before':>9}" if before else "")
    print(head)
    for name, mbs in now["throughput"].items():
        old = f" {before['throughput'].get(name, float('nan')):9.1f}" if before else ""
        print(f"  {name:<40} {mbs:9.1f}{old}")
    print(f"\nHostile lines, seconds at 20,000 / 160,000 characters (linear ~8x, quadratic ~64x; stopped after {CAP:.0f} s):")
    for name, (short, long) in now["hostile"].items():
        line = f"  {name:<40} now {_shown_seconds(short)} / {_shown_seconds(long)}"
        if before:
            b_short, b_long = before["hostile"][name]
            line += f"   before {_shown_seconds(b_short)} / {_shown_seconds(b_long)}"
        print(line)


def main(argv: list[str]) -> None:
    if argv[:1] == ["--one"]:  # child: one hostile case
        parse, make = hostile_cases()[argv[1]]
        print(_timed(parse, make(int(argv[2]))))
        return
    if argv[:1] == ["--throughput"]:  # child: netstat figure and throughput of one tree
        rows, repeat = int(argv[1]), int(argv[2])
        print(json.dumps({"netstat": _netstat_figure(rows, repeat), "throughput": measure_throughput(repeat)}))
        return
    rev = None
    if "--before" in argv:
        at = argv.index("--before")
        rev = argv[at + 1]
        argv = argv[:at] + argv[at + 2:]
    rows = int(argv[0]) if argv else 50_000
    repeat = int(argv[1]) if len(argv) > 1 else 5
    now = figures(ROOT / "src", rows, repeat)
    before = None
    if rev:
        with tempfile.TemporaryDirectory() as tmp:
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
            before = figures(Path(tmp) / "src", rows, repeat)
    report(now, before, rev, repeat)


if __name__ == "__main__":
    main(sys.argv[1:])
