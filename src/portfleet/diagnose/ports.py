"""Port arithmetic over ranges and the TCP table: overlaps, excluded ports, listening ports."""

from __future__ import annotations

from typing import Iterable

from portfleet.parse.netsh import PortRange
from portfleet.parse.netstat import Conn


def is_ipv6(addr: str) -> bool:
    return ":" in addr


def overlap(start: int, end: int, r: PortRange) -> int:
    return max(0, min(end, r.end) - max(start, r.start) + 1)


def excluded_ports_in(rows: Iterable[tuple[int, int, bool]], r: PortRange) -> int:
    """Ports of `r` inside the union of the excluded ranges (they may overlap each other)."""
    total, covered_to = 0, r.start - 1
    for start, end, _ in sorted(rows):
        start = max(start, covered_to + 1, r.start)
        end = min(end, r.end)
        if end >= start:
            total += end - start + 1
            covered_to = end
    return total


def newly_covered(ports: Iterable[int], new: PortRange, current: PortRange | None) -> list[int]:
    """The ports `new` covers and `current` does not: fixed service ports a new range would take.

    Ports inside today's range are dynamic endpoints (RPC, WinRM's HTTP.sys children) that move
    with it; a port outside it belongs to a service that a wider range would compete with."""
    return [p for p in ports if new.start <= p <= new.end and not (current and current.start <= p <= current.end)]


def listening_ports(conns: Iterable[Conn], family: str, protocol: str) -> list[int]:
    """Fixed service ports: TCP listeners, or for UDP every bound port (UDP has no LISTENING)."""
    ports = set()
    for c in conns:
        if (c.proto.lower() != protocol) or (("ipv6" if is_ipv6(c.local_addr) else "ipv4") != family):
            continue
        if protocol == "tcp" and not c.is_listening:
            continue
        ports.add(c.local_port)
    return sorted(ports)
