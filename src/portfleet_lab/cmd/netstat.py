"""netstat -a -n -o [-q] [-p proto], and the lazily generated TCP/UDP table behind it.

References:
- https://learn.microsoft.com/windows-server/administration/windows-commands/netstat (switches; -q "Displays
  all connections, listening ports, and bound nonlistening TCP ports", Windows 10 / Server 2016 and the
  2012 R2 update KB 3123245 per the port-exhaustion article in seeds/003).
- Layout "  Proto  Local Address          Foreign Address        State           PID" with columns
  "  %-5s  %-22s %-22s %-15s %s" (DESIGN.md sample; UDP rows leave State blank, foreign "*:*"); TIME_WAIT rows
  carry PID 0 (the socket no longer belongs to a process). Rows are ordered as GetTcpTable sorts them: TCP
  IPv4 by local address/port then remote, then TCP IPv6, UDP IPv4, UDP IPv6.
- German captures: "Aktive Verbindungen", "Lokale Adresse", "Remoteadresse", "Status", states ABHÖREN,
  HERGESTELLT, WARTEND (TIME_WAIT), with a one-character wider state column.
- An unknown switch makes netstat print its usage text (XP/2003 text as captured by `netstat /?`).

The table is never stored: it is rebuilt from TcpTable parameters (seed, counts, leak rates), the boot time,
the effective TcpTimedWaitDelay and the dynamic range, so 1,000 hosts cost no memory for their rows.
"""

from __future__ import annotations

import ipaddress
import random
from collections import Counter
from typing import Iterator

from .base import Ctx, Interpreter, Output, split_args
from .messages import lang
from ..clock import LabClock
from ..model import HostState

Row = tuple[str, str, int, str, int, str, int]  # proto, local ip, lport, remote ip, rport, state, pid


def _ip_key(ip: str) -> tuple[int, int]:
    if ip.startswith("["):
        return (6, int(ipaddress.IPv6Address(ip.strip("[]"))))
    if ip == "*":
        return (4, 0)
    return (4, int(ipaddress.IPv4Address(ip)))


def _effective_tw(state: HostState) -> int:
    v = state.effective.get("TcpTimedWaitDelay")
    return int(v) if v else 120


def plan_counts(state: HostState, clock: LabClock, now: float) -> dict[str, int]:
    """How many ephemeral ports each kind of connection holds right now (capped by the dynamic range)."""
    tcp = state.tcp
    r = state.ranges["ipv4 tcp"]
    uptime = max(0.0, now - state.boot_time) * clock.time_scale  # lab seconds since boot
    wanted: list[tuple[str, int]] = [
        ("established", tcp.established),
        # a fresh boot has no closed connections yet: the steady TIME_WAIT/CLOSE_WAIT rows of the host's own
        # services come back after a lab hour (resp. six), long enough for a controller to see a clean table
        ("close_wait", tcp.close_wait if uptime >= 6 * 3600 else 0),
        ("time_wait", tcp.time_wait if uptime >= 3600 else 0),
    ]
    if tcp.leak is not None:
        hours = uptime / 3600.0
        leak = tcp.leak
        wanted += [
            ("leak_established", 2),
            ("leak_close_wait", int(leak.close_wait_per_hour * hours)),
            ("leak_bound", int(leak.bound_per_hour * hours)),
            ("leak_time_wait", int(leak.connects_per_second * min(uptime, _effective_tw(state)))),
        ]
    free = r.num - len(_reserved(state))
    counts: dict[str, int] = {}
    for kind, n in wanted:
        take = max(0, min(n, free))
        counts[kind] = take
        free -= take
    counts["free"] = free
    return counts


def _reserved(state: HostState) -> set[int]:
    """Ports of the dynamic range that no connection may take (listeners, exclusions)."""
    r = state.ranges["ipv4 tcp"]
    lo, hi = r.start, r.end
    taken = {l.port for l in state.tcp.listeners if l.protocol == "TCP" and lo <= l.port <= hi}
    for ex in state.excluded:
        if ex.protocol == "tcp":
            for p in range(max(lo, ex.start), min(hi, ex.end) + 1):
                taken.add(p)
    return taken


def _ephemeral_ports(state: HostState, rng: random.Random, needed: int) -> Iterator[int]:
    """Distinct random ports of the dynamic range (never a reserved one), like the stack's random
    allocation: sampled while few are needed, a shuffled list of the whole range otherwise."""
    r = state.ranges["ipv4 tcp"]
    reserved = _reserved(state)
    if needed <= r.num // 4:
        used = set(reserved)
        while True:
            port = r.start + rng.randrange(r.num)
            if port not in used:
                used.add(port)
                yield port
    pool = [p for p in range(r.start, r.end + 1) if p not in reserved]
    rng.shuffle(pool)
    yield from pool


def rows(state: HostState, clock: LabClock, now: float) -> list[Row]:
    tcp = state.tcp
    rng = random.Random(tcp.seed)
    counts = plan_counts(state, clock, now)
    ports = _ephemeral_ports(state, rng, sum(v for k, v in counts.items() if k != "free"))
    local = tcp.local_ip
    out: list[Row] = []
    for l in tcp.listeners:
        if l.protocol == "TCP":
            remote = "[::]" if l.address.startswith("[") else "0.0.0.0"
            out.append(("TCP", l.address, l.port, remote, 0, "LISTENING", l.pid))
        else:
            out.append(("UDP", l.address, l.port, "*", 0, "", l.pid))
    peers = [(p.rsplit(":", 1)[0], int(p.rsplit(":", 1)[1])) for p in tcp.peers] or [("10.20.0.10", 445)]
    owners = tcp.established_pids or [4]

    def outbound(n: int, state_name: str, pid_of) -> None:
        for i in range(n):
            port = next(ports)
            rip, rport = peers[rng.randrange(len(peers))]
            out.append(("TCP", local, port, rip, rport, state_name, pid_of(i)))

    outbound(counts["established"], "ESTABLISHED", lambda i: owners[i % len(owners)])
    outbound(counts["close_wait"], "CLOSE_WAIT", lambda i: owners[0])
    outbound(counts["time_wait"], "TIME_WAIT", lambda i: 0)
    # inbound: clients on the role's service port, and the management host on WinRM
    service = next((l for l in tcp.listeners if l.protocol == "TCP" and l.port in (443, 1433, 8080, 80)), None)
    if service is not None:
        for i in range(2 + tcp.seed % 4):
            out.append(("TCP", local, service.port, f"10.20.9.{11 + i}", 49152 + rng.randrange(16384),
                        "ESTABLISHED", service.pid))
    out.append(("TCP", local, 5985, "10.20.0.5", 49152 + rng.randrange(16384), "ESTABLISHED", 4))
    if tcp.leak is not None:
        leak = tcp.leak
        for _ in range(counts["leak_established"]):
            out.append(("TCP", local, next(ports), leak.remote, leak.remote_port, "ESTABLISHED", leak.pid))
        for _ in range(counts["leak_close_wait"]):
            out.append(("TCP", local, next(ports), leak.remote, leak.remote_port, "CLOSE_WAIT", leak.pid))
        for _ in range(counts["leak_bound"]):
            out.append(("TCP", "0.0.0.0", next(ports), "0.0.0.0", 0, "BOUND", leak.pid))
        for _ in range(counts["leak_time_wait"]):
            out.append(("TCP", local, next(ports), leak.remote, leak.remote_port, "TIME_WAIT", 0))

    def order(row: Row) -> tuple:
        proto, lip, lport, rip, rport, _, _ = row
        fam, lkey = _ip_key(lip)
        return (proto != "TCP", fam, lkey, lport, _ip_key(rip)[1], rport)

    out.sort(key=order)
    return out


def summary(state: HostState, clock: LabClock, now: float) -> dict:
    """Counts by state (what to_json reports; computed without building the rows)."""
    counts = plan_counts(state, clock, now)
    by_state: Counter[str] = Counter()
    for l in state.tcp.listeners:
        by_state["LISTENING" if l.protocol == "TCP" else "UDP"] += 1
    by_state["ESTABLISHED"] += counts["established"] + counts.get("leak_established", 0)
    by_state["CLOSE_WAIT"] += counts["close_wait"] + counts.get("leak_close_wait", 0)
    by_state["TIME_WAIT"] += counts["time_wait"] + counts.get("leak_time_wait", 0)
    by_state["BOUND"] += counts.get("leak_bound", 0)
    r = state.ranges["ipv4 tcp"]
    return {
        "by_state": dict(by_state),
        "dynamic_range": {"start": r.start, "num": r.num},
        "ephemeral_free": counts["free"],
        "exhausted": counts["free"] <= 0,
        "leak": None if state.tcp.leak is None else {"pid": state.tcp.leak.pid, "process": state.tcp.leak.process},
    }


# ---------------------------------------------------------------- the netstat command


def _owner_line(host: HostState, pid: int) -> str:
    """-b: the image name under each row; PID 0/4 cannot be attributed to an executable."""
    if pid in (0, 4):
        return " Can not obtain ownership information\r\n"
    name = next((p.name for p in host.processes if p.pid == pid), None)
    return f" [{name}]\r\n" if name else " Can not obtain ownership information\r\n"

_STATES_DE = {"LISTENING": "ABH\u00d6REN", "ESTABLISHED": "HERGESTELLT", "TIME_WAIT": "WARTEND",
              "CLOSE_WAIT": "SCHLIESSEN_WARTEN", "BOUND": "GEBUNDEN"}


def _usage(modern: bool) -> str:
    if modern:
        synopsis = "NETSTAT [-a] [-b] [-e] [-f] [-n] [-o] [-p proto] [-q] [-r] [-s] [-t] [-x] [-y] [interval]"
    else:
        synopsis = "NETSTAT [-a] [-b] [-e] [-n] [-o] [-p proto] [-r] [-s] [-v] [interval]"
    opts = [
        ("-a", "Displays all connections and listening ports."),
        ("-b", "Displays the executable involved in creating each connection or\r\n"
               "                listening port. In some cases well-known executables host\r\n"
               "                multiple independent components, and in these cases the\r\n"
               "                sequence of components involved in creating the connection\r\n"
               "                or listening port is displayed. In this case the executable\r\n"
               "                name is in [] at the bottom, on top is the component it called,\r\n"
               "                and so forth until TCP/IP was reached. Note that this option\r\n"
               "                can be time-consuming and will fail unless you have sufficient\r\n"
               "                permissions."),
        ("-e", "Displays Ethernet statistics. This may be combined with the -s\r\n"
               "                option."),
    ]
    if modern:
        opts.append(("-f", "Displays Fully Qualified Domain Names (FQDN) for foreign\r\n"
                           "                addresses."))
    opts += [
        ("-n", "Displays addresses and port numbers in numerical form."),
        ("-o", "Displays the owning process ID associated with each connection."),
        ("-p proto", "Shows connections for the protocol specified by proto; proto\r\n"
                     "                may be any of: TCP, UDP, TCPv6, or UDPv6.  If used with the -s\r\n"
                     "                option to display per-protocol statistics, proto may be any of:\r\n"
                     "                IP, IPv6, ICMP, ICMPv6, TCP, TCPv6, UDP, or UDPv6."),
    ]
    if modern:
        opts.append(("-q", "Displays all connections, listening ports, and bound\r\n"
                           "                nonlistening TCP ports. Bound nonlistening ports may or may not\r\n"
                           "                be associated with an active connection."))
    opts += [
        ("-r", "Displays the routing table."),
        ("-s", "Displays per-protocol statistics.  By default, statistics are\r\n"
               "                shown for IP, IPv6, ICMP, ICMPv6, TCP, TCPv6, UDP, and UDPv6;\r\n"
               "                the -p option may be used to specify a subset of the default."),
    ]
    if modern:
        opts += [("-t", "Displays the current connection offload state."),
                 ("-x", "Displays NetworkDirect connections, listeners, and shared\r\n"
                        "                endpoints."),
                 ("-y", "Displays the TCP connection template for all connections.\r\n"
                        "                Cannot be combined with the other options.")]
    else:
        opts.append(("-v", "When used in conjunction with -b, will display sequence of\r\n"
                           "                components involved in creating the connection or listening\r\n"
                           "                port for all executables."))
    opts.append(("interval", "Redisplays selected statistics, pausing interval seconds\r\n"
                             "                between each display.  Press CTRL+C to stop redisplaying\r\n"
                             "                statistics.  If omitted, netstat will print the current\r\n"
                             "                configuration information once."))
    body = "".join(f"  {flag:<14}{text}\r\n" for flag, text in opts)
    return "\r\nDisplays protocol statistics and current TCP/IP network connections.\r\n\r\n" + synopsis + \
        "\r\n\r\n" + body + "\r\n"


def run(ctx: Ctx, tail: str, shell: Interpreter) -> Output:
    host = ctx.host
    modern = not host.is_legacy
    has_q = modern and host.build >= 9600
    flags: set[str] = set()
    proto_filter: str | None = None
    args = split_args(tail)
    i = 0
    while i < len(args):
        a = args[i]
        if a[:1] in ("-", "/") and len(a) > 1:
            letters = a[1:].lower()
            if letters == "?":
                return Output().out(_usage(modern)).exit(0)
            for j, ch in enumerate(letters):
                allowed = "abefnoprst" + ("qxy" if modern else "v")
                if ch not in allowed or (ch == "q" and not has_q):
                    return Output().out(_usage(has_q or modern and ch != "q")).exit(1)
                if ch == "p":
                    if j != len(letters) - 1 or i + 1 >= len(args):
                        return Output().out(_usage(modern)).exit(1)
                    proto_filter = args[i + 1].upper()
                    i += 1
                flags.add(ch)
        elif a.isdigit():
            pass  # an interval would redisplay until Ctrl+C; WinRS callers do not use it
        else:
            return Output().out(_usage(modern)).exit(1)
        i += 1
    if flags & {"e", "r", "s", "t", "x", "y"}:
        # statistics, routing table and offload views are not modelled: answered with the usage text
        return Output().out(_usage(modern)).exit(1)
    show_all = "a" in flags or "q" in flags
    with_pid = "o" in flags
    de = lang(ctx.locale) == "de"
    table = rows(host, ctx.clock, ctx.now)
    lines = ["\r\n", "Aktive Verbindungen\r\n" if de else "Active Connections\r\n", "\r\n"]
    if de:
        head = "  Proto  Lokale Adresse         Remoteadresse          Status" + ("           PID" if with_pid else "")
    else:
        head = "  Proto  Local Address          Foreign Address        State" + ("           PID" if with_pid else "")
    lines.append(head + "\r\n")
    width = 16 if de else 15
    for proto, lip, lport, rip, rport, st, pid in table:
        if st == "BOUND" and "q" not in flags:
            continue
        if not show_all and st in ("LISTENING", ""):
            continue
        family6 = lip.startswith("[")
        shown_proto = proto
        if proto_filter:
            want = {"TCP": ("TCP", False), "UDP": ("UDP", False), "TCPV6": ("TCP", True), "UDPV6": ("UDP", True)}
            if proto_filter not in want or want[proto_filter] != (proto, family6):
                continue
        local = f"{lip}:{lport}"
        foreign = "*:*" if proto == "UDP" else f"{rip}:{rport}"
        label = _STATES_DE.get(st, st) if de else st
        if with_pid:
            line = f"  {shown_proto:<5}  {local:<22} {foreign:<22} {label:<{width}} {pid}"
        else:
            line = f"  {shown_proto:<5}  {local:<22} {foreign:<22} {label}"
        lines.append(line + "\r\n")
        if "b" in flags:
            lines.append(_owner_line(host, pid))
    return Output().out("".join(lines)).exit(0)
