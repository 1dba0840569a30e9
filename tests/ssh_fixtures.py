"""pytest plugin (registered in conftest.py): real OpenSSH test hosts in network namespaces, and labs
that also serve their Windows hosts over SSH.

    def test_something(ssh_hosts):
        a, b = ssh_hosts.hosts                 # two Linux hosts, each `sshd -D` in its own netns
        a.sysctl("net.ipv4.tcp_fin_timeout")   # the kernel's value inside that namespace
        inventory = ssh_hosts.inventory(tmp_path / "inv.yml")

Each host is a network namespace `pf<pid>h<i>` joined to the root namespace by a veth pair with a
private /30 (10.231.N.1 here, 10.231.N.2 there), running `ip netns exec NS /usr/sbin/sshd -D -e -f
CONF` with its own host key, root login by key only, and its own sysctl values. `ip netns exec`
bind-mounts /etc/netns/NS/<entry> over /etc/<entry>, and /etc/netns/NS/sysctl.d exists, so whatever
a command over SSH writes to /etc/sysctl.d lands in /etc/netns/NS/sysctl.d, never in the machine's
own /etc. Everything (sshd and its children, the namespaces, /etc/netns/NS) is removed at teardown,
and the root namespace's sysctl values are checked to be what they were.

Skips (with the reason) only when not root, or sshd / ip / ssh-keygen are missing.
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
from typing import Any, Iterator

import pytest
import yaml

SSHD = "/usr/sbin/sshd"
KEYS = ("net.ipv4.ip_local_port_range", "net.ipv4.tcp_tw_reuse", "net.ipv4.tcp_fin_timeout")
CONF = "/etc/sysctl.d/90-portfleet.conf"
READY_TIMEOUT = 20.0
_LAB_SECOND_OCTET = 220 + os.getpid() % 30  # conftest's labs use 127.20-219.x.x; these labs 127.220-249
_lab_blocks = itertools.count(1)


def missing_requirements() -> str | None:
    """Why the SSH tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, sshd, sysctl inside namespaces)"
    if not os.access(SSHD, os.X_OK):
        return f"needs OpenSSH's sshd at {SSHD} (apt-get install openssh-server)"
    for tool in ("ip", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"needs {tool} ({'iproute2' if tool == 'ip' else 'openssh-client'})"
    return None


def requires_sshd() -> None:
    reason = missing_requirements()
    if reason:
        pytest.skip(reason)


def run(*cmd: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


def keygen(path: Path) -> str:
    """A new Ed25519 key pair at path (private) and path.pub; returns the public line."""
    for p in (path, path.with_name(path.name + ".pub")):
        p.unlink(missing_ok=True)
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "portfleet-test", "-f", str(path))
    return path.with_name(path.name + ".pub").read_text().strip()


def root_sysctls() -> dict[str, str]:
    return {k: " ".join(run("sysctl", "-n", k).stdout.split()) for k in KEYS}


def _used_subnets() -> set[str]:
    text = run("ip", "-4", "-o", "addr", "show").stdout + run("ip", "-4", "route", "show").stdout
    return set(re.findall(r"10\.231\.(\d+)\.", text))


@dataclass
class SshTestHost:
    name: str  # inventory name
    netns: str
    address: str  # the host's end of the veth pair
    workdir: Path
    host_public_key: str  # "ssh-ed25519 AAAA..."
    initial: dict[str, str]  # sysctl values the host starts with
    initial_conf: str | None  # content of its 90-portfleet.conf at the start (None: no file)
    process: subprocess.Popen[str] | None = None
    log: list[str] = field(default_factory=list)
    port: int = 22

    @property
    def etc(self) -> Path:
        """What the namespace sees as /etc/sysctl.d lives here (ip netns exec bind-mounts it)."""
        return Path("/etc/netns") / self.netns

    @property
    def conf_path(self) -> Path:
        return self.etc / "sysctl.d" / Path(CONF).name

    def ns(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run("ip", "netns", "exec", self.netns, *cmd, check=check)

    def sysctl(self, key: str) -> str:
        """The kernel's value inside the namespace, whitespace normalized ("32768 60999")."""
        return " ".join(self.ns("sysctl", "-n", key).stdout.split())

    def sysctls(self) -> dict[str, str]:
        return {k: self.sysctl(k) for k in KEYS}

    def known_hosts_line(self) -> str:
        return f"{self.address} {self.host_public_key}"

    def reset(self) -> None:
        """Back to the starting sysctl values and 90-portfleet.conf."""
        for key, value in self.initial.items():
            self.ns("sysctl", "-w", f"{key}={value}")
        if self.initial_conf is None:
            self.conf_path.unlink(missing_ok=True)
        else:
            self.conf_path.write_text(self.initial_conf)
        for leftover in self.conf_path.parent.glob("*.portfleet.*"):
            leftover.unlink()


@dataclass
class SshHosts:
    hosts: list[SshTestHost]
    workdir: Path
    client_key: Path
    wrong_key: Path
    known_hosts: Path
    root_before: dict[str, str]
    own_conf_before: str | None  # the machine's own /etc/sysctl.d/90-portfleet.conf (None: absent)

    def host(self, name: str) -> SshTestHost:
        return next(h for h in self.hosts if h.name == name)

    def inventory(self, path: Path, *, known_hosts: Path | None = None, key: Path | None = None,
                  host_vars: dict[str, dict[str, Any]] | None = None, **group_vars: Any) -> Path:
        """An Ansible YAML inventory of the hosts (group `linux`); the first host has no
        portfleet_platform, so portfleet must find out it is Linux itself."""
        hosts: dict[str, Any] = {}
        for i, h in enumerate(self.hosts):
            entry: dict[str, Any] = {"ansible_host": h.address}
            if i > 0:
                entry["portfleet_platform"] = "linux"
            entry.update((host_vars or {}).get(h.name, {}))
            hosts[h.name] = entry
        variables = {
            "ansible_connection": "ssh",
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(key or self.client_key),
            "portfleet_known_hosts": str(known_hosts or self.known_hosts),
            **group_vars,
        }
        path.write_text(yaml.safe_dump({"all": {"children": {"linux": {"hosts": hosts, "vars": variables}}}},
                                       sort_keys=False))
        return path

    def reset(self) -> None:
        for h in self.hosts:
            h.reset()


# Two hosts with different starting points: one on kernel defaults with a foreign key in its
# 90-portfleet.conf, one already tuned (partly in the file, in '/' form) and with no tw_reuse.
HOST_SPECS = (
    ("linux-a", {"net.ipv4.ip_local_port_range": "32768 60999", "net.ipv4.tcp_tw_reuse": "2",
                 "net.ipv4.tcp_fin_timeout": "60"},
     "# local tuning, not portfleet's\nnet.ipv4.tcp_keepalive_time = 600\n"),
    ("linux-b", {"net.ipv4.ip_local_port_range": "40000 50001", "net.ipv4.tcp_tw_reuse": "0",
                 "net.ipv4.tcp_fin_timeout": "45"},
     "net/ipv4/tcp_fin_timeout = 45\n"),
)


class _Builder:
    """Creates namespaces, veths and sshds, and removes exactly what it created."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.netns: list[str] = []
        self.veths: list[str] = []
        self.processes: list[subprocess.Popen[str]] = []
        self.made_run_sshd = False
        self.made_etc_netns = not Path("/etc/netns").exists()

    def host(self, index: int, name: str, sysctls: dict[str, str], conf: str | None) -> SshTestHost:
        pid = os.getpid()
        netns = f"pf{pid}h{index}"
        veth_out, veth_in = f"pf{pid % 100000}o{index}", f"pf{pid % 100000}i{index}"
        used = _used_subnets()
        octet = next(str(n) for n in itertools.chain(range((pid * 7 + index) % 250, 250), range(0, 250))
                     if str(n) not in used)
        outside, inside = f"10.231.{octet}.1", f"10.231.{octet}.2"
        run("ip", "netns", "add", netns)
        self.netns.append(netns)
        run("ip", "link", "add", veth_out, "type", "veth", "peer", "name", veth_in)
        self.veths.append(veth_out)
        run("ip", "link", "set", veth_in, "netns", netns)
        run("ip", "addr", "add", f"{outside}/30", "dev", veth_out)
        run("ip", "link", "set", veth_out, "up")
        run("ip", "netns", "exec", netns, "ip", "addr", "add", f"{inside}/30", "dev", veth_in)
        run("ip", "netns", "exec", netns, "ip", "link", "set", veth_in, "up")
        run("ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up")
        # What the namespace sees as /etc/sysctl.d (see the module docstring).
        (Path("/etc/netns") / netns / "sysctl.d").mkdir(parents=True, exist_ok=True)

        hostdir = self.workdir / name
        hostdir.mkdir()
        host_key = hostdir / "ssh_host_ed25519_key"
        public = keygen(host_key)
        host = SshTestHost(name=name, netns=netns, address=inside, workdir=hostdir,
                           host_public_key=" ".join(public.split()[:2]), initial=dict(sysctls), initial_conf=conf)
        host.reset()
        self._sshd(host, host_key)
        return host

    def _sshd(self, host: SshTestHost, host_key: Path) -> None:
        if not Path("/run/sshd").is_dir():  # sshd's privilege separation directory
            Path("/run/sshd").mkdir(mode=0o755)
            self.made_run_sshd = True
        config = host.workdir / "sshd_config"
        config.write_text("\n".join([
            f"ListenAddress {host.address}:{host.port}",
            f"HostKey {host_key}",
            f"PidFile {host.workdir / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.workdir / 'authorized_keys'}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",  # the key files live in pytest's tmp directories
            "LogLevel VERBOSE",
            "",
        ]))
        run(SSHD, "-t", "-f", str(config))
        process = subprocess.Popen(
            ["ip", "netns", "exec", host.netns, SSHD, "-D", "-e", "-f", str(config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        self.processes.append(process)
        host.process = process
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            assert process.stderr is not None
            for line in process.stderr:
                host.log.append(line.rstrip())
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + READY_TIMEOUT
        while True:  # sshd -e logs "Server listening on ADDRESS port 22." once it accepts connections
            try:
                line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise AssertionError(f"sshd in {host.netns} did not start:\n" + "\n".join(host.log)) from None
            if line is None:
                raise AssertionError(f"sshd in {host.netns} exited {process.wait()}:\n" + "\n".join(host.log))
            if "Server listening on" in line:
                return

    def close(self) -> None:
        for netns in self.netns:
            # sshd and the sessions it forked: every process of our namespace, by pid.
            pids = run("ip", "netns", "pids", netns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for netns in self.netns:
            run("ip", "netns", "del", netns, check=False)
            shutil.rmtree(Path("/etc/netns") / netns, ignore_errors=True)
        for veth in self.veths:  # gone with the namespace; make sure
            run("ip", "link", "del", veth, check=False)
        for made, path in ((self.made_run_sshd, "/run/sshd"), (self.made_etc_netns, "/etc/netns")):
            if made:
                try:
                    Path(path).rmdir()  # only if empty: another session may use it now
                except OSError:
                    pass


@pytest.fixture(scope="module")
def ssh_hosts_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshHosts]:
    requires_sshd()
    workdir = tmp_path_factory.mktemp("ssh-hosts")
    builder = _Builder(workdir)
    root_before = root_sysctls()
    own_conf_before = _own_conf()
    try:
        client_key, wrong_key = workdir / "client_key", workdir / "wrong_key"
        (workdir / "authorized_keys").write_text(keygen(client_key) + "\n")
        keygen(wrong_key)
        hosts = [builder.host(i, name, sysctls, conf) for i, (name, sysctls, conf) in enumerate(HOST_SPECS, 1)]
        known_hosts = workdir / "known_hosts"
        known_hosts.write_text("".join(h.known_hosts_line() + "\n" for h in hosts))
        yield SshHosts(hosts, workdir, client_key, wrong_key, known_hosts, root_before, own_conf_before)
    finally:
        builder.close()
    # Nothing outside the namespaces changed.
    assert root_sysctls() == root_before
    assert _own_conf() == own_conf_before


def _own_conf() -> str | None:
    path = Path(CONF)
    return path.read_text() if path.exists() else None


@pytest.fixture
def ssh_hosts(ssh_hosts_module: SshHosts) -> Iterator[SshHosts]:
    """The module's SSH test hosts, reset to their starting sysctl values and files for this test."""
    ssh_hosts_module.reset()
    yield ssh_hosts_module
    assert root_sysctls() == ssh_hosts_module.root_before, "a sysctl of the machine itself changed"
    assert _own_conf() == ssh_hosts_module.own_conf_before, f"the machine's own {CONF} was written"


# ---- labs serving Windows hosts over SSH ------------------------------------------------------------


@dataclass
class SshLab:
    process: subprocess.Popen[str]
    inventory: Path  # WinRM inventory
    ssh_inventory: Path  # <stem>-ssh.yml
    known_hosts: Path
    state_dir: Path
    password: str
    hosts: list[str]
    output: list[str]
    errors: list[str]

    def control(self) -> Any:
        from portfleet_lab.control import LabControl

        return LabControl(self.state_dir)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        assert self.process.returncode == 0, "lab exited %s\n%s" % (self.process.returncode, "\n".join(self.errors))


def start_ssh_lab(workdir: Path, *, hosts: int = 3, profile: str = "mixed", seed: int = 1,
                  ssh_port: int = 2222, time_scale: float = 1.0) -> SshLab:
    """`portfleet lab serve --ssh`, waited for until its "ready" line."""
    first = f"127.{_LAB_SECOND_OCTET}.{next(_lab_blocks)}.1"
    inventory = workdir / "inventory.yml"
    cmd = [sys.executable, "-m", "portfleet", "lab", "serve", "--hosts", str(hosts), "--inventory-out", str(inventory),
           "--state-dir", str(workdir / "state"), "--first-address", first, "--profile", profile, "--seed", str(seed),
           "--time-scale", str(time_scale), "--ssh", "--ssh-port", str(ssh_port)]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=workdir,
                               env=dict(os.environ, PYTHONUNBUFFERED="1"), bufsize=1)
    output: list[str] = []
    errors: list[str] = []
    lines: queue.Queue[str | None] = queue.Queue()

    def pump(stream: Any, sink: list[str], q: queue.Queue[str | None] | None) -> None:
        for raw in stream:
            sink.append(raw.rstrip("\n"))
            if q is not None:
                q.put(raw.rstrip("\n"))
        if q is not None:
            q.put(None)

    threading.Thread(target=pump, args=(process.stdout, output, lines), daemon=True).start()
    threading.Thread(target=pump, args=(process.stderr, errors, None), daemon=True).start()
    deadline = time.monotonic() + 60
    while True:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            line = None
        if line is None:
            process.kill()
            process.wait()
            pytest.fail("lab --ssh did not become ready:\n" + "\n".join(output + errors), pytrace=False)
        if line.startswith("ready"):
            break
    data = yaml.safe_load(inventory.read_text())
    variables = data["all"]["children"]["windows"]["vars"]
    names = [m.group(1) for m in (re.match(r"^(\S+)\s+\d+\.\d+\.\d+\.\d+:\d+", o) for o in output) if m]
    return SshLab(process, inventory, inventory.with_name("inventory-ssh.yml"),
                  inventory.with_name("inventory-known_hosts"), workdir / "state", variables["ansible_password"],
                  names, output, errors)


@pytest.fixture
def ssh_lab(tmp_path: Path) -> Iterator[Any]:
    """Factory: ssh_lab(hosts=3, profile="mixed", seed=1) -> SshLab; stopped after the test."""
    labs: list[SshLab] = []
    count = itertools.count(1)

    def make(**options: Any) -> SshLab:
        workdir = tmp_path / f"sshlab{next(count)}"
        workdir.mkdir()
        lab = start_ssh_lab(workdir, **options)
        labs.append(lab)
        return lab

    yield make
    for lab in labs:
        lab.stop()


# ---- running portfleet as a user does ---------------------------------------------------------------


def portfleet(*args: str, state: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`python -m portfleet ARGS` in a subprocess (no terminal: --yes is needed to change hosts)."""
    env = dict(os.environ, PORTFLEET_STATE=str(state))
    env.pop("CI", None)
    return subprocess.run([sys.executable, "-m", "portfleet", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def as_json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    import json

    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"not JSON (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}") from None
