"""Parse a generated 50,000-row `netstat -anoq` table and print how fast (rows/s, ms).

    python bench/parse_bench.py [ROWS] [REPEAT]

The table has the exact layout Windows prints (CRLF, padded columns, PID column), with the mix an
exhausted host shows: TIME_WAIT (PID 0), CLOSE_WAIT and BOUND held by one process, some ESTABLISHED,
IPv6 and UDP rows. The best of REPEAT runs is reported (the others paid for warm-up and the GC).
"""

from __future__ import annotations

import sys
import time

from portfleet.parse.netstat import parse_netstat


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


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    text = table(rows)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        conns = parse_netstat(text)
        best = min(best, time.perf_counter() - start)
    assert len(conns) == rows, (len(conns), rows)
    print(f"parse_netstat: {rows:,} rows ({len(text) / 1e6:.1f} MB) in {best * 1000:.1f} ms "
          f"= {rows / best:,.0f} rows/s (best of {repeat})")


if __name__ == "__main__":
    main()
