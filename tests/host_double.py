"""A test double of a Windows fleet, in process: the lab's own host model behind the library's Session.

For fast tests of the logic above the transport (audit, apply, rollback, reboot, diagnose), as httpx's
MockTransport is for the code above httpx. What is real here and what is not:

- real: the lab's host model and cmd interpreter (the very `LabHost.execute` the lab's WinRS plugin calls
  for a Command, so the same texts, CRLF line ends and exit codes a client gets over WinRM), reboots
  driven by the lab's own timers (`Fleet.tick`), the inventory (written as `portfleet lab serve` writes
  it, read by portfleet.inventory), the connection vars (mapped by transport.factory.winrm_target) and
  the error classification (WinRMSession._classify, fed the exceptions pywinrm/requests raise, so a
  failed host's detail reads as it does over the wire).
- not modelled: HTTP, NTLM, WS-Man, encryption, connect retries with backoff (no sleeps: a refused host
  is refused at once), the lab fault `slow_seconds` (the answer comes at once: what pywinrm returns once
  the output is ready). Those stay covered by the end-to-end tests over real HTTP.

Time is a VirtualClock: the lab's wall time plus an offset the test moves forward, so a reboot (45 lab
seconds down) takes no real time. `VirtualStop` is a stop event for RebootExecutor whose waits advance
that clock instead of sleeping. As the lab server's tick loop does, the fleet's timers fire before
every connection and every command.

The lab is imported on ONE line below (the lab package may move; change that line only).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import requests
from winrm.exceptions import InvalidCredentialsError, WinRMTransportError

from portfleet.desired import build_desired
from portfleet.inventory import load_inventory
from portfleet.playbook import load_playbook
from portfleet.transport.base import Result, TransportError, decode_output
from portfleet.transport.factory import ConnectOptions, winrm_target
from portfleet.transport.winrm import UTF8_CODEPAGE, WinRMSession

from portfleet_lab import (  # the only import of the lab in the tests' fast layer: if the lab moves, edit this line
    clock as lab_clock, fleet as lab_fleet, model as lab_model, serve as lab_serve, winrs as lab_winrs,
)

WINRM_HTTP_PORT = 5985
# What a host that answers garbage prints by default: control characters, replacement characters, a
# begin marker with no name, one with no end, a long line. No section of it is what a read asked for.
GARBAGE = "\x00\x1b[2J\ufffd\ufffdPORTFLEET:BEGIN:\r\nPORTFLEET:BEGIN:facts.ver\r\n" + "\u00e4" * 5000 + "\r\n\x7f"


class VirtualClock(lab_clock.LabClock):
    """The lab's clock, made controllable: real wall time plus an offset that only grows.

    Never behind real time, so instants the library takes from its own clock (apply's `utcnow()` for a
    pending-reboot row) stay comparable with the hosts' boot times, as with a real lab."""

    def __init__(self, time_scale: float = 1.0) -> None:
        super().__init__(time_scale)
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move wall time on (lab durations are these seconds times the fleet's time_scale)."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        with self._lock:
            self._offset += seconds

    def utcnow(self) -> datetime:
        """The same instant as a datetime: a clock for RebootExecutor(clock=...)."""
        return datetime.fromtimestamp(self.now(), timezone.utc)


class VirtualStop(threading.Event):
    """A stop event whose `wait(t)` moves the virtual clock t seconds on instead of sleeping.

    RebootExecutor sleeps only through its stop event (`stop.wait`), so with this one its grace periods
    and poll intervals pass in virtual time; `set()` still stops it as Ctrl-C would."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self.clock = clock

    def wait(self, timeout: float | None = None) -> bool:
        if self.is_set():
            return True
        if timeout is None:
            raise RuntimeError("an endless wait never ends in virtual time")
        self.clock.advance(max(0.0, timeout))
        return self.is_set()


@dataclass
class HostLog:
    """What the library did to one host: connections opened and command lines sent, in order."""

    sessions: int = 0  # open_session calls for this host
    connections: int = 0  # shells opened (a session connects on its first command, as WinRMSession)
    commands: list[str] = field(default_factory=list)  # lines that reached the host (run, or faulted)


@dataclass
class CommandFault:
    """A fault of the double's own, for commands whose line matches `when`.

    kind "reset": the command runs on the host, then the connection drops (the caller sees "reset");
    kind "garbage": the host does not run it and answers `text` with exit code 0."""

    kind: str
    when: Callable[[str], bool]
    text: str = GARBAGE
    times: int | None = None  # fire this many times, then stop (None: always)


class FleetDouble:
    """A lab fleet in process, its inventory file, and a Session factory for the library."""

    def __init__(self, root: Path, *, hosts: int = 8, profile: str = "mixed", seed: int = 7,
                 time_scale: float = 1.0, state_dir: Path | None = None) -> None:
        """A new fleet under `root`, or the one kept in `state_dir` (a lab's state directory, or a copy)."""
        self.root = Path(root)
        self.fleet = lab_fleet.Fleet.open(state_dir or self.root / "lab", hosts=hosts, profile=profile, seed=seed,
                                          time_scale=time_scale)
        self.clock = VirtualClock(time_scale)
        self.fleet.clock = self.clock  # every model call takes "now" from here from now on
        self.inventory_path = self.root / "inventory.yml"
        document = lab_serve.inventory_document(self.fleet, https=False, port=WINRM_HTTP_PORT, ca_path=None)
        lab_serve.write_inventory(self.inventory_path, document)
        self.password = self.fleet.password
        self._logs: dict[str, HostLog] = defaultdict(HostLog)
        self._faults: dict[str, list[CommandFault]] = defaultdict(list)
        self._observers: dict[str, list[Callable[[str], None]]] = defaultdict(list)
        self._lock = threading.Lock()

    # -- the fleet -------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [h.name for h in self.fleet.hosts]

    def lab_host(self, name_or_address: str) -> Any:
        """The lab model of a host (portfleet_lab.fleet.LabHost), to look at it from the lab's side."""
        return self.fleet.host(name_or_address)

    def inventory(self) -> Any:
        return load_inventory(self.inventory_path)

    def desired(self, playbook: Path, limit: str | None = None) -> list[Any]:
        """The DesiredState of each host the playbook names (build_desired over the double's inventory)."""
        return build_desired(self.inventory(), load_playbook(playbook), limit).hosts

    def tick(self) -> list[tuple[str, str]]:
        """Fire the fleet's due timers (shutdowns, boots, tasks): [("down"|"up", host name)]."""
        return [(kind, host.name) for kind, host in self.fleet.tick()]

    def advance(self, seconds: float) -> list[tuple[str, str]]:
        self.clock.advance(seconds)
        return self.tick()

    def stop_event(self) -> VirtualStop:
        return VirtualStop(self.clock)

    # -- faults ----------------------------------------------------------------------------------
    def set_faults(self, name: str, **faults: Any) -> None:
        """The lab's own faults (unreachable, wrong_password, reset_mid_command, http_500), as
        `portfleet lab fault` sets them."""
        self.fleet.set_faults(name, **faults)

    def reset_on(self, name: str, when: Callable[[str], bool], times: int | None = 1) -> None:
        """The connection drops after a matching command ran on the host (a write that happened)."""
        self._faults[name].append(CommandFault("reset", when, times=times))

    def garbage_on(self, name: str, when: Callable[[str], bool] = lambda line: True, text: str = GARBAGE) -> None:
        """Matching commands answer `text` (exit 0) instead of running: an output no parser expects."""
        self._faults[name].append(CommandFault("garbage", when, text))

    def observe(self, name: str, callback: Callable[[str], None]) -> None:
        """Call `callback(line)` as each command reaches the host, before it runs (e.g. to look at the
        state store at that moment)."""
        self._observers[name].append(callback)

    def _fault_for(self, name: str, line: str) -> CommandFault | None:
        with self._lock:
            for fault in self._faults.get(name, []):
                if (fault.times is None or fault.times > 0) and fault.when(line):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    # -- what the library did --------------------------------------------------------------------
    def log(self, name: str) -> HostLog:
        return self._logs[name]

    def sessions(self, name: str) -> int:
        return self._logs[name].sessions

    def commands(self, name: str) -> list[str]:
        return list(self._logs[name].commands)

    def _record(self, name: str, *, session: bool = False, connection: bool = False, line: str | None = None) -> None:
        with self._lock:
            log = self._logs[name]
            log.sessions += int(session)
            log.connections += int(connection)
            if line is not None:
                log.commands.append(line)

    # -- the Session factory ---------------------------------------------------------------------
    def open_session(self, host: Any, options: ConnectOptions | None = None) -> "DoubleSession":
        """transport.factory.session_factory's contract for an inventory host, answered by the model."""
        connection = (host.connection or "winrm").lower()
        if connection not in {"winrm", "psrp"}:
            raise TransportError("protocol", f"{host.name}: the host double speaks WinRM only, not {connection!r}")
        self._record(host.name, session=True)
        target = winrm_target(host, options or ConnectOptions())  # auth_failed without user/password, as for real
        return DoubleSession(self, target)


class DoubleSession:
    """transport.base.Session over one lab host model: connects on its first command, as WinRMSession."""

    def __init__(self, double: FleetDouble, target: Any) -> None:
        self._double = double
        self._target = target
        self._classifier = WinRMSession(target)  # refuses Basic over HTTP as the real one; never connects
        self.host: str = target.host
        self._lab: Any = None  # the LabHost, once connected
        self._boot_count: int | None = None  # the boot the connection was made in

    def __enter__(self) -> "DoubleSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._lab = None

    def _error(self, exc: BaseException, *, opening: bool) -> TransportError:
        return self._classifier._classify(exc, opening=opening)

    def _connect(self) -> Any:
        self._double.tick()
        refused = requests.exceptions.ConnectionError("[Errno 111] Connection refused")
        try:
            lab = self._double.fleet.host(self._target.address)
        except KeyError:  # no lab host at that address: nothing listens there
            raise self._error(refused, opening=True) from None
        # The lab listens only while the host is up and not faulted unreachable (lab/server.py).
        if not lab.is_up or lab.faults.unreachable:
            raise self._error(refused, opening=True)
        if lab.faults.http_500:
            raise self._error(WinRMTransportError("http", 500, ""), opening=True)
        credentials = (self._target.username.lower(), self._target.password)
        if lab.faults.wrong_password or credentials != (self._double.fleet.username.lower(), self._double.password):
            raise self._error(InvalidCredentialsError("the specified credentials were rejected by the server"),
                              opening=True)
        self._double._record(self.host, connection=True)
        self._boot_count = lab.state.boot_count
        return lab

    def run(self, command: str) -> Result:
        if self._lab is None:
            self._lab = self._connect()
        else:
            self._double.tick()
        lab = self._lab
        dropped = requests.exceptions.ConnectionError("('Connection aborted.', ConnectionResetError(104, 'reset'))")
        # A host that went down (or was faulted away) aborted its connections: the next request is reset.
        if not lab.is_up or lab.faults.unreachable or lab.state.boot_count != self._boot_count:
            self._lab = None
            raise self._error(dropped, opening=False)
        if lab.faults.http_500:
            self._lab = None
            raise self._error(WinRMTransportError("http", 500, ""), opening=False)
        self._double._record(self.host, line=command)
        for callback in list(self._double._observers.get(self.host, [])):
            callback(command)
        fault = self._double._fault_for(self.host, command)
        if fault is not None and fault.kind == "garbage":
            return Result(command, fault.text, "", 0)
        out = lab.execute(command)  # the process starts at Command: its effects happen even if never read
        if lab.faults.reset_mid_command or (fault is not None and fault.kind == "reset"):
            self._lab = None  # WinRMSession drops its protocol after a failed command
            raise self._error(dropped, opening=False)
        if out.waiting_for_input:
            # At a prompt with no stdin the command stays Running; WinRMSession gives up after command_timeout
            # and drops its connection.
            self._lab = None
            raise TransportError(
                "timeout",
                f"{self.host} ({self._target.endpoint}): command still running after "
                f"{self._target.command_timeout:g}s (portfleet_command_timeout); terminated",
            )
        # The shell asked for UTF-8 (WINRS_CODEPAGE 65001); the wire carries bytes, the client decodes them.
        codec = lab_winrs.codec_for(UTF8_CODEPAGE)
        stdout = decode_output(out.stdout.encode(codec, errors="replace"))
        stderr = decode_output(out.stderr.encode(codec, errors="replace"))
        return Result(command=command, stdout=stdout, stderr=stderr, exit_code=int(out.exit_code) & 0xFFFFFFFF)


# -- shaping a host for a test (through the model, as a lab profile would) --------------------------------


def load_time_wait(double: FleetDouble, name: str, *, process: str = "ChurnClient.exe", remote: str = "10.20.7.70",
                   remote_port: int = 443, connects_per_second: float = 130.0, pid: int = 7312) -> None:
    """Give a host a process that opens and closes connections to one remote at the given rate: its
    closed connections sit in TIME_WAIT (PID 0) for the effective TcpTimedWaitDelay, as in the lab's
    exhausted profile host, without the CLOSE_WAIT/BOUND leak."""
    lab = double.lab_host(name)
    with lab._lock:
        state = lab.state
        state.processes.append(lab_model.Process(pid, process, 48_000))
        state.tcp.leak = lab_model.Leak(pid=pid, process=process, remote=remote, remote_port=remote_port,
                                        bound_per_hour=0.0, close_wait_per_hour=0.0,
                                        connects_per_second=connects_per_second)
        lab.save()


def registry_dword(double: FleetDouble, name: str, value: str) -> int | None:
    """A Tcpip\\Parameters DWORD as the lab holds it (None: absent), seen from the lab's side."""
    return double.lab_host(name).state.registry.dword(lab_model.TCPIP_PARAMETERS, value)


def tcp_range(double: FleetDouble, name: str, family: str = "ipv4") -> tuple[int, int]:
    """The host's active TCP dynamic range (start, num), seen from the lab's side."""
    r = double.lab_host(name).state.ranges[f"{family} tcp"]
    return r.start, r.num


def lab_snapshot(double: FleetDouble, name: str) -> dict[str, Any]:
    """What a write could change on a host, from the lab's side: the two Tcpip values and every range."""
    state = double.lab_host(name).state
    return {
        "MaxUserPort": registry_dword(double, name, "MaxUserPort"),
        "TcpTimedWaitDelay": registry_dword(double, name, "TcpTimedWaitDelay"),
        "ranges": {k: (r.start, r.num) for k, r in state.ranges.items()},
        "ranges_persistent": {k: (r.start, r.num) for k, r in state.ranges_persistent.items()},
    }


def windows_reboot_pending(double: FleetDouble, name: str) -> bool:
    """Whether Windows itself flags a reboot on the host (CBS RebootPending), seen from the lab's side."""
    return double.lab_host(name).state.registry.find_key(lab_model.CBS_REBOOT_PENDING) is not None


SHIPPED_TUNED_RANGE = (10000, 55536)  # playbooks/port-exhaustion.yml's TCP ranges on Vista and later


def lab_drift(double: FleetDouble, name: str) -> set[str]:
    """The settings of the shipped playbooks/port-exhaustion.yml a host does not hold, judged on the
    lab's side (its registry and ranges, not portfleet's parsers)."""
    tw, mup = registry_dword(double, name, "TcpTimedWaitDelay"), registry_dword(double, name, "MaxUserPort")
    if double.lab_host(name).state.is_legacy:
        return {k for k, ok in (("MaxUserPort", mup == 65534), ("TcpTimedWaitDelay", tw == 30)) if not ok}
    checks = (("MaxUserPort", mup is None), ("TcpTimedWaitDelay", tw == 30),
              ("dynamicport.ipv4.tcp", tcp_range(double, name) == SHIPPED_TUNED_RANGE),
              ("dynamicport.ipv6.tcp", tcp_range(double, name, "ipv6") == SHIPPED_TUNED_RANGE))
    return {k for k, ok in checks if not ok}
