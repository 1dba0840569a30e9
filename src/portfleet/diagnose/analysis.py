"""The usage of the dynamic ranges, the verdict and its evidence: the pure analysis of one host.

As the port-exhaustion troubleshooting guide does it
(learn.microsoft.com/troubleshoot/windows-client/networking/tcp-ip-port-exhaustion-troubleshooting):
ports of the dynamic range in use by state and by owning process, how full the range is, events
4227/4231 as Windows' own word, and the reading that matters most: many CLOSE_WAIT or BOUND ports
held by one process are that application's leak (a socket nobody closes), while many TIME_WAIT
ports are connection churn that TcpTimedWaitDelay and a wider range can absorb.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any, Mapping, Sequence

from portfleet.diagnose import linux
from portfleet.diagnose.model import FAMILIES, RANGE_KEYS, Collected, HostDiagnosis, ProcessUse, RangeUse, iso_utc
from portfleet.diagnose.ports import excluded_ports_in, is_ipv6, listening_ports
from portfleet.diagnose.recommend import modern_maxuserport_warning, playbook_warnings, recommend
from portfleet.diagnose.thresholds import AT_RISK_FILL, EXHAUSTED_FILL, LEAK_MIN_PORTS, LEAK_MIN_SHARE
from portfleet.facts import HostFacts, local_to_utc
from portfleet.parse.netsh import PortRange
from portfleet.parse.netstat import BOUND, CLOSE_WAIT, ESTABLISHED, LISTENING, TIME_WAIT, Conn
from portfleet.parse.tasklist import Process
from portfleet.parse.wevtutil import Event
from portfleet.render import Renderer
from portfleet.settings import Reading, ReadStatus

STATE_ORDER = (TIME_WAIT, CLOSE_WAIT, BOUND, ESTABLISHED, LISTENING)


def effective_ranges(facts: HostFacts, readings: Mapping[str, Reading]) -> dict[str, PortRange | None]:
    """The four dynamic ranges in force. Pre-Vista: 1025..MaxUserPort (default 5000, KB 196271)."""
    if facts.platform == "linux":
        return linux.effective_ranges(readings)
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
    family = "ipv6" if is_ipv6(conn.local_addr) else "ipv4"
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
        ex = excluded_ports_in(excluded.get(f"{family}.tcp", []), r) if r else 0
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
    return f"[{addr}]" if is_ipv6(addr) else addr


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
    days: int | None = None,
) -> HostDiagnosis:
    """The verdict of one host, with its evidence, recommendations and playbook warnings.

    `days`: the window the System events were read over (--days), named in the evidence."""
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
    on_linux = facts.platform == "linux"
    if on_linux:
        linux.relabel(procs)
        d.timed_wait_delay = linux.TIME_WAIT_SECONDS  # fixed in the Linux kernel
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
        {"id": e.id, "at": iso_utc(local_to_utc(e.date, facts.tz_bias_minutes, facts, "an event's date")) if e.date else None,
         "source": e.source, "message": _first_sentence(e.message)}
        for e in newest.values()
    ]
    _judge(d, procs, days)
    if on_linux:
        linux.recommend(d, got.readings)
        if desired:
            d.warnings.extend(linux.playbook_warnings(desired, got.conns, d.ranges, d.tcp))
        return d
    recommend(d, facts, renderer, host_vars or {})
    if desired:
        d.warnings.extend(playbook_warnings(desired, got.conns, d.ranges, d.excluded, d.tcp))
    modern_maxuserport_warning(d, facts, got.readings)
    return d


def _first_sentence(message: str, limit: int = 240) -> str:
    text = " ".join(message.split())
    end = text.find(". ")
    text = text[: end + 1] if end != -1 else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _leak_threshold(capacity: int) -> int:
    return max(LEAK_MIN_PORTS, math.ceil(capacity * LEAK_MIN_SHARE))


def _judge(d: HostDiagnosis, procs: list[ProcessUse], days: int | None = None) -> None:
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
    window = f"in the last {days} day{'s' if days != 1 else ''}" if days else "in the period read"
    if n4231 and not d.exhaustion_last_day:
        at_risk.append(f"event 4231 ×{n4231} {window}: the port space ran out before")
    if n4227:
        at_risk.append(f"event 4227 ×{n4227} {window}: connections failed because a local endpoint was reused too soon "
                       "(TIME_WAIT)")
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

