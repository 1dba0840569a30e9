"""State of one simulated Windows host, as plain dataclasses that round-trip through JSON.

Big things are stored as generator parameters (``TcpTable``), not as rows, so that one lab process can
hold 1,000 hosts: the netstat rows are produced on demand by ``portfleet_lab.cmd.netstat``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

REG_TYPES = ("REG_SZ", "REG_EXPAND_SZ", "REG_MULTI_SZ", "REG_DWORD", "REG_QWORD", "REG_BINARY", "REG_NONE")

# Root key spellings reg.exe accepts (https://learn.microsoft.com/windows-server/administration/windows-commands/reg-query:
# "KeyName: <rootkey> ... HKLM, HKCU, HKCR, HKU, HKCC").
ROOTS = {
    "HKLM": "HKEY_LOCAL_MACHINE",
    "HKEY_LOCAL_MACHINE": "HKEY_LOCAL_MACHINE",
    "HKCU": "HKEY_CURRENT_USER",
    "HKEY_CURRENT_USER": "HKEY_CURRENT_USER",
    "HKCR": "HKEY_CLASSES_ROOT",
    "HKEY_CLASSES_ROOT": "HKEY_CLASSES_ROOT",
    "HKU": "HKEY_USERS",
    "HKEY_USERS": "HKEY_USERS",
    "HKCC": "HKEY_CURRENT_CONFIG",
    "HKEY_CURRENT_CONFIG": "HKEY_CURRENT_CONFIG",
}

TCPIP_PARAMETERS = r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters"
CBS_REBOOT_PENDING = (
    r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending"
)
WU_REBOOT_REQUIRED = r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired"
SESSION_MANAGER = r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\Session Manager"


@dataclass
class RegValue:
    type: str  # one of REG_TYPES
    data: Any  # int for DWORD/QWORD, str for SZ/EXPAND_SZ/BINARY (hex digits), list[str] for MULTI_SZ


class Registry:
    """Keys (full paths, stored case) -> ordered values. Lookups are case-insensitive, as in Windows.

    A key exists if it is stored or if a stored key lies below it (its parents exist implicitly).
    """

    def __init__(self, keys: dict[str, dict[str, RegValue]] | None = None) -> None:
        self.keys: dict[str, dict[str, RegValue]] = keys or {}
        self._index = {k.lower(): k for k in self.keys}

    # -- keys
    def find_key(self, path: str) -> str | None:
        """Stored spelling of an existing key, or None. Implicit parent keys are returned as built."""
        low = path.lower().rstrip("\\")
        if low in self._index:
            return self._index[low]
        prefix = low + "\\"
        for k_low, k in self._index.items():
            if k_low.startswith(prefix):
                return k[: len(low)]
        return None

    def create_key(self, path: str) -> str:
        found = self._index.get(path.lower().rstrip("\\"))
        if found:
            return found
        path = path.rstrip("\\")
        self.keys[path] = {}
        self._index[path.lower()] = path
        return path

    def delete_key(self, path: str) -> bool:
        """Delete a key and everything below it. False if it did not exist."""
        low = path.lower().rstrip("\\")
        doomed = [k for kl, k in self._index.items() if kl == low or kl.startswith(low + "\\")]
        for k in doomed:
            del self.keys[k]
            del self._index[k.lower()]
        return bool(doomed)

    def subkeys(self, path: str) -> list[str]:
        """Names of the direct subkeys, sorted case-insensitively (the registry keeps subkeys sorted)."""
        low = path.lower().rstrip("\\") + "\\"
        names: dict[str, str] = {}
        for kl, k in self._index.items():
            if kl.startswith(low):
                name = k[len(low) :].split("\\", 1)[0]
                names.setdefault(name.lower(), name)
        return sorted(names.values(), key=str.lower)

    def values(self, path: str) -> dict[str, RegValue]:
        stored = self._index.get(path.lower().rstrip("\\"))
        return self.keys[stored] if stored else {}

    # -- values
    def get(self, path: str, name: str) -> tuple[str, RegValue] | None:
        """(stored name, value) or None."""
        for n, v in self.values(path).items():
            if n.lower() == name.lower():
                return n, v
        return None

    def set(self, path: str, name: str, value: RegValue) -> None:
        key = self.create_key(path)
        vals = self.keys[key]
        for n in list(vals):
            if n.lower() == name.lower():
                vals[n] = value
                return
        vals[name] = value

    def delete(self, path: str, name: str) -> bool:
        stored = self._index.get(path.lower().rstrip("\\"))
        if not stored:
            return False
        vals = self.keys[stored]
        for n in list(vals):
            if n.lower() == name.lower():
                del vals[n]
                return True
        return False

    def dword(self, path: str, name: str) -> int | None:
        got = self.get(path, name)
        if got and got[1].type in ("REG_DWORD", "REG_QWORD") and isinstance(got[1].data, int):
            return got[1].data
        return None

    def to_json(self) -> dict:
        return {k: {n: [v.type, v.data] for n, v in vals.items()} for k, vals in self.keys.items()}

    @classmethod
    def from_json(cls, data: dict) -> "Registry":
        return cls({k: {n: RegValue(t, d) for n, (t, d) in vals.items()} for k, vals in data.items()})


@dataclass
class PortRange:
    start: int
    num: int

    @property
    def end(self) -> int:
        return self.start + self.num - 1


RANGE_KEYS = ("ipv4 tcp", "ipv4 udp", "ipv6 tcp", "ipv6 udp")


@dataclass
class ExcludedRange:
    family: str  # ipv4 | ipv6
    protocol: str  # tcp | udp
    start: int
    end: int
    administered: bool = False  # added with `netsh int ... add excludedportrange` (marked "*")


@dataclass
class Process:
    pid: int
    name: str
    mem_kb: int
    session_name: str = "Services"
    session: int = 0


@dataclass
class Listener:
    protocol: str  # TCP | UDP
    address: str  # "0.0.0.0", "10.0.0.5", "[::]"
    port: int
    pid: int


@dataclass
class Leak:
    """A process that leaks ephemeral ports (the port-exhaustion host).

    BOUND and CLOSE_WAIT sockets pile up since boot at the given lab rates; TIME_WAIT rows are its
    connection churn times the effective TcpTimedWaitDelay. All capped by the free dynamic ports.
    """

    pid: int
    process: str
    remote: str  # remote IPv4 it keeps connecting to
    remote_port: int
    bound_per_hour: float
    close_wait_per_hour: float
    connects_per_second: float


@dataclass
class TcpTable:
    """Generator parameters of the host's TCP/UDP table (rows are built on demand)."""

    seed: int
    local_ip: str
    listeners: list[Listener] = field(default_factory=list)
    established: int = 8  # steady-state outbound connections of the host's own services
    established_pids: list[int] = field(default_factory=list)
    peers: list[str] = field(default_factory=list)  # "ip:port" the host's services talk to
    time_wait: int = 4  # steady-state TIME_WAIT rows (short-lived outbound connections)
    close_wait: int = 0
    leak: Leak | None = None


@dataclass
class Event:
    record_id: int
    time: float  # real epoch seconds (UTC instant)
    provider: str  # e.g. "Microsoft-Windows-Kernel-General"
    event_id: int
    level: int  # 1 critical, 2 error, 3 warning, 4 information
    task: str  # "N/A" or a task category name
    opcode: str  # "Info" or "N/A"
    keyword: str  # "Classic", "Time", "N/A"
    user_sid: str  # "S-1-5-18" or "N/A"
    user_name: str  # "NT AUTHORITY\\SYSTEM" or "N/A"
    message: str  # CRLF inside


@dataclass
class ScheduledTask:
    name: str  # without the leading backslash
    command: str  # /tr
    run_as: str  # /ru, e.g. "SYSTEM"
    schedule: str  # "ONCE"
    start_date: str  # ISO date (YYYY-MM-DD) of /sd; shown in the user's short date format
    start_time: str  # /st HH:MM
    due: float | None  # real epoch of the next run; None once a ONCE task ran
    created: float
    last_run: float | None = None
    last_result: int = 267011  # 0x41303 "The task has not yet run", as schtasks /query /v shows
    author: str = ""


@dataclass
class PendingShutdown:
    kind: str  # "restart" | "shutdown"
    issued_at: float
    fire_at: float  # real epoch
    timeout: int  # /t as given (seconds)
    comment: str


@dataclass
class Faults:
    unreachable: bool = False  # listener closed: connection refused
    wrong_password: bool = False  # host rejects the lab credentials (401)
    slow_seconds: float = 0.0  # every command result becomes available only after this many REAL seconds
    reset_mid_command: bool = False  # server aborts the TCP connection while a command's output is received
    http_500: bool = False  # every POST /wsman answered with HTTP 500


@dataclass
class HostState:
    name: str
    address: str
    groups: list[str]
    role: str
    os_version: str  # "10.0.20348.2340", "5.2.3790"
    locale: str  # "en-US", "de-DE", "fr-FR"
    oem_codepage: int
    timezone: str  # IANA name, e.g. "Europe/Berlin"
    domain: str
    registry: Registry
    ranges: dict[str, PortRange]  # active dynamic ranges, keys RANGE_KEYS
    ranges_persistent: dict[str, PortRange]  # what `store=persistent` holds (restored at boot)
    excluded: list[ExcludedRange]
    boot_time: float
    boot_count: int
    effective: dict[str, int | None]  # registry values read at the last boot (TcpTimedWaitDelay, MaxUserPort)
    tcp: TcpTable
    processes: list[Process]
    events: list[Event]
    next_record_id: int
    tasks: list[ScheduledTask] = field(default_factory=list)
    shutdown: PendingShutdown | None = None
    down_since: float | None = None  # set while the host is down (shutting down / booting)
    up_at: float | None = None  # when the host accepts connections again
    faults: Faults = field(default_factory=Faults)
    replay: str | None = None  # capture file path, if this host answers from a capture

    # -- OS capabilities derived from the version (ver prints "Microsoft Windows [Version x.y.z]")
    @property
    def version_tuple(self) -> tuple[int, ...]:
        return tuple(int(p) for p in self.os_version.split("."))

    @property
    def build(self) -> int:
        return self.version_tuple[2]

    @property
    def is_legacy(self) -> bool:
        """Windows Server 2003 era (NT 5.x): no netsh dynamicport, no wevtutil, range 1025..MaxUserPort."""
        return self.version_tuple[0] < 6

    def to_json(self) -> dict:
        """JSON-ready snapshot. Built by hand (not dataclasses.asdict) and with events as rows: a 1,000-host
        lab saves every host at creation, so this is on the start-up path."""
        tcp = self.tcp
        return {
            "name": self.name,
            "address": self.address,
            "groups": list(self.groups),
            "role": self.role,
            "os_version": self.os_version,
            "locale": self.locale,
            "oem_codepage": self.oem_codepage,
            "timezone": self.timezone,
            "domain": self.domain,
            "registry": self.registry.to_json(),
            "ranges": {k: {"start": v.start, "num": v.num} for k, v in self.ranges.items()},
            "ranges_persistent": {k: {"start": v.start, "num": v.num} for k, v in self.ranges_persistent.items()},
            "excluded": [[x.family, x.protocol, x.start, x.end, x.administered] for x in self.excluded],
            "boot_time": self.boot_time,
            "boot_count": self.boot_count,
            "effective": dict(self.effective),
            "tcp": {
                "seed": tcp.seed,
                "local_ip": tcp.local_ip,
                "listeners": [[x.protocol, x.address, x.port, x.pid] for x in tcp.listeners],
                "established": tcp.established,
                "established_pids": list(tcp.established_pids),
                "peers": list(tcp.peers),
                "time_wait": tcp.time_wait,
                "close_wait": tcp.close_wait,
                "leak": None if tcp.leak is None else {
                    "pid": tcp.leak.pid, "process": tcp.leak.process, "remote": tcp.leak.remote,
                    "remote_port": tcp.leak.remote_port, "bound_per_hour": tcp.leak.bound_per_hour,
                    "close_wait_per_hour": tcp.leak.close_wait_per_hour,
                    "connects_per_second": tcp.leak.connects_per_second,
                },
            },
            "processes": [[p.pid, p.name, p.mem_kb, p.session_name, p.session] for p in self.processes],
            "events": [[e.record_id, e.time, e.provider, e.event_id, e.level, e.task, e.opcode, e.keyword,
                        e.user_sid, e.user_name, e.message] for e in self.events],
            "next_record_id": self.next_record_id,
            "tasks": [asdict(t) for t in self.tasks],
            "shutdown": None if self.shutdown is None else asdict(self.shutdown),
            "down_since": self.down_since,
            "up_at": self.up_at,
            "faults": asdict(self.faults),
            "replay": self.replay,
        }

    @classmethod
    def from_json(cls, d: dict) -> "HostState":
        tcp = dict(d["tcp"])
        tcp["listeners"] = [Listener(*x) for x in tcp["listeners"]]
        tcp["leak"] = Leak(**tcp["leak"]) if tcp.get("leak") else None
        return cls(
            name=d["name"],
            address=d["address"],
            groups=list(d["groups"]),
            role=d["role"],
            os_version=d["os_version"],
            locale=d["locale"],
            oem_codepage=d["oem_codepage"],
            timezone=d["timezone"],
            domain=d["domain"],
            registry=Registry.from_json(d["registry"]),
            ranges={k: PortRange(**v) for k, v in d["ranges"].items()},
            ranges_persistent={k: PortRange(**v) for k, v in d["ranges_persistent"].items()},
            excluded=[ExcludedRange(*x) for x in d["excluded"]],
            boot_time=d["boot_time"],
            boot_count=d["boot_count"],
            effective=dict(d["effective"]),
            tcp=TcpTable(**tcp),
            processes=[Process(*p) for p in d["processes"]],
            events=[Event(*e) for e in d["events"]],
            next_record_id=d["next_record_id"],
            tasks=[ScheduledTask(**t) for t in d.get("tasks", [])],
            shutdown=PendingShutdown(**d["shutdown"]) if d.get("shutdown") else None,
            down_since=d.get("down_since"),
            up_at=d.get("up_at"),
            faults=Faults(**d.get("faults", {})),
            replay=d.get("replay"),
        )
