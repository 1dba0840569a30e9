"""Rolling-reboot planning: hosts -> ordered batches inside their maintenance windows.

Pure: no I/O, no clock (the caller passes `now`). The plan is built greedily in time order:

* Batches run one after another; a batch's hosts reboot together. The next batch starts when
  the previous one is estimated to finish (start + the longest estimated reboot in it, + pause).
* A batch starts at the earliest instant T at which some waiting host is inside one of its own
  windows with room to finish (T + its estimated reboot <= that window's end). Only hosts for
  which that holds at T may join, so hosts of different zones share a batch only when the batch
  fits in every member's window. Candidates are taken by (window start, name).
* Limits per batch: size <= min(batch_size, max_parallel); per group <= max_unavailable (a
  count, or a % of the group). Since batches run one after another, "never more than N of a group
  down at once" is a per-batch limit. Percentages round down, minimum 1 (Ansible's `serial: 10%`).
* latest_safe_start: the last moment the batch may still start and have every member finish
  before its own window closes; the executor must not start the batch after it.
* A host with no usable window within the horizon (default 60 days) is reported unschedulable,
  with the reason. The result does not depend on the order of the input.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from portfleet.reboot.maintenance import MaintenanceSchedule, Window
from portfleet.shares import Share, ShareError, parse_share

__all__ = [
    "Batch",
    "PlannedHost",
    "PolicyError",
    "RebootHost",
    "RebootPlan",
    "RebootPolicy",
    "Unschedulable",
    "plan_reboots",
]

UTC = timezone.utc


class PolicyError(ValueError):
    """An invalid reboot policy value; the message says what would be right."""


@dataclass(frozen=True)
class RebootHost:
    """A host to reboot: its groups, its maintenance windows, its estimated reboot duration
    (shutdown, boot, and the re-audit that confirms the settings)."""

    name: str
    groups: tuple[str, ...]
    schedule: MaintenanceSchedule
    duration: timedelta = timedelta(minutes=15)

    def __post_init__(self) -> None:
        object.__setattr__(self, "groups", tuple(self.groups))
        if not self.name:
            raise ValueError("a host needs a name")
        if self.duration <= timedelta(0):
            raise ValueError(f"{self.name}: estimated reboot duration must be positive, got {self.duration}")


@dataclass(frozen=True)
class RebootPolicy:
    """Limits for a rolling reboot. Counts are ints (or digit strings); shares are 'N%'."""

    max_parallel: int | None = None
    batch_size: int | str | None = None  # count, or % of the hosts to reboot
    max_unavailable: Mapping[str, int | str] = field(default_factory=dict)  # group -> count or %
    default_max_unavailable: int | str | None = None  # for groups not in max_unavailable
    horizon: timedelta = timedelta(days=60)
    pause: timedelta = timedelta(0)  # settle time between batches

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_unavailable", dict(self.max_unavailable))
        if self.max_parallel is not None:
            _parse_share(self.max_parallel, "max_parallel", allow_percent=False)
        if self.batch_size is not None:
            _parse_share(self.batch_size, "batch_size")
        if self.default_max_unavailable is not None:
            _parse_share(self.default_max_unavailable, "default max_unavailable")
        for group, value in self.max_unavailable.items():
            _parse_share(value, f"max_unavailable for group {group!r}")
        if self.horizon <= timedelta(0):
            raise PolicyError(f"horizon must be positive, got {self.horizon}")
        if self.pause < timedelta(0):
            raise PolicyError(f"pause between batches cannot be negative, got {self.pause}")


@dataclass(frozen=True)
class PlannedHost:
    name: str
    groups: tuple[str, ...]
    window: Window  # the host's own window (local spec and zone) this batch runs in
    duration: timedelta

    @property
    def latest_start(self) -> datetime:
        return self.window.end - self.duration


@dataclass(frozen=True)
class Batch:
    number: int  # 1-based
    total: int  # number of batches in the plan
    start: datetime
    estimated_end: datetime
    latest_safe_start: datetime
    window: Window  # where every member is inside its own window: the intersection
    members: tuple[PlannedHost, ...]  # sorted by name

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.members)


@dataclass(frozen=True)
class Unschedulable:
    name: str
    reason: str


@dataclass(frozen=True)
class RebootPlan:
    now: datetime
    horizon: timedelta
    batches: tuple[Batch, ...]
    unschedulable: tuple[Unschedulable, ...]  # sorted by name

    @property
    def hosts(self) -> tuple[str, ...]:
        """Planned hosts in reboot order."""
        return tuple(name for b in self.batches for name in b.hosts)

    def batch_of(self, name: str) -> Batch | None:
        return next((b for b in self.batches if name in b.hosts), None)

    def to_dict(self) -> dict:
        """JSON-ready form (UTC times as 'YYYY-MM-DDTHH:MM:SSZ', durations in seconds)."""
        return {
            "now": _iso(self.now),
            "horizon_days": self.horizon / timedelta(days=1),
            "batches": [
                {
                    "batch": b.number,
                    "of": b.total,
                    "start": _iso(b.start),
                    "estimated_end": _iso(b.estimated_end),
                    "latest_safe_start": _iso(b.latest_safe_start),
                    "window": {"start": _iso(b.window.start), "end": _iso(b.window.end), "spec": b.window.spec},
                    "hosts": [
                        {
                            "name": m.name,
                            "groups": list(m.groups),
                            "tz": m.window.tz,
                            "window": {
                                "start": _iso(m.window.start),
                                "end": _iso(m.window.end),
                                "local_start": m.window.local_start.isoformat(),
                                "local_end": m.window.local_end.isoformat(),
                                "spec": m.window.spec,
                            },
                            "duration_s": int(m.duration.total_seconds()),
                        }
                        for m in b.members
                    ],
                }
                for b in self.batches
            ],
            "unschedulable": [{"name": u.name, "reason": u.reason} for u in self.unschedulable],
            "summary": {
                "hosts": len(self.hosts) + len(self.unschedulable),
                "planned": len(self.hosts),
                "unschedulable": len(self.unschedulable),
                "batches": len(self.batches),
            },
        }


def plan_reboots(
    hosts: Sequence[RebootHost],
    now: datetime,
    policy: RebootPolicy | None = None,
    *,
    group_sizes: Mapping[str, int] | None = None,
) -> RebootPlan:
    """Plan a rolling reboot of `hosts` from `now` (aware; rounded up to the whole minute).

    `group_sizes` gives each group's full size in the inventory, the base of a group's '%' limit;
    without it, the number of hosts of that group in `hosts` is the base."""
    policy = policy or RebootPolicy()
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be a timezone-aware datetime, got {now!r}")
    now = _ceil_minute(now.astimezone(UTC))
    seen: set[str] = set()
    for h in hosts:
        if h.name in seen:
            raise ValueError(f"host {h.name!r} is listed twice")
        seen.add(h.name)

    horizon_end = now + policy.horizon
    cap = _batch_cap(policy, len(hosts))
    limits = _group_limits(policy, hosts, group_sizes or {})

    unschedulable: list[Unschedulable] = []
    waiting: dict[str, _Waiting] = {}
    by_schedule: dict[MaintenanceSchedule, list[Window]] = {}  # hosts of one group share a schedule
    for h in sorted(hosts, key=lambda h: h.name):
        if h.schedule not in by_schedule:
            by_schedule[h.schedule] = h.schedule.windows_between(now, horizon_end)
        usable = [w for w in by_schedule[h.schedule] if max(w.start, now) + h.duration <= w.end]
        if usable:
            waiting[h.name] = _Waiting(h, usable)
        else:
            unschedulable.append(Unschedulable(h.name, _why_no_window(h, now, policy.horizon)))

    drafts: list[tuple[datetime, list[tuple[RebootHost, Window]]]] = []
    t = now
    while waiting:
        ready: list[tuple[datetime, Window, RebootHost]] = []
        for name in list(waiting):
            entry = waiting[name]
            w = entry.first_fit(t)
            if w is None:  # later batches used up every window it had within the horizon
                del waiting[name]
                unschedulable.append(Unschedulable(name, _why_crowded_out(policy)))
            else:
                ready.append((max(w.start, t), w, entry.host))
        if not ready:
            break
        start = min(r[0] for r in ready)
        candidates = sorted((r for r in ready if r[0] == start), key=lambda r: (r[1].start, r[2].name))
        chosen: list[tuple[RebootHost, Window]] = []
        down: dict[str, int] = {}
        for _, w, h in candidates:
            if len(chosen) >= cap:
                break
            if any(g in limits and down.get(g, 0) >= limits[g] for g in h.groups):
                continue
            for g in h.groups:
                down[g] = down.get(g, 0) + 1
            chosen.append((h, w))
            del waiting[h.name]
        drafts.append((start, chosen))
        t = start + max(h.duration for h, _ in chosen) + policy.pause

    batches = tuple(_make_batch(i + 1, len(drafts), start, chosen) for i, (start, chosen) in enumerate(drafts))
    return RebootPlan(now, policy.horizon, batches, tuple(sorted(unschedulable, key=lambda u: u.name)))


@dataclass
class _Waiting:
    host: RebootHost
    windows: list[Window]
    index: int = 0

    def first_fit(self, t: datetime) -> Window | None:
        """The first window in which a reboot starting at or after t still fits; t only grows."""
        while self.index < len(self.windows):
            w = self.windows[self.index]
            if max(w.start, t) + self.host.duration <= w.end:
                return w
            self.index += 1
        return None


def _make_batch(number: int, total: int, start: datetime, chosen: list[tuple[RebootHost, Window]]) -> Batch:
    members = tuple(sorted((PlannedHost(h.name, h.groups, w, h.duration) for h, w in chosen), key=lambda m: m.name))
    zones = sorted({m.window.tz for m in members})
    specs: list[str] = []
    for m in members:
        label = m.window.spec if len(zones) == 1 else f"{m.window.spec} ({m.window.tz})"
        if label not in specs:
            specs.append(label)
    window = Window(
        start=max(m.window.start for m in members),
        end=min(m.window.end for m in members),
        spec=" & ".join(specs),
        tz=zones[0] if len(zones) == 1 else "UTC",
    )
    return Batch(
        number=number,
        total=total,
        start=start,
        estimated_end=start + max(m.duration for m in members),
        latest_safe_start=min(m.latest_start for m in members),
        window=window,
        members=members,
    )


def _parse_share(value: int | str, what: str, allow_percent: bool = True) -> Share:
    """The policy value as a Share; PolicyError says what is wrong and what would be right."""
    example = "2 or '25%'" if allow_percent else "2"
    try:
        return parse_share(value, allow_percent=allow_percent)
    except ShareError as exc:
        hint = {"too_small": " (to keep hosts from rebooting, leave them out)", "out_of_range": ""}.get(
            exc.reason, f" (write e.g. {example})")
        raise PolicyError(f"{what}: {exc}{hint}") from None


def _resolve(value: int | str, total: int, what: str) -> int:
    return _parse_share(value, what).resolve(total)


def _batch_cap(policy: RebootPolicy, total: int) -> int:
    caps = [total or 1]
    if policy.batch_size is not None:
        caps.append(_resolve(policy.batch_size, total, "batch_size"))
    if policy.max_parallel is not None:
        caps.append(_resolve(policy.max_parallel, total, "max_parallel"))
    return min(caps)


def _group_limits(policy: RebootPolicy, hosts: Sequence[RebootHost], sizes: Mapping[str, int]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for h in hosts:
        for g in h.groups:
            counts[g] = counts.get(g, 0) + 1
    limits = {}
    for g, n in counts.items():
        value = policy.max_unavailable.get(g, policy.default_max_unavailable)
        if value is not None:
            limits[g] = _resolve(value, sizes.get(g, n), f"max_unavailable for group {g!r}")
    return limits


def _why_no_window(h: RebootHost, now: datetime, horizon: timedelta) -> str:
    days = _fmt_days(horizon)
    if not h.schedule.specs:
        return "no maintenance window is set for this host"
    inside = h.schedule.windows_between(now, now + horizon)
    if inside:
        longest = max(w.end - max(w.start, now) for w in inside)
        return (
            f"no maintenance window in the next {days} is long enough for the estimated "
            f"{_fmt_td(h.duration)} reboot (longest: {_fmt_td(longest)})"
        )
    later = h.schedule.next_window(now + horizon)
    frozen = " (freeze dates)" if h.schedule.freeze else ""
    if later is not None:
        return f"no maintenance window in the next {days}{frozen}; the next one is {later.describe()}"
    return f"no maintenance window in the next {days} nor the year after{frozen}"


def _why_crowded_out(policy: RebootPolicy) -> str:
    return (
        f"its maintenance windows in the next {_fmt_days(policy.horizon)} are taken by earlier batches "
        "(batch size, max parallel and group max_unavailable limits); widen its windows or the limits"
    )


def _ceil_minute(t: datetime) -> datetime:
    floor = t.replace(second=0, microsecond=0)
    return floor if floor == t else floor + timedelta(minutes=1)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fmt_days(td: timedelta) -> str:
    d = td / timedelta(days=1)
    return f"{d:g} days" if d != 1 else "1 day"


def _fmt_td(td: timedelta) -> str:
    minutes = int(td.total_seconds() // 60)
    h, m = divmod(minutes, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m"
