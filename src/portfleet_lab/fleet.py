"""The lab fleet: simulated Windows hosts, their command interpreter, reboots, persistence.

Public API (see notes/lab_contract.md): CommandResult, Faults, LabHost, Fleet. Pure Python, no sockets:
the WS-Management server calls ``LabHost.execute`` and drives time with ``Fleet.tick``.
"""

from __future__ import annotations

import ipaddress
import random
import secrets
import threading
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from . import events
from .clock import LabClock
from .cmd import netstat, shell
from .cmd.base import Ctx
from .model import (
    CBS_REBOOT_PENDING,
    SESSION_MANAGER,
    TCPIP_PARAMETERS,
    WU_REBOOT_REQUIRED,
    Faults,
    HostState,
    PortRange,
)
from .profiles import Plan, build_host, plan_fleet
from .replay import Capture
from .store import StateDir

__all__ = ["CommandResult", "Faults", "LabHost", "Fleet", "StoredFleet", "stored_fleet", "BOOT_LAB_SECONDS"]

BOOT_LAB_SECONDS = 45.0  # how long a host is unreachable during a restart (lab seconds, scaled)
SHUTDOWN_LAB_SECONDS = 5.0  # from "the timer fired" to "services stopped, connections refused"
LAB_USER = "labadmin"
EXHAUSTION_EVENT_LAB_SECONDS = 3 * 3600.0  # how often an exhausted host logs Tcpip 4227/4231


@dataclass
class CommandResult:
    stdout: str  # text with CRLF line ends, as Windows prints
    stderr: str
    exit_code: int
    # True when the program sits at a prompt reading stdin (e.g. `reg add` without /f on an existing
    # value): on Windows the WinRS command then stays Running, the output so far having been sent, until
    # the client sends input or terminates it. exit_code is then only what a terminate would leave (1).
    waiting_for_input: bool = False


class LabHost:
    """One simulated Windows machine."""

    def __init__(self, fleet: "Fleet", state: HostState, capture: Capture | None = None) -> None:
        self._fleet = fleet
        self.state = state
        self.capture = capture
        self._lock = threading.RLock()

    # -- identity (contract attributes)
    @property
    def name(self) -> str:
        return self.state.name

    @property
    def address(self) -> str:
        return self.state.address

    @property
    def groups(self) -> list[str]:
        return list(self.state.groups)

    @property
    def os_version(self) -> str:
        if self.capture is not None and self.capture.os_version:
            return self.capture.os_version
        return self.state.os_version

    @property
    def oem_codepage(self) -> int:
        if self.capture is not None and self.capture.oem_codepage:
            return self.capture.oem_codepage
        return self.state.oem_codepage

    @property
    def faults(self) -> Faults:
        return self.state.faults

    @property
    def is_up(self) -> bool:
        return self.state.down_since is None

    # -- commands
    def execute(self, command_line: str) -> CommandResult:
        """Run one command line with cmd.exe /c semantics; persists any change it makes."""
        if self.capture is not None:
            stdout, stderr, code = self.capture.answer(command_line)
            return CommandResult(stdout, stderr, code)
        with self._lock:
            ctx = self._ctx()
            self._log_exhaustion(ctx.now)
            out = shell.run_line(ctx, command_line)
            if ctx.changed:
                self.save()
            code = out.code if out.code is not None else 0
            return CommandResult(out.stdout, out.stderr, code, out.waiting_for_input)

    def _log_exhaustion(self, now: float) -> None:
        """While the leak keeps the dynamic range full, Tcpip keeps logging 4227/4231 (every few lab hours)."""
        s = self.state
        if s.tcp.leak is None or netstat.plan_counts(s, self._fleet.clock, now)["free"] > 0:
            return
        step = self._fleet.clock.real_seconds(EXHAUSTION_EVENT_LAB_SECONDS)
        last = max((e.time for e in s.events if e.provider == "Tcpip"), default=s.boot_time)
        t = max(last, s.boot_time) + step
        added = 0
        while t <= now and added < 20:
            events.port_exhaustion(s, t, 4227)
            events.port_exhaustion(s, min(t + min(step / 10, 30.0), now), 4231)
            t += step
            added += 1
        if added:
            s.events.sort(key=lambda e: e.time)
            self.save()

    def _ctx(self) -> Ctx:
        clock = self._fleet.clock
        return Ctx(host=self.state, clock=clock, now=clock.now(), user=self._fleet.username)

    def save(self) -> None:
        self._fleet._store.save_host(self.name, self.state.to_json())

    # -- snapshot
    def to_json(self) -> dict:
        with self._lock:
            s = self.state
            data = s.to_json()
            reg = s.registry
            now = self._fleet.clock.now()
            data["is_up"] = self.is_up
            data["replay"] = self.capture.path if self.capture is not None else None
            data["events"] = {"count": len(s.events), "last": [asdict(e) for e in s.events[-10:]]}
            data["tcp_summary"] = netstat.summary(s, self._fleet.clock, now)
            data["settings"] = {
                "TcpTimedWaitDelay": {
                    "configured": reg.dword(TCPIP_PARAMETERS, "TcpTimedWaitDelay"),
                    "effective": s.effective.get("TcpTimedWaitDelay"),
                    "effective_seconds": effective_time_wait(s),
                },
                "MaxUserPort": {
                    "configured": reg.dword(TCPIP_PARAMETERS, "MaxUserPort"),
                    "effective": s.effective.get("MaxUserPort"),
                },
            }
            data["reboot_pending"] = {
                "cbs": reg.find_key(CBS_REBOOT_PENDING) is not None,
                "windows_update": reg.find_key(WU_REBOOT_REQUIRED) is not None,
                "pending_file_rename": reg.get(SESSION_MANAGER, "PendingFileRenameOperations") is not None,
            }
            return data


def effective_time_wait(state: HostState) -> int:
    """Seconds a closed connection stays in TIME_WAIT: the value read at boot, else the default
    (120 s from Server 2003 on; https://learn.microsoft.com/troubleshoot/windows-client/networking/
    tcpip-and-nbt-configuration-parameters "TcpTimedWaitDelay ... Default: 0xF0 (240)" was NT/2000)."""
    value = state.effective.get("TcpTimedWaitDelay")
    return int(value) if value else 120


@dataclass(frozen=True)
class StoredFleet:
    """What a state directory's fleet was made with (`lab serve` compares it with its options)."""

    hosts: int  # generated hosts (hosts a --replay added are not counted)
    first_address: str
    last_address: str
    profile: str
    seed: int


def stored_fleet(state_dir: Path) -> StoredFleet | None:
    """The fleet kept in ``state_dir``, summarized; None when it holds none. ValueError/OSError for a
    damaged one."""
    store = StateDir(Path(state_dir))
    if not store.exists():
        return None
    meta = store.load_fleet()
    hosts = [store.load_host(name) for name in meta["hosts"]]
    addresses = sorted((h["address"] for h in hosts), key=ipaddress.IPv4Address) or [meta["first_address"]]
    return StoredFleet(sum(1 for h in hosts if h.get("role") != "replay"), meta["first_address"], addresses[-1],
                       meta["profile"], meta["seed"])


class Fleet:
    """All simulated hosts of one lab, persisted in a state directory."""

    def __init__(self, store: StateDir, clock: LabClock, meta: dict, username: str, password: str) -> None:
        self._store = store
        self.clock = clock
        self.meta = meta
        self.username = username
        self.password = password
        self.hosts: list[LabHost] = []
        self._by_key: dict[str, LabHost] = {}

    # -- opening
    @classmethod
    def open(cls, state_dir: Path, *, hosts: int | None = None, profile: str = "mixed", seed: int = 1,
             first_address: str = "127.0.10.1", time_scale: float = 1.0,
             replay: dict[str, Path] | None = None) -> "Fleet":
        """Load the fleet kept in ``state_dir``, or generate (and save) one of ``hosts`` hosts (the
        other arguments are those of a new fleet; `lab serve` refuses options an existing one contradicts)."""
        store = StateDir(Path(state_dir))
        clock = LabClock(time_scale)
        if store.exists():
            meta = store.load_fleet()
            creds = store.load_credentials()
            fleet = cls(store, clock, meta, creds["username"], creds["password"])
            for name in meta["hosts"]:
                fleet._add(HostState.from_json(store.load_host(name)))
        else:
            if hosts is None:
                raise ValueError(f"{state_dir} holds no lab fleet yet: give the number of hosts to make")
            meta = {"profile": profile, "seed": seed, "first_address": first_address, "hosts": [], "replay": {}}
            fleet = cls(store, clock, meta, LAB_USER, secrets.token_urlsafe(18))
            now = clock.now()
            base = ipaddress.IPv4Address(first_address)
            for i, plan in enumerate(plan_fleet(hosts, profile, seed)):
                fleet._add(build_host(plan, i, str(base + i), seed, now))
            meta["hosts"] = [h.name for h in fleet.hosts]
            store.root.mkdir(parents=True, exist_ok=True)
            store.save_credentials(fleet.username, fleet.password)
            for h in fleet.hosts:
                h.save()
            store.save_fleet(meta)
        if replay:
            fleet._attach_replays({k: Path(v) for k, v in replay.items()})
        for name, path in fleet.meta.get("replay", {}).items():
            host = fleet._by_key.get(name.lower())
            if host is not None and host.capture is None:
                host.capture = Capture.load(Path(path))
        return fleet

    def _add(self, state: HostState) -> LabHost:
        host = LabHost(self, state)
        self.hosts.append(host)
        self._by_key[state.name.lower()] = host
        self._by_key[state.address] = host
        return host

    def _attach_replays(self, replay: dict[str, Path]) -> None:
        """Back hosts by capture files; a name not in the fleet becomes a new host at the next address."""
        for name, path in replay.items():
            capture = Capture.load(path)
            host = self._by_key.get(name.lower())
            if host is None:
                last = max(ipaddress.IPv4Address(h.address) for h in self.hosts) if self.hosts else \
                    ipaddress.IPv4Address(self.meta["first_address"]) - 1
                plan = Plan(name, "app", "2022", "default")  # a stand-in model; the capture answers
                state = build_host(plan, len(self.hosts), str(last + 1), self.meta["seed"], self.clock.now())
                state.groups, state.role = ["replay"], "replay"
                host = self._add(state)
                self.meta["hosts"].append(state.name)
            host.capture = capture
            host.state.replay = str(path.resolve())
            if capture.os_version:
                host.state.os_version = capture.os_version
            self.meta.setdefault("replay", {})[host.name] = str(path.resolve())
            host.save()
        self._store.save_fleet(self.meta)

    # -- lookup
    def host(self, name_or_address: str) -> LabHost:
        host = self._by_key.get(name_or_address.lower()) or self._by_key.get(name_or_address)
        if host is None:
            raise KeyError(f"no lab host named {name_or_address!r}")
        return host

    # -- time
    def tick(self) -> list[tuple[str, LabHost]]:
        """Fire due timers (shutdowns, boots, scheduled tasks); returns ("down"|"up", host) transitions."""
        now = self.clock.now()
        transitions: list[tuple[str, LabHost]] = []
        for host in self.hosts:
            if host.capture is not None:
                continue
            with host._lock:
                changed = False
                s = host.state
                if s.down_since is None and s.shutdown is not None and s.shutdown.fire_at <= now:
                    self._go_down(host, now)
                    transitions.append(("down", host))
                    changed = True
                elif s.down_since is not None and s.up_at is not None and s.up_at <= now:
                    self._come_up(host, now)
                    transitions.append(("up", host))
                    changed = True
                if s.down_since is None:
                    changed |= self._run_due_tasks(host, now)
                if changed:
                    host.save()
        return transitions

    def seconds_to_next_event(self) -> float | None:
        """Real seconds until tick() would have something to do (0 if overdue), None if nothing is timed."""
        now = self.clock.now()
        best: float | None = None
        for host in self.hosts:
            s = host.state
            if host.capture is not None:
                continue
            candidates = []
            if s.down_since is None:
                if s.shutdown is not None:
                    candidates.append(s.shutdown.fire_at)
                candidates += [t.due for t in s.tasks if t.due is not None]
            elif s.up_at is not None:
                candidates.append(s.up_at)
            for t in candidates:
                if best is None or t < best:
                    best = t
        return None if best is None else max(0.0, best - now)

    def _go_down(self, host: LabHost, now: float) -> None:
        s = host.state
        events.shutdown_stop(s, now)
        s.shutdown = None
        s.down_since = now
        s.up_at = now + self.clock.real_seconds(BOOT_LAB_SECONDS)

    def _come_up(self, host: LabHost, now: float) -> None:
        s = host.state
        down_since = s.down_since if s.down_since is not None else now
        # the kernel starts a while after the shutdown and well before services accept connections
        kernel_start = down_since + (now - down_since) * 0.4
        apply_boot(s, kernel_start)
        s.down_since = None
        s.up_at = None

    def _run_due_tasks(self, host: LabHost, now: float) -> bool:
        ran = False
        for task in host.state.tasks:
            if task.due is not None and task.due <= now:
                task.due = None  # /sc once: runs once, then shows "N/A" as next run time
                task.last_run = now
                ctx = host._ctx()
                ctx.user = "SYSTEM"
                out = shell.run_line(ctx, task.command)
                task.last_result = out.code if out.code is not None else 0
                ran = True
        return ran

    # -- faults, saving
    def set_faults(self, name: str, **changes) -> None:
        host = self.host(name)
        known = {f.name for f in fields(Faults)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")
        with host._lock:
            for key, value in changes.items():
                setattr(host.state.faults, key, value)
            host.save()

    def save(self) -> None:
        for host in self.hosts:
            with host._lock:
                host.save()
        self._store.save_fleet(self.meta)


def apply_boot(s: HostState, kernel_start: float) -> None:
    """What a (re)boot changes in the model, as Windows does when it starts.

    - netsh's persistent store is applied; then, on Vista and later, a MaxUserPort value in Tcpip\\Parameters
      resets the IPv4 and IPv6 TCP dynamic range to start=1024 num=MaxUserPort-1023 (measured on Windows 11:
      MaxUserPort=0xfffe gives "Start Port : 1024 / Number of Ports : 64511", https://github.com/nmap/nmap/
      pull/3499; same numbers after a VS install in https://github.com/actions/runner-images/pull/1442).
    - On Server 2003 the ephemeral range is 1025..MaxUserPort, 5000 when absent (KB 196271).
    - TcpTimedWaitDelay is read at boot ("restart the computer for the change to take effect").
    - Pending-reboot markers (CBS RebootPending, WU RebootRequired, PendingFileRenameOperations) are consumed.
    - Connections are gone; processes get new PIDs; a new boot time and boot events are logged.
    """
    reg = s.registry
    s.ranges = {k: PortRange(v.start, v.num) for k, v in s.ranges_persistent.items()}
    mup = reg.dword(TCPIP_PARAMETERS, "MaxUserPort")
    if mup is not None:
        mup = min(max(mup, 5000), 65534)  # KB 196271: valid range 5000-65534
    if s.is_legacy:
        top = mup if mup is not None else 5000
        for key in s.ranges:
            s.ranges[key] = PortRange(1025, top - 1024)
    elif mup is not None:
        for key in ("ipv4 tcp", "ipv6 tcp"):
            s.ranges[key] = PortRange(1024, mup - 1023)
    tw = reg.dword(TCPIP_PARAMETERS, "TcpTimedWaitDelay")
    if tw is not None:
        # valid range 30-300 s, 2-300 s from 2012 R2 on (DESIGN.md "Windows facts"); clamped into it
        tw = min(max(tw, 2 if s.build >= 9600 else 30), 300)
    s.effective = {"TcpTimedWaitDelay": tw, "MaxUserPort": mup}
    reg.delete_key(CBS_REBOOT_PENDING)
    reg.delete_key(WU_REBOOT_REQUIRED)
    reg.delete(SESSION_MANAGER, "PendingFileRenameOperations")
    s.boot_time = kernel_start
    s.boot_count += 1
    _renumber_pids(s)
    events.boot(s, kernel_start)


def _renumber_pids(s: HostState) -> None:
    rng = random.Random(f"pids:{s.name}:{s.boot_count}")
    mapping = {0: 0, 4: 4}
    used = {0, 4}
    for p in s.processes:
        if p.pid in mapping:
            continue
        while True:
            new = rng.randrange(200, 9000, 4)
            if new not in used:
                break
        used.add(new)
        mapping[p.pid] = new
        p.pid = new
    for row in s.tcp.listeners:
        row.pid = mapping.get(row.pid, row.pid)
    s.tcp.established_pids = [mapping.get(p, p) for p in s.tcp.established_pids]
    if s.tcp.leak is not None:
        s.tcp.leak.pid = mapping.get(s.tcp.leak.pid, s.tcp.leak.pid)
    s.tcp.seed = rng.randrange(1 << 30)
