"""Diagnose ephemeral port exhaustion: which hosts are running out of ports, and who eats them.

Per host, in ONE session: the batched read (facts + the four dynamic ranges, TcpTimedWaitDelay,
MaxUserPort), then one diagnose read (excluded port ranges, `netstat -ano[q]`, `tasklist`, System
events 4227/4231). Then a pure analysis, as the port-exhaustion troubleshooting guide does it
(learn.microsoft.com/troubleshoot/windows-client/networking/tcp-ip-port-exhaustion-troubleshooting):
ports of the dynamic range in use by state and by owning process, how full the range is, events
4227/4231 as Windows' own word, and the reading that matters most: many CLOSE_WAIT or BOUND ports
held by one process are that application's leak (a socket nobody closes), while many TIME_WAIT
ports are connection churn that TcpTimedWaitDelay and a wider range can absorb.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping, Sequence

from portfleet.engine import Interrupted, Progress, fan_out
from portfleet.facts import HostFacts, local_to_utc
from portfleet.parse.netsh import PortRange, parse_excludedportrange
from portfleet.parse.netstat import BOUND, CLOSE_WAIT, ESTABLISHED, LISTENING, TIME_WAIT, Conn, parse_netstat
from portfleet.parse.sections import END, begin_marker, split_sections
from portfleet.parse.tasklist import Process, parse_tasklist_csv
from portfleet.parse.wevtutil import Event, parse_events_text
from portfleet.probe import host_platform, probe
from portfleet.render import Renderer
from portfleet.settings import Reading, ReadStatus, get_setting
from portfleet.transport.base import Session, TransportError

# --- thresholds (why these numbers) ---------------------------------------------------------------
# A range 95% full leaves a few hundred ports at most: connections already fail in bursts.
EXHAUSTED_FILL = 0.95
# Above 60% a traffic spike or a slow leak reaches the end within hours; the guide's advice is to
# act (find the consumer) before the range is gone, not after.
AT_RISK_FILL = 0.60
# A healthy application holds a handful of CLOSE_WAIT/BOUND sockets, briefly. Hundreds held by one
# process (or more than 2% of the range) are sockets it never closes: a leak in that application.
LEAK_MIN_PORTS = 100
LEAK_MIN_SHARE = 0.02
# TIME_WAIT is "the" consumer when it holds at least this share of the used ports.
TIME_WAIT_SHARE = 0.30
# The value Microsoft's guidance and the seeds use for TcpTimedWaitDelay (KB 196271 range 30-300).
RECOMMENDED_TIMED_WAIT = 30
# A widened range should leave the current load at or under half of it.
TARGET_FILL_AFTER_WIDENING = 0.50
MAX_RANGE = PortRange(1025, 64511)  # 1025-65535, the widest netsh accepts (KB 929851)
EVENTS_MAX = 200  # newest events kept per host: counts beyond that are "at least"
DAY_MS = 86_400_000

VERDICTS = ("exhausted", "at_risk", "unknown", "healthy")  # risk order, worst first
FAILED_STATUSES = ("unreachable", "auth_failed", "error")

RANGE_KEYS = ("dynamicport.ipv4.tcp", "dynamicport.ipv6.tcp", "dynamicport.ipv4.udp", "dynamicport.ipv6.udp")
READ_KEYS = (*RANGE_KEYS, "TcpTimedWaitDelay", "MaxUserPort")
FAMILIES = ("ipv4", "ipv6")
PROTOCOLS = ("tcp", "udp")
STATE_ORDER = (TIME_WAIT, CLOSE_WAIT, BOUND, ESTABLISHED, LISTENING)

# Section names of the diagnose read (parse.sections markers).
S_NETSTAT = "diag.netstat"
S_TASKLIST = "diag.tasklist"
S_EVENTS = "diag.events"
S_EVENTS_DAY = "diag.events_day"


def _excluded_section(family: str, protocol: str) -> str:
    return f"diag.excluded.{family}.{protocol}"


# ==== collection ==================================================================================


@dataclass
class Collected:
    """Everything read from one host in one session, parsed; `at` is portfleet's clock (UTC)."""

    at: datetime
    facts: HostFacts
    readings: dict[str, Reading]
    netstat_flags: str  # "-anoq" or "-ano"
    conns: list[Conn]
    processes: dict[int, Process]
    excluded: dict[str, list[tuple[int, int, bool]]]  # "ipv4.tcp" -> [(start, end, administered)]
    excluded_readable: bool
    events: list[Event]
    events_readable: bool
    exhaustion_last_day: int  # 4231 events in the host's last 24 hours
    notes: list[str] = field(default_factory=list)


@dataclass
class Sample:
    """One later reading of the TCP table (--watch)."""

    at: datetime
    conns: list[Conn]
    processes: dict[int, Process]


def diagnose_command(renderer: Renderer, *, with_q: bool, days: int | None, full: bool = True) -> str:
    """The diagnose read as ONE cmd.exe line; `full=False` is the light one of --watch rounds."""
    sections: list[tuple[str, str]] = []
    if full:
        for family in FAMILIES:
            for protocol in PROTOCOLS:
                sections.append(
                    (_excluded_section(family, protocol),
                     renderer.render("windows/diagnose/excludedportrange.cmd.j2", family=family, protocol=protocol))
                )
    sections.append((S_NETSTAT, renderer.render("windows/diagnose/netstat.cmd.j2", with_q=with_q)))
    sections.append((S_TASKLIST, renderer.render("windows/diagnose/tasklist.cmd.j2")))
    if full and days:
        sections.append((S_EVENTS, renderer.render("windows/diagnose/events.cmd.j2", ms=int(days) * DAY_MS,
                                                   max_events=EVENTS_MAX)))
        sections.append((S_EVENTS_DAY, renderer.render("windows/diagnose/events.cmd.j2", ms=DAY_MS, max_events=EVENTS_MAX)))
    return renderer.render(
        "windows/diagnose/read.cmd.j2",
        sections=[{"marker": begin_marker(name), "command": command} for name, command in sections],
        end_marker=END,
    )


def _events_answered(text: str | None) -> bool:
    """wevtutil ran: it printed events, or nothing at all (no match). An error has text, no events."""
    text = (text or "").strip()
    return not text or bool(parse_events_text(text))


def _read_netstat(session: Session, renderer: Renderer, sections: Mapping[str, str], with_q: bool,
                  notes: list[str]) -> tuple[list[Conn], str]:
    conns = parse_netstat(sections.get(S_NETSTAT))
    if conns or not with_q:
        return conns, "-anoq" if with_q else "-ano"
    # The build looked new enough for -q but netstat refused it (printed its usage): ask again.
    notes.append("netstat refused -q on this build: BOUND ports are not visible")
    retry = session.run(renderer.render("windows/diagnose/netstat.cmd.j2", with_q=False))
    return parse_netstat(retry.stdout), "-ano"


def collect(session: Session, renderer: Renderer, host: Any, *, days: int | None) -> Collected:
    """Read one host: the batched settings read, then the diagnose read (two commands, one shell)."""
    if host_platform(session, host) == "linux":
        from portfleet import diagnose_linux  # ss and sysctl instead of netstat and netsh

        return diagnose_linux.collect(session, renderer, host)
    found = probe(session, renderer, host, READ_KEYS)
    with_q = found.facts.supports_netstat_q
    at = datetime.now(timezone.utc)
    result = session.run(diagnose_command(renderer, with_q=with_q, days=days))
    sections = split_sections(result.stdout)
    notes: list[str] = []
    conns, flags = _read_netstat(session, renderer, sections, with_q, notes)
    return build_collected(found.facts, found.readings, sections, days=days, at=at, conns=conns,
                           netstat_flags=flags, notes=notes)


def build_collected(
    facts: HostFacts, readings: dict[str, Reading], sections: Mapping[str, str], *, days: int | None,
    at: datetime, conns: list[Conn] | None = None, netstat_flags: str | None = None, notes: Sequence[str] = (),
) -> Collected:
    """The diagnose read's sections (split_sections) -> Collected. Pure."""
    # facts.notes speak of the boot time, which diagnose does not use; only an unknown version matters.
    notes = list(notes) + ([] if facts.version_known else ["`ver` printed no version: read as an older build"])
    if conns is None:
        conns = parse_netstat(sections.get(S_NETSTAT))
    flags = netstat_flags or ("-anoq" if facts.supports_netstat_q else "-ano")
    if not conns:
        notes.append("netstat printed no connection table")
    if flags != "-anoq":
        notes.append(f"{facts.os_label} has no `netstat -q`: BOUND ports are not visible, read with -ano")
    excluded: dict[str, list[tuple[int, int, bool]]] = {}
    excluded_readable = False
    for family in FAMILIES:
        for protocol in PROTOCOLS:
            text = sections.get(_excluded_section(family, protocol))
            rows = parse_excludedportrange(text)
            excluded[f"{family}.{protocol}"] = rows
            # A table (even empty) has a dashed rule under its header; an error or echo has none.
            excluded_readable = excluded_readable or bool(rows) or "----" in (text or "")
    events: list[Event] = []
    events_readable = False
    exhaustion_last_day = 0
    if days:
        events = [e for e in parse_events_text(sections.get(S_EVENTS)) if e.id in (4227, 4231)]
        events_readable = _events_answered(sections.get(S_EVENTS))
        exhaustion_last_day = sum(1 for e in parse_events_text(sections.get(S_EVENTS_DAY)) if e.id == 4231)
        if not events_readable:
            notes.append("the System event log could not be queried (no wevtutil on this host?)")
    return Collected(
        at=at,
        facts=facts,
        readings=readings,
        netstat_flags=flags,
        conns=conns,
        processes=parse_tasklist_csv(sections.get(S_TASKLIST)),
        excluded=excluded,
        excluded_readable=excluded_readable,
        events=events,
        events_readable=events_readable,
        exhaustion_last_day=exhaustion_last_day,
        notes=notes,
    )


def sample(session: Session, renderer: Renderer, *, with_q: bool) -> Sample:
    """The light reading of a --watch round: the TCP table and process names only."""
    at = datetime.now(timezone.utc)
    result = session.run(diagnose_command(renderer, with_q=with_q, days=None, full=False))
    sections = split_sections(result.stdout)
    conns, _ = _read_netstat(session, renderer, sections, with_q, [])
    return Sample(at=at, conns=conns, processes=parse_tasklist_csv(sections.get(S_TASKLIST)))


# ==== analysis ====================================================================================


@dataclass
class ProcessUse:
    pid: int
    name: str
    ports: int  # distinct local ports of the dynamic ranges it holds
    by_state: dict[str, int]
    time_wait_likely: int = 0  # TIME_WAIT ports (owner gone, PID 0) to the remote endpoints it talks to

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "name": self.name, "ports": self.ports, "by_state": self.by_state,
                "time_wait_likely": self.time_wait_likely}


@dataclass
class RangeUse:
    """One TCP dynamic range (ipv4 or ipv6) and the ports of it in use."""

    family: str
    range: PortRange | None
    excluded: int  # ports of the range Windows will not hand out
    in_use: int  # distinct local ports of the range in use
    by_state: dict[str, int]

    @property
    def capacity(self) -> int:
        return max((self.range.num if self.range else 0) - self.excluded, 0)

    @property
    def fill(self) -> float:
        return self.in_use / self.capacity if self.capacity else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "range": _range_json(self.range),
            "excluded_ports": self.excluded,
            "capacity": self.capacity,
            "in_use": self.in_use,
            "fill": round(self.fill, 4),
            "by_state": self.by_state,
        }


@dataclass
class Recommendation:
    kind: str  # widen_range | lower_timed_wait | fix_application | exclude_ports
    text: str
    setting: str | None = None
    value: Any = None
    command: str | None = None

    def to_json(self) -> dict[str, Any]:
        value = _range_json(self.value) if isinstance(self.value, PortRange) else self.value
        return {"kind": self.kind, "text": self.text, "setting": self.setting, "value": value, "command": self.command}


@dataclass
class Trend:
    """--watch: ports in use over time, the slope and when the range would be full at that pace."""

    points: list[tuple[datetime, int]]
    capacity: int
    slope_per_min: float | None = None
    exhaustion_in_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "samples": [{"at": _iso(t), "in_use": n} for t, n in self.points],
            "capacity": self.capacity,
            "slope_per_min": None if self.slope_per_min is None else round(self.slope_per_min, 2),
            "exhaustion_in_s": None if self.exhaustion_in_s is None else round(self.exhaustion_in_s),
        }


@dataclass
class HostDiagnosis:
    name: str
    address: str
    status: str = "ok"  # ok | unreachable | auth_failed | error
    detail: str = ""
    os_version: str | None = None
    os_label: str | None = None
    netstat_flags: str | None = None
    ranges: dict[str, PortRange | None] = field(default_factory=dict)
    excluded: dict[str, list[tuple[int, int, bool]]] = field(default_factory=dict)
    timed_wait_delay: int | None = None  # effective seconds
    timed_wait_configured: bool = False
    tcp: list[RangeUse] = field(default_factory=list)
    states: dict[str, int] = field(default_factory=dict)  # TCP rows in the dynamic range, by state
    processes: list[ProcessUse] = field(default_factory=list)  # top consumers, most ports first
    time_wait_remotes: list[tuple[str, int]] = field(default_factory=list)  # ("10.0.0.9:443", n)
    events: dict[int, int] = field(default_factory=dict)  # event id -> count in the window
    events_readable: bool = False
    last_events: list[dict[str, Any]] = field(default_factory=list)
    exhaustion_last_day: int = 0
    verdict: str = "unknown"
    evidence: list[str] = field(default_factory=list)
    recommendations: list[Recommendation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    leak_suspects: list[int] = field(default_factory=list)  # PIDs
    listeners: dict[str, list[int]] = field(default_factory=dict)  # family -> TCP listening ports
    trend: Trend | None = None
    sampled_at: datetime | None = None

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    @property
    def main(self) -> RangeUse | None:
        """The fullest TCP range (ipv4 unless ipv6 is fuller)."""
        return max(self.tcp, key=lambda r: r.fill) if self.tcp else None

    @property
    def fill(self) -> float:
        main = self.main
        return main.fill if main else 0.0

    @property
    def risk(self) -> float:
        """Sort key, higher is worse: verdict first, then how full, then the events."""
        weight = {"exhausted": 3.0, "at_risk": 2.0, "unknown": 1.0, "healthy": 0.0}[self.verdict]
        return weight + min(self.fill, 1.0) * 0.9 + min(sum(self.events.values()), 1000) / 100_000

    @property
    def culprit(self) -> ProcessUse | None:
        for p in self.processes:
            if p.pid in self.leak_suspects:
                return p
        return self.processes[0] if self.processes else None

    def to_json(self) -> dict[str, Any]:
        culprit = self.culprit
        return {
            "name": self.name,
            "address": self.address,
            "status": self.status,
            "detail": self.detail,
            "verdict": self.verdict,
            "risk": round(self.risk, 4),
            "os_version": self.os_version,
            "os_label": self.os_label,
            "netstat": self.netstat_flags,
            "sampled_at": _iso(self.sampled_at) if self.sampled_at else None,
            "dynamic_ranges": {k: _range_json(v) for k, v in self.ranges.items()},
            "excluded_ranges": {
                k: [{"start": s, "end": e, "administered": a} for s, e, a in rows] for k, rows in self.excluded.items()
            },
            "tcp_timed_wait_delay": {"effective": self.timed_wait_delay, "configured": self.timed_wait_configured},
            "tcp_ranges": [r.to_json() for r in self.tcp],
            "fill": round(self.fill, 4),
            "states": self.states,
            "top_processes": [p.to_json() for p in self.processes],
            "culprit": culprit.to_json() if culprit else None,
            "leak_suspects": self.leak_suspects,
            "time_wait_remotes": [{"remote": r, "ports": n} for r, n in self.time_wait_remotes],
            "events": {
                "readable": self.events_readable,
                "counts": {str(k): v for k, v in sorted(self.events.items())},
                "exhaustion_last_24h": self.exhaustion_last_day,
                "latest": self.last_events,
            },
            "evidence": self.evidence,
            "recommendations": [r.to_json() for r in self.recommendations],
            "warnings": self.warnings,
            "notes": self.notes,
            "trend": self.trend.to_json() if self.trend else None,
        }


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat(timespec="seconds")


def _range_json(r: PortRange | None) -> dict[str, int] | None:
    return None if r is None else {"start": r.start, "num": r.num, "end": r.end}


def _is_ipv6(addr: str) -> bool:
    return ":" in addr


def _overlap(start: int, end: int, r: PortRange) -> int:
    return max(0, min(end, r.end) - max(start, r.start) + 1)


def _excluded_in(rows: Iterable[tuple[int, int, bool]], r: PortRange) -> int:
    """Ports of `r` inside the union of the excluded ranges (they may overlap each other)."""
    total, covered_to = 0, r.start - 1
    for start, end, _ in sorted(rows):
        start = max(start, covered_to + 1, r.start)
        end = min(end, r.end)
        if end >= start:
            total += end - start + 1
            covered_to = end
    return total


def effective_ranges(facts: HostFacts, readings: Mapping[str, Reading]) -> dict[str, PortRange | None]:
    """The four dynamic ranges in force. Pre-Vista: 1025..MaxUserPort (default 5000, KB 196271)."""
    if facts.platform == "linux":
        from portfleet import diagnose_linux

        return diagnose_linux.effective_ranges(readings)
    out: dict[str, PortRange | None] = {}
    if facts.is_legacy:
        max_user = readings.get("MaxUserPort")
        top = max_user.effective if max_user is not None and isinstance(max_user.effective, int) else 5000
        legacy = PortRange(1025, max(int(top), 1025) - 1024)
        for key in RANGE_KEYS:
            out[key.split(".", 1)[1]] = legacy if key.startswith("dynamicport.ipv4") else None
        return out
    for key in RANGE_KEYS:
        reading = readings.get(key)
        value = reading.effective if reading is not None and reading.status == ReadStatus.VALUE else None
        out[key.split(".", 1)[1]] = value if isinstance(value, PortRange) else None
    return out


def _in_range(conn: Conn, ranges: Mapping[str, PortRange | None]) -> str | None:
    """'ipv4'/'ipv6' when the TCP row's local port lies in that family's dynamic range."""
    family = "ipv6" if _is_ipv6(conn.local_addr) else "ipv4"
    r = ranges.get(f"{family}.tcp")
    if r is None and family == "ipv6":
        r = ranges.get("ipv4.tcp")  # 2003 prints no IPv6 rows; a missing v6 range shares v4's
    if r is not None and r.start <= conn.local_port <= r.end:
        return family
    return None


def table_usage(
    conns: Sequence[Conn], processes: Mapping[int, Process], ranges: Mapping[str, PortRange | None],
    excluded: Mapping[str, list[tuple[int, int, bool]]],
) -> tuple[list[RangeUse], dict[str, int], list[ProcessUse], list[tuple[str, int]]]:
    """Ports of the TCP dynamic ranges in use: per range, per state, per process, TIME_WAIT remotes."""
    ports: dict[str, set[int]] = {f: set() for f in FAMILIES}
    states_by_family: dict[str, Counter] = {f: Counter() for f in FAMILIES}
    proc_ports: dict[int, set[tuple[str, int]]] = defaultdict(set)
    proc_states: dict[int, Counter] = defaultdict(Counter)
    remote_owners: dict[tuple[str, int | None], Counter] = defaultdict(Counter)
    time_wait_remotes: Counter = Counter()
    for c in conns:
        if c.proto != "TCP":
            continue
        if c.pid and c.state != TIME_WAIT and c.remote_port:
            remote_owners[(c.remote_addr, c.remote_port)][c.pid] += 1
        family = _in_range(c, ranges)
        if family is None:
            continue
        ports[family].add(c.local_port)
        state = c.state or "UNKNOWN"
        states_by_family[family][state] += 1
        if c.state == TIME_WAIT:
            # Windows reports TIME_WAIT with PID 0: the socket outlived its owner.
            time_wait_remotes[(c.remote_addr, c.remote_port)] += 1
        pid = c.pid if c.pid is not None else -1
        proc_ports[pid].add((family, c.local_port))
        proc_states[pid][state] += 1
    uses = []
    for family in FAMILIES:
        r = ranges.get(f"{family}.tcp")
        if r is None and not ports[family]:
            continue
        if r is None:
            r = ranges.get("ipv4.tcp")
        ex = _excluded_in(excluded.get(f"{family}.tcp", []), r) if r else 0
        uses.append(RangeUse(family, r, ex, len(ports[family]), _ordered(states_by_family[family])))
    # TIME_WAIT (PID 0) is attributed to the process holding live connections to the same remote.
    likely: Counter = Counter()
    for remote, n in time_wait_remotes.items():
        owners = remote_owners.get(remote)
        if owners:
            pid, _ = owners.most_common(1)[0]
            likely[pid] += n
    procs = []
    for pid, held in proc_ports.items():
        if pid == 0 and set(proc_states[pid]) <= {TIME_WAIT}:
            name = "(TIME_WAIT, owner gone)"
        elif pid == -1:
            name = "(no PID: netstat without -o)"
        else:
            proc = processes.get(pid)
            name = proc.name if proc else ("System" if pid == 4 else f"pid {pid} (exited)")
        procs.append(ProcessUse(pid, name, len(held), _ordered(proc_states[pid]), likely.get(pid, 0)))
    procs.sort(key=lambda p: (-p.ports, p.pid))
    remotes = [(f"{_host(addr)}:{port}", n) for (addr, port), n in time_wait_remotes.most_common(5)]
    all_states: Counter = Counter()
    for counter in states_by_family.values():
        all_states.update(counter)
    return uses, _ordered(all_states), procs, remotes


def _host(addr: str) -> str:
    return f"[{addr}]" if _is_ipv6(addr) else addr


def _ordered(counter: Mapping[str, int]) -> dict[str, int]:
    known = [s for s in STATE_ORDER if counter.get(s)]
    rest = sorted((s for s in counter if s not in STATE_ORDER and counter[s]), key=lambda s: -counter[s])
    return {s: counter[s] for s in [*known, *rest]}


def analyse(
    name: str,
    address: str,
    got: Collected,
    *,
    desired: Mapping[str, Any] | None = None,
    renderer: Renderer | None = None,
    host_vars: Mapping[str, Any] | None = None,
) -> HostDiagnosis:
    """The verdict of one host, with its evidence, recommendations and playbook warnings."""
    facts = got.facts
    d = HostDiagnosis(name=name, address=address, os_version=facts.os_version, os_label=facts.os_label,
                      netstat_flags=got.netstat_flags, sampled_at=got.at, notes=list(got.notes))
    d.ranges = effective_ranges(facts, got.readings)
    d.excluded = got.excluded
    delay = got.readings.get("TcpTimedWaitDelay")
    if delay is not None and isinstance(delay.effective, int):
        d.timed_wait_delay = int(delay.effective)
        d.timed_wait_configured = delay.status == ReadStatus.VALUE
    for key in RANGE_KEYS:
        reading = got.readings.get(key)
        if reading is not None and reading.status == ReadStatus.UNPARSABLE:
            d.notes.append(f"{key}: {reading.detail}")
    d.tcp, d.states, procs, d.time_wait_remotes = table_usage(got.conns, got.processes, d.ranges, d.excluded)
    linux = facts.platform == "linux"
    if linux:
        from portfleet import diagnose_linux

        diagnose_linux.relabel(procs)
        d.timed_wait_delay = diagnose_linux.TIME_WAIT_SECONDS  # fixed in the Linux kernel
    d.processes = procs[:10]
    d.listeners = {f: listening_ports(got.conns, f, "tcp") for f in FAMILIES}
    d.events = dict(Counter(e.id for e in got.events))
    d.events_readable = got.events_readable
    d.exhaustion_last_day = got.exhaustion_last_day
    newest: dict[int, Event] = {}
    for e in got.events:  # wevtutil /rd:true: newest first
        newest.setdefault(e.id, e)
    d.last_events = [
        # Builds before 19041 print wevtutil dates in host-local time: ActiveTimeBias turns them to UTC.
        {"id": e.id, "at": _iso(local_to_utc(e.date, facts.tz_bias_minutes, facts, "an event's date")) if e.date else None,
         "source": e.source, "message": _first_sentence(e.message)}
        for e in newest.values()
    ]
    _judge(d, procs)
    if linux:
        diagnose_linux.recommend(d, got.readings)
        if desired:
            d.warnings.extend(diagnose_linux.playbook_warnings(desired, got.conns, d.ranges, d.tcp))
        return d
    _recommend(d, facts, renderer, host_vars or {})
    if desired:
        d.warnings.extend(playbook_warnings(desired, got.conns, d.ranges, d.excluded, d.tcp))
    _modern_maxuserport_note(d, facts, got.readings)
    return d


def _first_sentence(message: str, limit: int = 240) -> str:
    text = " ".join(message.split())
    end = text.find(". ")
    text = text[: end + 1] if end != -1 else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _leak_threshold(capacity: int) -> int:
    return max(LEAK_MIN_PORTS, math.ceil(capacity * LEAK_MIN_SHARE))


def _judge(d: HostDiagnosis, procs: list[ProcessUse]) -> None:
    main = d.main
    if main is None or main.range is None:
        d.verdict = "unknown"
        d.evidence.append("the dynamic port range could not be read")
        return
    capacity = main.capacity
    threshold = _leak_threshold(capacity)
    for p in procs:
        if p.pid <= 0:
            continue
        held = p.by_state.get(CLOSE_WAIT, 0) + p.by_state.get(BOUND, 0)
        if held >= threshold:
            d.leak_suspects.append(p.pid)
    exhausted, at_risk = [], []
    pct = f"{main.fill:.0%}"
    usage = f"{main.in_use:,} of {capacity:,} ports of the {main.family} TCP dynamic range {main.range.start}-{main.range.end} in use ({pct})"
    if main.fill >= EXHAUSTED_FILL:
        exhausted.append(usage)
    elif main.fill >= AT_RISK_FILL:
        at_risk.append(usage)
    if d.exhaustion_last_day:
        exhausted.append(
            f"event 4231 ×{d.exhaustion_last_day} in the last 24 h: Windows could not allocate an ephemeral port"
        )
    n4231, n4227 = d.events.get(4231, 0), d.events.get(4227, 0)
    if n4231 and not d.exhaustion_last_day:
        at_risk.append(f"event 4231 ×{n4231} in the period: the port space ran out before")
    if n4227:
        at_risk.append(f"event 4227 ×{n4227}: connections failed because a local endpoint was reused too soon (TIME_WAIT)")
    for p in procs:
        if p.pid in d.leak_suspects:
            held = ", ".join(f"{p.by_state[s]:,} {s}" for s in (CLOSE_WAIT, BOUND) if p.by_state.get(s))
            at_risk.append(f"{p.name} (pid {p.pid}) holds {held}: sockets it never closes")
    if exhausted:
        d.verdict = "exhausted"
    elif at_risk:
        d.verdict = "at_risk"
    else:
        d.verdict = "healthy"
        d.evidence.append(f"{usage}; no 4227/4231 events" if d.events_readable else usage)
    d.evidence.extend(exhausted + at_risk)
    top = procs[0] if procs else None
    if top is not None and top.pid > 0 and d.verdict != "healthy":
        dominant = max(top.by_state, key=top.by_state.get)
        d.evidence.append(f"top consumer: {top.name} (pid {top.pid}) with {top.ports:,} ports, mostly {dominant}")


def _widened(d: HostDiagnosis, main: RangeUse) -> PortRange:
    needed = math.ceil(main.in_use / TARGET_FILL_AFTER_WIDENING) + main.excluded
    num = max(main.range.num if main.range else 0, needed, 16384)
    num = min(MAX_RANGE.num, int(math.ceil(num / 1024.0) * 1024))
    return PortRange(65536 - num, num)


def _recommend(d: HostDiagnosis, facts: HostFacts, renderer: Renderer | None, host_vars: Mapping[str, Any]) -> None:
    main = d.main
    if main is None or main.range is None:
        return

    def command(key: str, value: Any) -> str | None:
        if renderer is None:
            return None
        try:
            return renderer.write_command(get_setting(key), value, host_vars)
        except Exception:  # a rendering problem must not hide the advice itself
            return None

    # 1. The application: CLOSE_WAIT / BOUND held by one process is a leak no Windows setting fixes.
    for p in d.processes:
        if p.pid not in d.leak_suspects:
            continue
        close_wait, bound = p.by_state.get(CLOSE_WAIT, 0), p.by_state.get(BOUND, 0)
        why = []
        if close_wait:
            why.append(f"{close_wait:,} CLOSE_WAIT (the peer closed; {p.name} never called closesocket())")
        if bound:
            why.append(f"{bound:,} BOUND (bound, never connected or closed)")
        d.recommendations.append(Recommendation(
            "fix_application",
            f"{p.name} (pid {p.pid}) leaks sockets: {'; '.join(why)}. This is the application, not Windows: "
            f"restarting it frees the ports at once; report the leak to its vendor. A wider range only buys time.",
        ))
    # 2. TIME_WAIT churn: shorter TIME_WAIT frees ports sooner (takes effect after a reboot).
    time_wait = main.by_state.get(TIME_WAIT, 0)
    delay = d.timed_wait_delay
    if (delay is not None and delay > RECOMMENDED_TIMED_WAIT and main.in_use
            and time_wait >= TIME_WAIT_SHARE * main.in_use
            and (d.verdict != "healthy" or main.fill >= AT_RISK_FILL / 2)):
        freed = time_wait - math.ceil(time_wait * RECOMMENDED_TIMED_WAIT / delay)
        who = ""
        likely = max(d.processes, key=lambda p: p.time_wait_likely, default=None)
        if likely is not None and likely.time_wait_likely:
            who = f" Most of them are connections {likely.name} (pid {likely.pid}) opened and closed."
        d.recommendations.append(Recommendation(
            "lower_timed_wait",
            f"{time_wait:,} ports wait in TIME_WAIT for {delay} s. Set TcpTimedWaitDelay to "
            f"{RECOMMENDED_TIMED_WAIT} s (after a reboot): at the same connection rate about {freed:,} of them "
            f"would be free.{who} Reusing connections (keep-alive, pooling) removes the churn itself.",
            "TcpTimedWaitDelay", RECOMMENDED_TIMED_WAIT, command("TcpTimedWaitDelay", RECOMMENDED_TIMED_WAIT),
        ))
    # 3. The range itself.
    if d.verdict != "healthy" and main.fill >= AT_RISK_FILL / 2 or main.fill >= AT_RISK_FILL:
        if facts.is_legacy:
            current_top = main.range.end
            if current_top < 65534:
                d.recommendations.append(Recommendation(
                    "widen_range",
                    f"Raise MaxUserPort from {current_top} to 65534 (KB 196271; after a reboot): the ephemeral "
                    f"range grows from {main.range.num:,} to 64,510 ports.",
                    "MaxUserPort", 65534, command("MaxUserPort", 65534),
                ))
        else:
            target = _widened(d, main)
            if target.num > main.range.num:
                key = f"dynamicport.{main.family}.tcp"
                after = main.in_use / max(target.num - main.excluded, 1)
                d.recommendations.append(Recommendation(
                    "widen_range",
                    f"Widen the {main.family} TCP dynamic range from {main.range.start}-{main.range.end} "
                    f"({main.range.num:,}) to {target.start}-{target.end} ({target.num:,} ports; applies at once): "
                    f"today's load would fill {after:.0%} of it."
                    + (" Fix the leak too: a leaking process fills any range in time." if d.leak_suspects else ""),
                    key, target, command(key, target),
                ))
                blocked = _listeners_inside(d, target, main)
                if blocked:
                    d.recommendations.append(Recommendation(
                        "exclude_ports",
                        f"The wider range would include listening port(s) {_port_list(blocked)}: reserve them first "
                        f"(netsh int {main.family} add excludedportrange protocol=tcp startport=N numberofports=1) "
                        "so no outgoing connection takes them while their service is down.",
                    ))


def _listeners_inside(d: HostDiagnosis, target: PortRange, main: RangeUse) -> list[int]:
    return [p for p in d.listeners.get(main.family, []) if target.start <= p <= target.end
            and not (main.range and main.range.start <= p <= main.range.end)]


def _port_list(ports: Sequence[int], limit: int = 8) -> str:
    shown = ", ".join(str(p) for p in ports[:limit])
    return shown + (f" and {len(ports) - limit} more" if len(ports) > limit else "")


def listening_ports(conns: Iterable[Conn], family: str, protocol: str) -> list[int]:
    """Fixed service ports: TCP listeners, or for UDP every bound port (UDP has no LISTENING)."""
    ports = set()
    for c in conns:
        if (c.proto.lower() != protocol) or (("ipv6" if _is_ipv6(c.local_addr) else "ipv4") != family):
            continue
        if protocol == "tcp" and not c.is_listening:
            continue
        ports.add(c.local_port)
    return sorted(ports)


def playbook_warnings(
    desired: Mapping[str, Any], conns: Sequence[Conn], ranges: Mapping[str, PortRange | None],
    excluded: Mapping[str, list[tuple[int, int, bool]]], tcp: Sequence[RangeUse],
) -> list[str]:
    """A desired dynamic range that would swallow a fixed listening port or an excluded range."""
    out: list[str] = []
    for key, value in desired.items():
        if not key.startswith("dynamicport.") or not isinstance(value, PortRange):
            continue
        _, family, protocol = key.split(".")
        current = ranges.get(f"{family}.{protocol}")
        # Listeners inside today's range are dynamic endpoints (RPC, WinRM's HTTP.sys children)
        # that move with it; a listener outside it is a fixed service port the new range would take.
        fixed = [p for p in listening_ports(conns, family, protocol)
                 if value.start <= p <= value.end and not (current and current.start <= p <= current.end)]
        if fixed:
            out.append(
                f"playbook {key} {value.start}-{value.end} overlaps {len(fixed)} listening {protocol.upper()} "
                f"port(s) outside today's range: {_port_list(fixed)}; once a service restarts an outgoing "
                f"connection may take its port. Exclude them first (netsh int {family} add excludedportrange "
                f"protocol={protocol} startport=N numberofports=M) or start the range above them."
            )
        clash = [(s, e, a) for s, e, a in excluded.get(f"{family}.{protocol}", []) if _overlap(s, e, value)]
        if clash:
            shown = ", ".join(f"{s}-{e}{' (administered)' if a else ''}" for s, e, a in clash[:6])
            lost = _excluded_in(clash, value)
            out.append(
                f"playbook {key} {value.start}-{value.end} overlaps excluded port range(s) {shown}: "
                f"{lost:,} of its {value.num:,} ports can never be handed out."
            )
        if protocol == "tcp":
            use = next((u for u in tcp if u.family == family), None)
            if use is not None and use.in_use and value.num - _excluded_in(excluded.get(f"{family}.tcp", []), value) <= use.in_use:
                out.append(
                    f"playbook {key} {value.start}-{value.end} ({value.num:,} ports) is smaller than the "
                    f"{use.in_use:,} ports in use now: the host would be out of ports at once."
                )
    return out


def _modern_maxuserport_note(d: HostDiagnosis, facts: HostFacts, readings: Mapping[str, Reading]) -> None:
    max_user = readings.get("MaxUserPort")
    if facts.is_legacy or max_user is None or max_user.status != ReadStatus.VALUE:
        return
    # DESIGN: on Vista+ a MaxUserPort value is applied at boot as start=1024, num=MaxUserPort-1023,
    # overriding netsh (nmap PR #3499, runner-images #1442).
    d.warnings.append(
        f"MaxUserPort is set to {max_user.value} on {facts.os_label}: at the next boot it replaces the netsh "
        f"range with 1024-{max_user.value}; manage the range with netsh only and remove MaxUserPort."
    )


# ==== trend (--watch) =============================================================================


def trend_of(points: Sequence[tuple[datetime, int]], capacity: int) -> Trend:
    """Least-squares slope of ports in use; the range is full at capacity, if the slope holds."""
    trend = Trend(points=list(points), capacity=capacity)
    if len(points) < 2:
        return trend
    t0 = points[0][0]
    xs = [(t - t0).total_seconds() for t, _ in points]
    ys = [float(n) for _, n in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mean_x) ** 2 for x in xs)
    if var <= 0:
        return trend
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / var  # ports per second
    trend.slope_per_min = slope * 60
    if slope > 0 and capacity > 0:
        trend.exhaustion_in_s = max(capacity - ys[-1], 0) / slope
    return trend


def apply_trend(d: HostDiagnosis, trend: Trend) -> None:
    d.trend = trend
    if trend.exhaustion_in_s is None or d.failed:
        return
    eta = trend.exhaustion_in_s
    text = (f"ports in use grow by {trend.slope_per_min:,.1f}/min: the range is full in about "
            f"{format_duration(eta)} at this pace")
    if eta <= 24 * 3600 and text not in d.evidence:
        d.evidence.append(text)
        if d.verdict == "healthy":
            d.verdict = "at_risk"


def format_duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    if seconds < 90:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 90:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours // 24} days"


# ==== the fleet ===================================================================================


@dataclass
class DiagnoseReport:
    hosts: list[HostDiagnosis]  # ranked, worst first
    days: int
    generated_at: datetime
    inventory: str | None = None
    playbook: str | None = None
    warnings: list[str] = field(default_factory=list)
    rounds: int = 1
    interval_s: float | None = None
    interrupted: bool = False  # --watch ended by Ctrl-C (the normal end without --count)

    def summary(self) -> dict[str, int]:
        counts = {v: 0 for v in VERDICTS}
        for h in self.hosts:
            counts[h.verdict] += 1
        counts["unreachable"] = sum(1 for h in self.hosts if h.failed)
        counts["hosts"] = len(self.hosts)
        return counts

    def exit_code(self) -> int:
        """0 all healthy, 3 a host at risk or exhausted, 4 a host unreachable or failed (first)."""
        if any(h.failed for h in self.hosts):
            return 4
        if any(h.verdict in ("exhausted", "at_risk") for h in self.hosts):
            return 3
        return 0

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": "portfleet.diagnose/1",
            "generated_at": _iso(self.generated_at),
            "inventory": self.inventory,
            "playbook": self.playbook,
            "days": self.days,
            "rounds": self.rounds,
            "interval_s": self.interval_s,
            "interrupted": self.interrupted,
            "hosts": [h.to_json() for h in self.hosts],
            "warnings": self.warnings,
            "summary": self.summary(),
        }


def rank(hosts: Iterable[HostDiagnosis]) -> list[HostDiagnosis]:
    return sorted(hosts, key=lambda h: (-h.risk, h.name))


def failure(host: Any, error: Exception) -> HostDiagnosis:
    if isinstance(error, TransportError):
        status = error.kind if error.kind in ("unreachable", "auth_failed") else "error"
        if error.kind == "hostkey":
            status = "unreachable"  # as audit.failure_report: Ansible's "UNREACHABLE! Host key verification failed"
        detail = str(error)
    else:
        status, detail = "error", f"{type(error).__name__}: {error}"
    d = HostDiagnosis(name=host.name, address=getattr(host, "address", ""), status=status, detail=detail)
    d.evidence.append(f"not diagnosed: {detail}")
    return d


def diagnose_host(
    host: Any, open_session: Callable[[Any], Session], renderer: Renderer, *, days: int,
    desired: Mapping[str, Any] | None = None,
) -> tuple[HostDiagnosis, Collected | None]:
    """One host, one session; transport failures become a report, never an exception."""
    try:
        with open_session(host) as session:
            got = collect(session, renderer, host, days=days)
        return analyse(host.name, host.address, got, desired=desired, renderer=renderer, host_vars=host.vars), got
    except Exception as exc:  # noqa: BLE001 - one host's failure (or an output we choke on) is its report
        return failure(host, exc), None


def run_diagnose(
    hosts: Sequence[Any],
    *,
    open_session: Callable[[Any], Session],
    renderer: Renderer,
    days: int = 7,
    forks: int = 50,
    desired: Mapping[str, Mapping[str, Any]] | None = None,
    progress: Progress | None = None,
    inventory: str | None = None,
    playbook: str | None = None,
    warnings: Sequence[str] = (),
) -> tuple[DiagnoseReport, dict[str, Collected]]:
    """Diagnose every host (bounded concurrency); results ranked by risk, worst first."""
    desired = desired or {}
    if progress is not None:
        progress.start(len(hosts), "diagnose")
    try:
        done = fan_out(
            hosts,
            lambda h: diagnose_host(h, open_session, renderer, days=days, desired=desired.get(h.name)),
            forks=forks,
            name=lambda h: h.name,
            status=lambda r: r[0].status if r[0].failed else r[0].verdict,
            progress=progress,
        )
    finally:
        if progress is not None:
            progress.stop()
    collected = {host.name: got for host, (_, got) in done if got is not None}
    report = DiagnoseReport(
        hosts=rank(d for _, (d, _) in done),
        days=days,
        generated_at=datetime.now(timezone.utc),
        inventory=inventory,
        playbook=playbook,
        warnings=list(warnings),
    )
    return report, collected


def watch(
    hosts: Sequence[Any],
    report: DiagnoseReport,
    collected: dict[str, Collected],
    *,
    open_session: Callable[[Any], Session],
    renderer: Renderer,
    interval: float,
    count: int | None,
    forks: int = 50,
    desired: Mapping[str, Mapping[str, Any]] | None = None,
    on_round: Callable[[DiagnoseReport], None] | None = None,
    stop: threading.Event | None = None,
) -> DiagnoseReport:
    """--watch: sample every `interval` s (`count` rounds in all, None: until `stop`/Ctrl-C).

    A round re-reads only the TCP table and process names, analyses the host again against the
    ranges and events of the first round, and fits the trend of ports in use over all rounds.
    Hosts that failed are tried again with a full read. Returns the last round's report.
    """
    desired = desired or {}
    stop = stop or threading.Event()
    by_name = {h.name: h for h in hosts}
    points: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for d in report.hosts:
        if d.main is not None and d.sampled_at is not None:
            points[d.name].append((d.sampled_at, d.main.in_use))
    current = {d.name: d for d in report.hosts}

    def one(host: Any) -> tuple[HostDiagnosis, Collected | None]:
        first = collected.get(host.name)
        if first is None:
            return diagnose_host(host, open_session, renderer, days=report.days, desired=desired.get(host.name))
        try:
            with open_session(host) as session:
                if first.facts.platform == "linux":
                    from portfleet import diagnose_linux

                    s = diagnose_linux.sample(session, renderer)
                else:
                    s = sample(session, renderer, with_q=first.netstat_flags == "-anoq")
            got = dataclasses.replace(first, at=s.at, conns=s.conns, processes=s.processes)
            return analyse(host.name, host.address, got, desired=desired.get(host.name), renderer=renderer,
                           host_vars=host.vars), None
        except Exception as exc:  # noqa: BLE001 - as in diagnose_host
            return failure(host, exc), None

    rounds = 1
    try:
        while (count is None or rounds < count) and not stop.wait(interval):
            results = fan_out(hosts, one, forks=forks, name=lambda h: h.name)
            rounds += 1
            for host, (d, got) in results:
                if got is not None:
                    collected[host.name] = got
                if d.main is not None and d.sampled_at is not None:
                    points[d.name].append((d.sampled_at, d.main.in_use))
                    apply_trend(d, trend_of(points[d.name], d.main.capacity))
                current[host.name] = d
            report = dataclasses.replace(report, hosts=rank(current[h] for h in by_name if h in current),
                                         rounds=rounds, interval_s=interval, generated_at=datetime.now(timezone.utc))
            if on_round is not None:
                on_round(report)
    except (KeyboardInterrupt, Interrupted):
        # Ctrl-C is how an open-ended watch ends: the last complete round is the answer.
        report = dataclasses.replace(report, interrupted=True)
    return report
