"""Shared fixtures: real labs (`python -m portfleet lab serve` subprocesses) on loopback.

    def test_something(lab):
        running = lab(hosts=3, https=True)          # starts a lab, waits for its "ready" line
        url = running.url("web-01")                   # http(s)://<address>:<port>/wsman
        running.control().set_faults("web-01", slow_seconds=2)
        running.stop()                                # optional: SIGTERM, asserts exit code 0

`lab` stops its labs at the end of the test, `module_lab` at the end of the module, `session_lab` at the end
of the session (each stop asserts exit code 0). Every lab gets its own block of loopback addresses:
127.<20 + pid % 200>.<counter>.1 upward, so labs of one session, and of parallel sessions, do not clash.
"""

from __future__ import annotations

import itertools
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml

from portfleet_lab.control import LabControl

pytest_plugins = ["ssh_fixtures", "pg_fixtures"]  # SSH test hosts and labs over SSH; a PostgreSQL server (tests/pg_fixtures.py)
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
_HOST_LINE = re.compile(r"^(?P<name>\S+)\s+(?P<address>\d+\.\d+\.\d+\.\d+):(?P<port>\d+)(?:\s+\((?P<note>[^)]*)\))?$")
_SECOND_OCTET = 20 + os.getpid() % 200
_blocks = itertools.count(1)
_blocks_lock = threading.Lock()


def _next_first_address(hosts: int) -> str:
    """A fresh /24 block (or several for big labs) of 127.<pid-based>.<counter>.0/24."""
    need = max(1, (hosts + 249) // 250)
    with _blocks_lock:
        start = next(_blocks)
        for _ in range(need - 1):
            next(_blocks)
    if start + need > 255:
        raise RuntimeError("this test session started too many labs for its address space")
    return f"127.{_SECOND_OCTET}.{start}.1"


@dataclass
class RunningLab:
    """A `portfleet lab serve` process that printed "ready"."""

    process: subprocess.Popen[str]
    inventory: Path
    state_dir: Path
    ca_path: Path | None
    username: str
    password: str
    hosts: list[dict[str, Any]]  # {"name", "address", "port"} in fleet order
    https: bool
    output: list[str] = field(default_factory=list)  # stdout lines so far
    errors: list[str] = field(default_factory=list)  # stderr lines so far
    inventory_data: dict[str, Any] = field(default_factory=dict)
    krb5_conf: Path | None = None  # <stem>-krb5.conf of a --kerberos lab

    def control(self) -> LabControl:
        return LabControl(self.state_dir)

    def host(self, name: str) -> dict[str, Any]:
        return next(h for h in self.hosts if name in (h["name"], h["address"]))

    def url(self, name: str) -> str:
        host = self.host(name)
        return f"{'https' if self.https else 'http'}://{host['address']}:{host['port']}/wsman"

    def http_url(self, name: str) -> str:
        return f"http://{self.host(name)['address']}:5985/wsman"

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def transcript(self) -> str:
        return "stdout:\n" + "\n".join(self.output) + "\nstderr:\n" + "\n".join(self.errors)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the lab (SIGTERM by default), wait, and assert it exited 0."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"lab did not exit within {STOP_TIMEOUT}s of signal {sig}\n{self.transcript()}")
        time.sleep(0.05)  # let the reader threads collect the last lines
        assert self.process.returncode == 0, f"lab exited {self.process.returncode}\n{self.transcript()}"
        return self.process.returncode


def _pump(stream: Any, sink: list[str], lines: "queue.Queue[str | None] | None") -> None:
    for raw in stream:
        line = raw.rstrip("\n")
        sink.append(line)
        if lines is not None:
            lines.put(line)
    if lines is not None:
        lines.put(None)


def start_lab(workdir: Path, **options: Any) -> RunningLab:
    """Start `python -m portfleet lab serve` and wait for its "ready" line (fails with its output otherwise).

    Options: hosts=3, profile=None (mixed), seed=None (1), https=False, time_scale=1.0, latency=0.0,
    allow_unencrypted=False, allow_basic=False, kerberos=False, cert_auth=False, replay=None ({host: capture path}), state_dir=None, first_address=None,
    inventory=None, entry=("portfleet", "lab") (the module and words before `serve`: ("portfleet_lab",) runs the
    lab on its own). Pass the `state_dir` of a stopped lab to restart it from its saved state. An address
    block found in use (a lab left over by another session) is skipped for the next one.
    """
    retryable = options.get("first_address") is None and options.get("state_dir") is None
    attempts = 3 if retryable else 1
    for attempt in range(attempts):
        try:
            return _launch(workdir, retryable=attempt < attempts - 1, **options)
        except _AddressInUse:
            shutil.rmtree(workdir / "state", ignore_errors=True)  # the fleet was made for the busy block
    raise AssertionError("unreachable")


class _AddressInUse(Exception):
    pass


def _launch(
    workdir: Path,
    *,
    retryable: bool = False,
    hosts: int = 3,
    profile: str | None = None,  # None: the lab's default (mixed) for a new fleet, the stored one on a restart
    seed: int | None = None,  # likewise (1)
    https: bool = False,
    time_scale: float = 1.0,
    latency: float = 0.0,
    allow_unencrypted: bool = False,
    allow_basic: bool = False,
    kerberos: bool = False,
    cert_auth: bool = False,
    replay: dict[str, Path | str] | None = None,
    state_dir: Path | None = None,
    first_address: str | None = None,
    inventory: Path | None = None,
    entry: tuple[str, ...] = ("portfleet", "lab"),
) -> RunningLab:
    state_dir = state_dir or workdir / "state"
    inventory = inventory or workdir / "inventory.yml"
    # A restart from a saved fleet keeps that fleet's addresses (lab serve refuses others).
    restart = (Path(state_dir) / "fleet.json").is_file()
    first_address = first_address or (None if restart else _next_first_address(hosts + len(replay or {})))
    cmd = [
        sys.executable, "-m", *entry, "serve",
        "--hosts", str(hosts),
        "--inventory-out", str(inventory),
        "--state-dir", str(state_dir),
        *(["--first-address", first_address] if first_address else []),
        *(["--profile", profile] if profile is not None else []),
        *(["--seed", str(seed)] if seed is not None else []),
        "--time-scale", str(time_scale),
        "--latency", str(latency),
        "--https" if https else "--no-https",
    ]
    if allow_unencrypted:
        cmd.append("--allow-unencrypted")
    cmd += [flag for flag, on in (("--allow-basic", allow_basic), ("--kerberos", kerberos),
                                  ("--cert-auth", cert_auth)) if on]
    for name, path in (replay or {}).items():
        cmd += ["--replay", f"{name}={path}"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=workdir, bufsize=1
    )
    output: list[str] = []
    errors: list[str] = []
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(process.stdout, output, lines), daemon=True).start()
    threading.Thread(target=_pump, args=(process.stderr, errors, None), daemon=True).start()

    def fail(why: str) -> None:
        if process.poll() is None:
            process.kill()
            process.wait()
        time.sleep(0.05)
        if retryable and any("address already in use" in line.lower() for line in errors):
            raise _AddressInUse(first_address)
        pytest.fail(f"lab did not become ready: {why}\ncommand: {' '.join(cmd)}\nstdout:\n"
                    + "\n".join(output) + "\nstderr:\n" + "\n".join(errors), pytrace=False)

    deadline = time.monotonic() + READY_TIMEOUT
    host_rows: list[dict[str, Any]] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            fail(f"no 'ready' line within {READY_TIMEOUT:.0f}s")
        try:
            line = lines.get(timeout=min(remaining, 0.5))
        except queue.Empty:
            if process.poll() is not None and lines.empty():
                fail(f"exited with code {process.returncode}")
            continue
        if line is None:
            process.wait(5)
            fail(f"exited with code {process.returncode}")
            continue
        if line.startswith("ready"):
            break
        match = _HOST_LINE.match(line.strip())
        if match:
            host_rows.append({"name": match["name"], "address": match["address"], "port": int(match["port"])})

    data = yaml.safe_load(inventory.read_text(encoding="utf-8"))
    variables = data["all"]["children"]["windows"]["vars"]
    ca = variables.get("ansible_winrm_ca_trust_path")
    krb5_conf = inventory.with_name(f"{inventory.stem}-krb5.conf")
    return RunningLab(
        process=process,
        inventory=inventory,
        state_dir=state_dir,
        ca_path=Path(ca) if ca else None,
        username=variables["ansible_user"],
        password=variables["ansible_password"],
        hosts=host_rows,
        https=https,
        output=output,
        errors=errors,
        inventory_data=data,
        krb5_conf=krb5_conf if kerberos else None,
    )


class LabFactory:
    """Starts labs in numbered work directories; close() stops them all (asserting exit code 0)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.labs: list[RunningLab] = []
        self._count = itertools.count(1)

    def __call__(self, **options: Any) -> RunningLab:
        workdir = options.pop("workdir", None)
        if workdir is None:
            workdir = self.base / f"lab{next(self._count)}"
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        running = start_lab(workdir, **options)
        self.labs.append(running)
        return running

    def close(self) -> None:
        problems = []
        for running in self.labs:
            try:
                running.stop()
            except AssertionError as exc:
                problems.append(str(exc))
        self.labs.clear()
        if problems:
            pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Callable[..., RunningLab]]:
    """Factory: lab(hosts=3, profile="mixed", seed=1, https=False, time_scale=1.0, latency=0.0,
    allow_unencrypted=False, replay=None, state_dir=None, first_address=None) -> RunningLab; stopped after the test."""
    factory = LabFactory(tmp_path)
    yield factory
    factory.close()


@pytest.fixture(scope="module")
def module_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RunningLab]]:
    """Like `lab`, but its labs live until the end of the module."""
    factory = LabFactory(tmp_path_factory.mktemp("module-lab"))
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def session_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RunningLab]]:
    """Like `lab`, but its labs live until the end of the test session."""
    factory = LabFactory(tmp_path_factory.mktemp("session-lab"))
    yield factory
    factory.close()
