"""Diagnose on Linux hosts: the same analysis as on Windows (portfleet.diagnose), fed by Linux tools.

Per host, in ONE SSH connection: the batched Linux read (facts + ip_local_port_range, tcp_tw_reuse,
tcp_fin_timeout), then one diagnose read: `ss -tanp` (every TCP socket with the processes holding it)
and ip_local_reserved_ports (ports the kernel never picks, Linux's counterpart of Windows' excluded
ranges). There is no event log to read: the kernel logs no "out of ports" event; connect() fails with
EADDRNOTAVAIL ("Cannot assign requested address") in the application instead.

What differs from Windows, and why the advice differs:
- One range serves TCP and UDP, IPv4 and IPv6: net.ipv4.ip_local_port_range (ip-sysctl.rst).
- TIME-WAIT lasts a fixed 60 s (TCP_TIMEWAIT_LEN in include/net/tcp.h), not a setting. Churn is
  absorbed by net.ipv4.tcp_tw_reuse=1, which lets new OUTGOING connections take a TIME-WAIT port
  when TCP timestamps make it safe, and by a wider range. tcp_fin_timeout only bounds FIN-WAIT-2.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from portfleet.diagnose.model import Collected, HostDiagnosis, ProcessUse, RangeUse, Recommendation, Sample
from portfleet.diagnose.ports import listening_ports, newly_covered
from portfleet.diagnose.recommend import fill_after, range_needs_widening, time_wait_dominates, widened_range
from portfleet.parse.netstat import CLOSE_WAIT, TIME_WAIT, Conn
from portfleet.parse.numbers import ascii_int
from portfleet.parse.sections import END, begin_marker, split_sections
from portfleet.parse.ss import parse_ss
from portfleet.read_host import read_host
from portfleet.render import Renderer
from portfleet.settings import PortRange, Reading, ReadStatus
from portfleet.transport.base import Session

RANGE_KEY = "net.ipv4.ip_local_port_range"
REUSE_KEY = "net.ipv4.tcp_tw_reuse"
READ_KEYS = (RANGE_KEY, REUSE_KEY, "net.ipv4.tcp_fin_timeout")
TIME_WAIT_SECONDS = 60  # TCP_TIMEWAIT_LEN (60*HZ): fixed in the kernel
SS_FLAGS = "ss -tanp"
S_SS = "diag.ss"
S_RESERVED = "diag.reserved"
FAMILY_KEYS = ("ipv4.tcp", "ipv6.tcp", "ipv4.udp", "ipv6.udp")


def diagnose_command(renderer: Renderer, *, full: bool = True) -> str:
    """The Linux diagnose read as ONE sh script; `full=False` is the light one of --watch rounds."""
    sections = [(S_SS, renderer.render("linux/diagnose/ss.sh.j2"))]
    if full:
        sections.append((S_RESERVED, renderer.render("linux/diagnose/reserved.sh.j2")))
    return renderer.render(
        "linux/diagnose/read.sh.j2",
        sections=[{"marker": begin_marker(name), "command": command} for name, command in sections],
        end_marker=END,
    )


def parse_reserved(text: str | None) -> list[tuple[int, int, bool]] | None:
    """'8080,9148,10000-10005' -> [(8080, 8080, True), ...]; '' -> []; not that shape -> None.

    The flag is True ("administered"): an administrator reserved these, as Windows marks its own.
    The kernel prints ports 0-65535 in ASCII digits (proc_do_large_bitmap); anything else, a Unicode
    digit or a number past 65535 included, is not that shape."""
    line = (text or "").strip()
    if not line:
        return []
    out = []
    for part in line.split(","):
        low_text, sep, high_text = part.strip().partition("-")
        low = ascii_int(low_text, 5)
        high = ascii_int(high_text, 5) if sep else low
        if low is None or high is None or not low <= high <= 65535:
            return None
        out.append((low, high, True))
    return out


def collect(session: Session, renderer: Renderer, host: Any) -> Collected:
    """Read one Linux host: the batched settings read, then the diagnose read (one connection)."""
    found = read_host(session, renderer, host, READ_KEYS)
    at = datetime.now(timezone.utc)
    result = session.run(diagnose_command(renderer))
    sections = split_sections(result.stdout)
    conns, processes = parse_ss(sections.get(S_SS))
    notes: list[str] = []
    if not conns:
        notes.append("ss printed no TCP table (is iproute2 installed?)")
    elif not processes:
        notes.append("ss showed no owning processes: connect as root to see them")
    reserved = parse_reserved(sections.get(S_RESERVED))
    if reserved is None:
        notes.append("net.ipv4.ip_local_reserved_ports could not be read")
    return Collected(
        at=at, facts=found.facts, readings=found.readings, netstat_flags=SS_FLAGS, conns=conns,
        processes=processes, excluded={k: list(reserved or []) for k in FAMILY_KEYS},
        excluded_readable=reserved is not None, events=[], events_readable=False, exhaustion_last_day=0,
        notes=notes,
    )


def sample(session: Session, renderer: Renderer) -> Sample:
    """The light reading of a --watch round: the TCP table with its processes."""
    at = datetime.now(timezone.utc)
    result = session.run(diagnose_command(renderer, full=False))
    conns, processes = parse_ss(split_sections(result.stdout).get(S_SS))
    return Sample(at=at, conns=conns, processes=processes)


def effective_ranges(readings: Mapping[str, Reading]) -> dict[str, PortRange | None]:
    """The kernel's one local port range serves all four family/protocol pairs."""
    reading = readings.get(RANGE_KEY)
    value = reading.effective if reading is not None and reading.status in (ReadStatus.VALUE, ReadStatus.ABSENT) else None
    current = value if isinstance(value, PortRange) else None
    return {k: current for k in FAMILY_KEYS}


def relabel(procs: Sequence[ProcessUse]) -> None:
    """ss shows no owner for other users' sockets unless it runs as root."""
    for p in procs:
        if p.pid == -1:
            p.name = "(owner not visible: ss without root)"


def _tw_reuse(readings: Mapping[str, Reading]) -> int | None:
    reading = readings.get(REUSE_KEY)
    value = reading.effective if reading is not None else None
    return value if isinstance(value, int) and not isinstance(value, PortRange) else None


def recommend(d: HostDiagnosis, readings: Mapping[str, Reading]) -> None:
    """Linux advice, most specific first: the leaking application, TIME-WAIT churn, the range."""
    main = d.main
    if main is None or main.range is None:
        return
    # 1. The application: CLOSE-WAIT held by one process is sockets it never close()s.
    for p in d.processes:
        if p.pid not in d.leak_suspects:
            continue
        held = p.by_state.get(CLOSE_WAIT, 0)
        d.recommendations.append(Recommendation(
            "fix_application",
            f"{p.name} (pid {p.pid}) leaks sockets: {held:,} CLOSE_WAIT (the peer closed; {p.name} never called "
            "close()). This is the application, not the kernel: restarting it frees the ports at once; report "
            "the leak to its maintainers. A wider range only buys time.",
        ))
    # 2. TIME-WAIT churn: 60 s is fixed; tcp_tw_reuse=1 lets new outgoing connections reuse such ports.
    time_wait = main.by_state.get(TIME_WAIT, 0)
    reuse = _tw_reuse(readings)
    if reuse is not None and reuse != 1 and time_wait_dominates(d, main):
        now = {0: "off", 2: "loopback only"}.get(reuse, str(reuse))
        d.recommendations.append(Recommendation(
            "enable_tw_reuse",
            f"{time_wait:,} ports wait in TIME_WAIT, which Linux keeps for a fixed {TIME_WAIT_SECONDS} s. "
            f"net.ipv4.tcp_tw_reuse is {reuse} ({now}): set it to 1 (at once, no reboot) so new outgoing "
            "connections may take a TIME-WAIT port when TCP timestamps make it safe. Reusing connections "
            "(keep-alive, pooling) removes the churn itself.",
            REUSE_KEY, 1, f"sysctl -w {REUSE_KEY}=1",
        ))
    # 3. The range itself.
    if range_needs_widening(d, main):
        target = widened_range(d, main)
        if target.num > main.range.num:
            after = fill_after(main, target)
            d.recommendations.append(Recommendation(
                "widen_range",
                f"Widen net.ipv4.ip_local_port_range from {main.range.start} {main.range.end} ({main.range.num:,}) "
                f"to {target.start} {target.end} ({target.num:,} ports; at once, no reboot; `portfleet apply` also "
                f"keeps it in /etc/sysctl.d/90-portfleet.conf): today's load would fill {after:.0%} of it."
                + (" Fix the leak too: a leaking process fills any range in time." if d.leak_suspects else ""),
                RANGE_KEY, target, f'sysctl -w {RANGE_KEY}="{target.start} {target.end}"',
            ))
            blocked = newly_covered(d.listeners.get(main.family, []), target, main.range)
            if blocked:
                shown = ",".join(str(p) for p in blocked[:8])
                d.recommendations.append(Recommendation(
                    "exclude_ports",
                    f"The wider range would include listening port(s) {shown}: reserve them first "
                    f"(net.ipv4.ip_local_reserved_ports) so no outgoing connection takes them while their "
                    "service is down.",
                    "net.ipv4.ip_local_reserved_ports", None, f"sysctl -w net.ipv4.ip_local_reserved_ports={shown}",
                ))


def playbook_warnings(desired: Mapping[str, Any], conns: Sequence[Conn], ranges: Mapping[str, PortRange | None],
                      tcp: Sequence[RangeUse]) -> list[str]:
    """A desired ip_local_port_range that would swallow a fixed listening port, or is too small."""
    value = desired.get(RANGE_KEY)
    if not isinstance(value, PortRange):
        return []
    out = []
    current = ranges.get("ipv4.tcp")
    fixed = sorted({p for family in ("ipv4", "ipv6")
                    for p in newly_covered(listening_ports(conns, family, "tcp"), value, current)})
    if fixed:
        out.append(
            f"playbook {RANGE_KEY} {value.start} {value.end} overlaps {len(fixed)} listening TCP port(s) outside "
            f"today's range: {','.join(map(str, fixed[:8]))}; once a service restarts an outgoing connection may "
            "take its port. Reserve them first (net.ipv4.ip_local_reserved_ports) or start the range above them."
        )
    in_use = max((u.in_use for u in tcp), default=0)
    if in_use and value.num <= in_use:
        out.append(f"playbook {RANGE_KEY} {value.start} {value.end} ({value.num:,} ports) is smaller than the "
                   f"{in_use:,} ports in use now: the host would be out of ports at once.")
    return out


__all__ = [
    "READ_KEYS", "SS_FLAGS", "TIME_WAIT_SECONDS", "collect", "diagnose_command", "effective_ranges",
    "parse_reserved", "playbook_warnings", "recommend", "relabel", "sample",
]
