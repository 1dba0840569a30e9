"""The diagnose data: what one session read (Collected, Sample) and what was concluded from it.

HostDiagnosis and DiagnoseReport are values: their to_json() is the `portfleet.diagnose/1` schema
(README); rendering (table, HTML) happens at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from portfleet.facts import HostFacts
from portfleet.parse.netsh import PortRange
from portfleet.parse.netstat import Conn
from portfleet.parse.tasklist import Process
from portfleet.parse.wevtutil import Event
from portfleet.settings import Reading

VERDICTS = ("exhausted", "at_risk", "unknown", "healthy")  # risk order, worst first
FAILED_STATUSES = ("unreachable", "auth_failed", "error")

# The four dynamic ranges a Windows host keeps, as settings-catalogue keys and their parts.
RANGE_KEYS = ("dynamicport.ipv4.tcp", "dynamicport.ipv6.tcp", "dynamicport.ipv4.udp", "dynamicport.ipv6.udp")
FAMILIES = ("ipv4", "ipv6")
PROTOCOLS = ("tcp", "udp")


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
            "samples": [{"at": iso_utc(t), "in_use": n} for t, n in self.points],
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
            "sampled_at": iso_utc(self.sampled_at) if self.sampled_at else None,
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
            "generated_at": iso_utc(self.generated_at),
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


def iso_utc(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat(timespec="seconds")


def _range_json(r: PortRange | None) -> dict[str, int] | None:
    return None if r is None else {"start": r.start, "num": r.num, "end": r.end}
