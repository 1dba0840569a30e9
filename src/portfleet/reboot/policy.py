"""Where a host's maintenance windows and the reboot policy come from.

Per host, the inventory wins (vars merged all < group < child group < host, as Ansible does):
  portfleet_maintenance_windows   a list of window specs, or one string ("Sat 02:00-04:00; Sun 02:00-04:00")
  portfleet_timezone              IANA zone of those windows (default: the play's, else UTC)
  portfleet_freeze                freeze dates / ranges; ADDED to the play's freeze (a freeze only restricts)
else the `reboot:` block of the last play naming the host that has one (windows, timezone, freeze,
max_parallel, batch, max_unavailable). A host with no window anywhere cannot be scheduled (except by
`reboot run --now`). Invalid windows are WindowErrors naming file:line (the inventory var's
definition, or the playbook entry's own line).

Policy: max_parallel is the smallest any involved play gives; batch (a count or a % of the hosts to
reboot) likewise, after resolving; a play's max_unavailable applies to every group of its hosts,
resolved against the group's full size in the inventory ("never more than N or N% of one group down
at once"), the smallest winning when plays disagree about a group.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Iterable

import yaml

from portfleet.playbook import RebootBlock
from portfleet.shares import Share, parse_share
from portfleet.reboot.maintenance import MaintenanceSchedule, WindowError, parse_timezone, parse_windows

__all__ = [
    "ALWAYS",
    "HostWindows",
    "PolicyInputs",
    "always_schedule",
    "build_policy",
    "play_group",
    "estimate_duration",
    "host_windows",
    "reboot_plays",
]

WINDOWS_VAR = "portfleet_maintenance_windows"
TIMEZONE_VAR = "portfleet_timezone"
FREEZE_VAR = "portfleet_freeze"


def always_schedule() -> MaintenanceSchedule:
    """Every minute of every day: `reboot run --now` ignores windows but keeps the batch limits."""
    return parse_windows(["daily 00:00-24:00"], "UTC", source="--now")


ALWAYS = always_schedule()


@dataclass(frozen=True)
class HostWindows:
    schedule: MaintenanceSchedule | None  # None: no window is set anywhere for this host
    source: str  # "inventory.yml:12" / "playbook.yml:30 (play 'X')" / "" when none


@dataclass(frozen=True)
class PlayReboot:
    """The `reboot:` block of one play, as the hosts of that play see it."""

    index: int  # 0-based position in the playbook
    name: str
    source: str  # the playbook file
    block: RebootBlock  # typed by the playbook loader, with the lines of its entries


def reboot_plays(inventory: Any, playbook: Any, names: Iterable[str]) -> dict[str, PlayReboot | None]:
    """For each host name: the last play naming it that has a `reboot:` block (None: no such play)."""
    wanted = set(names)
    found: dict[str, PlayReboot | None] = {n: None for n in wanted}
    for index, play in enumerate(playbook.plays):
        if play.reboot is None:
            continue
        try:
            matched = inventory.select(play.hosts)
        except Exception:  # noqa: BLE001 - a play matching nothing is a warning elsewhere (desired.build_desired)
            continue
        entry = PlayReboot(index, play.name, play.source or str(playbook.path), play.reboot)
        for host in matched:
            if host.name in wanted:
                found[host.name] = entry
    return found


def _as_list(value: Any) -> list[Any]:
    """A var given as a list, a YAML/JSON list in a string (INI inventories), or one string."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            parsed = None
        if isinstance(parsed, list):
            return parsed
    return [value]


def _origin(host: Any, key: str) -> tuple[str, int | None]:
    origin = host.var_origin(key) if hasattr(host, "var_origin") else None
    if origin is None:
        return (str(getattr(host, "source", None) or "<inventory>"), None)
    return (str(origin.path), origin.line)


def host_windows(host: Any, play: PlayReboot | None) -> HostWindows:
    """The host's maintenance schedule; WindowError (file:line) when a window, zone or date is invalid."""
    hv = host.vars
    block = play.block if play else None
    play_source = play.source if play else "<playbook>"

    # Time zone: the host's var, else the play's, else UTC.
    if hv.get(TIMEZONE_VAR) is not None:
        tz_source, tz_line = _origin(host, TIMEZONE_VAR)
        tz = hv[TIMEZONE_VAR]
    elif block is not None and block.timezone:
        tz_source, tz_line, tz = play_source, block.line_of("timezone"), block.timezone
    else:
        tz_source, tz_line, tz = "<default>", None, "UTC"
    tz = parse_timezone(tz if isinstance(tz, str) else repr(tz), tz_source, tz_line)

    # Freeze dates: the play's and the host's, together.
    freeze: list[Any] = []
    freeze_lines: list[int | None] = []
    freeze_sources: list[str] = []
    for i, item in enumerate(block.freeze if block is not None else ()):
        freeze.append(item)
        freeze_lines.append(block.freeze_lines[i] if i < len(block.freeze_lines) else block.line)
        freeze_sources.append(play_source)
    if hv.get(FREEZE_VAR) is not None:
        f_source, f_line = _origin(host, FREEZE_VAR)
        for item in _as_list(hv[FREEZE_VAR]):
            freeze.append(item)
            freeze_lines.append(f_line)
            freeze_sources.append(f_source)
    # Freeze entries are checked one by one so each error names its own file.
    for item, line, source in zip(freeze, freeze_lines, freeze_sources):
        parse_windows([], tz, [item], source, freeze_lines=[line])

    if hv.get(WINDOWS_VAR) is not None:
        source, line = _origin(host, WINDOWS_VAR)
        raw = hv[WINDOWS_VAR]
        specs = raw if isinstance(raw, str) and not raw.strip().startswith("[") else _as_list(raw)
        schedule = parse_windows(specs, tz, freeze, source, line=line, freeze_lines=freeze_lines)
        where = f"{source}:{line}" if line else source
        return HostWindows(_nonempty(schedule, source, line), where)
    if block is not None and block.windows:
        schedule = parse_windows(
            list(block.windows),
            tz,
            freeze,
            play_source,
            line=block.line,
            lines=list(block.window_lines) or None,
            freeze_lines=freeze_lines,
        )
        line = block.line
        where = f"{play_source}:{line}" if line else play_source
        return HostWindows(_nonempty(schedule, play_source, line), f"{where} (play {play.name!r})" if play else where)
    return HostWindows(None, "")


def _nonempty(schedule: MaintenanceSchedule, source: str, line: int | None) -> MaintenanceSchedule:
    if not schedule.specs:
        raise WindowError("no maintenance window given (write e.g. ['Sat 02:00-04:00'])", source, line)
    return schedule


# -- policy ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyInputs:
    """What build_policy decided, for the planner and the plan's header."""

    max_parallel: int | None  # fleet-wide cap per batch (--max-parallel)
    batch: int | None  # fleet-wide batch size (--batch), resolved to a count
    max_unavailable: dict[str, int]  # group (or play_group(play)) -> most hosts of it down at once
    notes: tuple[str, ...] = ()


def play_group(play: PlayReboot) -> str:
    """The planner group standing for one play's hosts: its max_parallel / batch limit them together."""
    return f"play:{play.name}"


def _resolve(value: Share | int | str, total: int) -> int:
    """A count, or a share of `total` rounded down and at least 1 (Ansible's serial)."""
    return parse_share(value).resolve(total)


def build_policy(
    hosts: list[Any],
    plays: dict[str, PlayReboot | None],
    group_sizes: dict[str, int],
    *,
    max_parallel: int | None = None,
    batch: Share | int | str | None = None,
    max_unavailable: Share | int | str | None = None,
) -> PolicyInputs:
    """Resolve the limits for the hosts to reboot.

    A play's max_parallel and batch (a count, or a share of the play's hosts to reboot) limit that
    play's hosts in one batch; its max_unavailable limits each inventory group of its hosts, as a
    count or a share of the group's full size. --max-parallel / --batch cap every batch;
    --max-unavailable replaces the plays' value for every group."""
    total = len(hosts)
    limits: dict[str, int] = {}
    members: dict[str, list[Any]] = {}
    by_group: dict[str, PlayReboot] = {}
    for h in hosts:
        play = plays.get(h.name)
        if play is not None:
            members.setdefault(play_group(play), []).append(h)
            by_group[play_group(play)] = play
    for group, play in by_group.items():
        count = len(members[group])
        caps = []
        if play.block.max_parallel:
            caps.append(play.block.max_parallel)
        if play.block.batch is not None:
            caps.append(play.block.batch.resolve(count))
        if caps:
            limits[group] = min(caps)
    for h in hosts:
        play = plays.get(h.name)
        value = max_unavailable if max_unavailable is not None else (play.block.max_unavailable if play else None)
        if value is None:
            continue
        for g in sorted(h.groups):  # a frozenset: sorted, so the JSON lists the limits in a stable order
            count = _resolve(value, group_sizes.get(g, total))
            limits[g] = min(limits.get(g, count), count)
    size = _resolve(batch, total) if batch is not None else None
    return PolicyInputs(max_parallel, size, limits, ())


def estimate_duration(delay: float, timeout_down: float, timeout_up: float) -> timedelta:
    """The longest one host may take: its shutdown grace period, going down, coming back. A batch
    starts only if even this worst case ends inside every member's window."""
    return timedelta(seconds=max(1.0, float(delay) + float(timeout_down) + float(timeout_up)))
