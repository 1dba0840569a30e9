"""`portfleet status`: the last known state of every host, from the state store; no host is contacted.

Per host: its status when a run last looked at it (audit, apply and its --check, rollback, a
reboot run's re-audit: state/latest.py), when and by which run (its kind, job and shard), the values
per setting (desired/actual/effective) of the newest reading, the writes still waiting for a boot
(pending_reboots), and the lease a run holds on it right now. A host of the inventory that no run
ever recorded is `never seen`. Nothing here is fresher than the runs that recorded it: the table
says when each host was seen.

Exit (exit_code): 3 when a known host drifts or awaits a reboot, else 0 (hosts last found
unreachable or never seen are listed, but are not known to drift).
The JSON document is the `portfleet.status/1` schema (README "JSON output").
Rows of the store are untrusted input: a value that is not one is a StateError naming the row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping, Sequence

from portfleet.exit_codes import EXIT_DRIFT, EXIT_OK
from portfleet.state import Lease, PendingReboot, Sighting, StateError, Store
from portfleet.times import iso, utcnow

SCHEMA = "portfleet.status/1"
NEVER_SEEN = "never seen"
DRIFTING = ("drift",)
AWAITING = ("pending_reboot",)


@dataclass(frozen=True)
class SeenBy:
    """The run that recorded a host's result, and when."""

    run_id: str
    kind: str
    check_mode: bool
    job: str | None
    shard: str | None
    at: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.run_id, "kind": self.kind, "check_mode": self.check_mode, "job": self.job,
                "shard": self.shard, "at": self.at}


@dataclass(frozen=True)
class SettingState:
    key: str
    desired: Any  # JSON values as the schemas write them: int, null (absent), {"start", "num", "end"}
    actual: Any
    effective: Any
    status: str
    needs_reboot: bool

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "desired": self.desired, "actual": self.actual, "effective": self.effective,
                "status": self.status, "needs_reboot": self.needs_reboot}


@dataclass
class HostState:
    name: str
    status: str  # a host status of the newest sighting, or NEVER_SEEN
    detail: str = ""
    seen: SeenBy | None = None  # the newest sighting
    read: SeenBy | None = None  # the reading the values come from (the sighting, or an older one)
    settings: list[SettingState] = field(default_factory=list)
    pending: list[PendingReboot] = field(default_factory=list)
    lease: Lease | None = None
    os_version: str | None = None

    @property
    def drifts(self) -> bool:
        return self.status in DRIFTING

    @property
    def awaits_reboot(self) -> bool:
        return self.status in AWAITING or bool(self.pending)

    def to_json(self) -> dict[str, Any]:
        lease = None
        if self.lease is not None:
            lease = {"run_id": self.lease.run_id, "controller_host": self.lease.controller_host,
                     "controller_pid": self.lease.controller_pid, "acquired_at": self.lease.acquired_at,
                     "expires_at": self.lease.expires_at, "live": self.lease.live}
        return {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "seen": self.seen.to_json() if self.seen else None,
            "values_from": self.read.to_json() if self.read else None,
            "os_version": self.os_version,
            "settings": [s.to_json() for s in self.settings],
            "pending_reboots": [{"setting": p.setting, "applied_at": iso(p.applied_at), "run_id": p.run_id}
                                for p in self.pending],
            "awaits_reboot": self.awaits_reboot,
            "lease": lease,
        }


@dataclass
class FleetStatus:
    hosts: list[HostState]
    state: str  # the store, password masked
    generated_at: datetime
    inventory: str | None = None
    limit: str | None = None
    job: str | None = None
    shard: str | None = None

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for h in self.hosts:
            counts[h.status] = counts.get(h.status, 0) + 1
        counts["hosts"] = len(self.hosts)
        counts["awaiting_reboot"] = sum(1 for h in self.hosts if h.awaits_reboot)
        return counts

    def exit_code(self) -> int:
        return EXIT_DRIFT if any(h.drifts or h.awaits_reboot for h in self.hosts) else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "generated_at": iso(self.generated_at),
            "state": self.state,
            "inventory": self.inventory,
            "limit": self.limit,
            "job": self.job,
            "shard": self.shard,
            "hosts": [h.to_json() for h in self.hosts],
            "summary": self.summary(),
        }


# -- reading the rows ------------------------------------------------------------------------------


def _damaged(host: str, what: str) -> StateError:
    return StateError(f"the state database is damaged: the recorded {what} of {host} is not a setting value")


def _value(data: Any, host: str) -> Any:
    """A stored setting value, checked: an integer, null, or a port range."""
    if data is None or (isinstance(data, int) and not isinstance(data, bool)):
        return data
    if isinstance(data, Mapping):
        start, num = data.get("start"), data.get("num")
        if all(isinstance(v, int) and not isinstance(v, bool) for v in (start, num)):
            return {"start": start, "num": num, "end": start + num - 1}
    raise _damaged(host, "value")


def _settings(rows: Any, host: str) -> list[SettingState]:
    if not isinstance(rows, list):
        raise _damaged(host, "settings")
    found = []
    for row in rows:
        if not isinstance(row, Mapping):
            raise _damaged(host, "settings")
        if "change" in row:  # apply's record of a write, not a setting's state
            continue
        key, status = row.get("key"), row.get("status")
        if not isinstance(key, str) or not isinstance(status, str):
            raise _damaged(host, "settings")
        found.append(SettingState(key, _value(row.get("desired"), host), _value(row.get("actual"), host),
                                  _value(row.get("effective"), host), status, bool(row.get("needs_reboot"))))
    return found


def _seen_by(s: Sighting) -> SeenBy:
    return SeenBy(s.run_id, s.kind, s.check_mode, s.job, s.shard, s.result.finished_at)


def host_state(name: str, sighting: Sighting | None, reading: Sighting | None, pending: list[PendingReboot],
               lease: Lease | None) -> HostState:
    if sighting is None:
        return HostState(name, NEVER_SEEN, pending=pending, lease=lease)
    state = HostState(name, sighting.result.status, sighting.result.detail or "", _seen_by(sighting),
                      pending=pending, lease=lease)
    if reading is not None:
        state.read = _seen_by(reading)
        state.settings = _settings(reading.result.settings, name)
        facts = reading.result.facts
        version = facts.get("os_version") if isinstance(facts, Mapping) else None
        state.os_version = version if isinstance(version, str) else None
    return state


# -- the operation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class KnownHost:
    name: str


class KnownHosts:
    """The host names the store knows, as an inventory for --limit without -i: names, wildcards,
    regexes, `all`, `!x` and `&x` work (groups are the inventory's: they need -i)."""

    def __init__(self, names: Sequence[str], where: str) -> None:
        self._hosts = [KnownHost(n) for n in names]
        self._by_name = {h.name: h for h in self._hosts}
        self.source = Path(where)

    @property
    def hosts(self) -> list[KnownHost]:
        return self._hosts

    @property
    def groups(self) -> dict[str, object]:
        return {"all": None}

    def has_host(self, name: str) -> bool:
        return name in self._by_name

    def host(self, name: str) -> KnownHost:
        return self._by_name[name]

    def group_hosts(self, name: str) -> list[KnownHost]:
        return list(self._hosts) if name == "all" else []


def known_names(store: Store, job: str | None = None, shard: str | None = None) -> list[str]:
    """Every host a setting run recorded (of the job/shard, when given), by name."""
    return sorted(store.newest_results(job=job, shard=shard))


def fleet_status(store: Store, names: Sequence[str] | None = None, *, job: str | None = None,
                 shard: str | None = None, inventory: str | None = None, limit: str | None = None) -> FleetStatus:
    """The status of `names` (None: every host the store knows), from the newest results of the
    runs (of `job`, of `shard`, when given)."""
    seen = store.newest_results(job=job, shard=shard)
    read = store.newest_results(reads_only=True, job=job, shard=shard)
    pending: dict[str, list[PendingReboot]] = {}
    for p in store.pending_reboots():
        pending.setdefault(p.host, []).append(p)
    leases = {lease.host: lease for lease in store.leases()}
    listed = sorted(seen) if names is None else sorted(set(names))
    hosts = [host_state(n, seen.get(n), read.get(n), pending.get(n, []), leases.get(n)) for n in listed]
    return FleetStatus(hosts, str(store.location), utcnow(), inventory, limit, job, shard)
