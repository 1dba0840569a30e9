"""Benchmark: audit 1,000 lab hosts the portfleet way, then the naive way on a sample.

Prints figures; asserts nothing (targets live here, never in a timed test):
  wall time, hosts/s, TCP connections opened per host, sockets the controller leaves in TIME_WAIT,
  peak RSS of the controller; then pywinrm `Session.run_cmd` per setting, host after host, on a
  sample, and the ratio. Targets (2 cores, lab on the same machine): 1,000 hosts < 30 s, RSS < 500 MB.

    python bench/audit_bench.py [--hosts 1000] [--forks 50] [--sample 20]

Connections are counted from the kernel's socket table (`ss`): every TCP connection to a lab
endpoint that was closed leaves exactly one TIME_WAIT socket on the side that closed first, and
the lab block's addresses are used by nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PLAYBOOK = ROOT / "playbooks" / "port-exhaustion.yml"


def start_lab(workdir: Path, hosts: int, first: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "portfleet", "lab", "serve", "--hosts", str(hosts), "--inventory-out",
         str(workdir / "inv.yml"), "--state-dir", str(workdir / "state"), "--first-address", first],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("ready"):
            return proc
    raise SystemExit(f"lab exited {proc.wait()} before ready")


def time_wait_sockets(prefix: str) -> tuple[int, int]:
    """(controller side, lab side) TIME_WAIT sockets between the controller and the lab block."""
    out = subprocess.run(["ss", "-tanH", "state", "time-wait"], capture_output=True, text=True).stdout
    controller = lab = 0
    for line in out.splitlines():
        cols = line.split()
        if len(cols) < 4:
            continue
        local, peer = cols[-2], cols[-1]
        if peer.startswith(prefix) and peer.endswith(":5985"):
            controller += 1
        elif local.startswith(prefix) and local.endswith(":5985"):
            lab += 1
    return controller, lab


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--forks", type=int, default=50)
    ap.add_argument("--sample", type=int, default=20, help="hosts for the naive comparison")
    ap.add_argument("--first-address", default="127.251.0.1")
    args = ap.parse_args()
    prefix = args.first_address.rsplit(".", 2)[0] + "."

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t0 = time.monotonic()
        lab = start_lab(work, args.hosts, args.first_address)
        print(f"lab: {args.hosts} hosts ready in {time.monotonic() - t0:.1f}s")
        try:
            tw_before = time_wait_sockets(prefix)
            env = dict(os.environ, PORTFLEET_STATE=str(work / "state.db"))
            t0 = time.monotonic()
            proc = subprocess.run(
                [sys.executable, "-m", "portfleet", "audit", "-i", str(work / "inv.yml"), "-p", str(PLAYBOOK),
                 "--format", "json", "-f", str(args.forks)],
                capture_output=True, text=True, env=env,
            )
            wall = time.monotonic() - t0
            rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            report = json.loads(proc.stdout)
            tw_after = time_wait_sockets(prefix)
            closed = (tw_after[0] - tw_before[0]) + (tw_after[1] - tw_before[1])
            print("\nportfleet audit (winrm.Protocol: one connection, one shell, one batched read per host)")
            print(f"  exit code               {proc.returncode}  summary {report['summary']}")
            print(f"  wall time               {wall:.1f} s")
            print(f"  hosts per second        {args.hosts / wall:.0f}")
            print(f"  TCP connections / host  {closed / args.hosts:.2f}")
            print(f"  controller TIME_WAIT    {tw_after[0] - tw_before[0]}")
            print(f"  peak RSS (controller)   {rss_mb:.0f} MB")

            naive(work, args.sample, prefix, wall / args.hosts)
        finally:
            lab.send_signal(signal.SIGTERM)
            lab.wait(60)


def naive(work: Path, sample: int, prefix: str, portfleet_per_host: float) -> None:
    """What teams do by hand: Session.run_cmd once per setting, host after host."""
    import winrm

    inv = yaml.safe_load((work / "inv.yml").read_text())
    windows = inv["all"]["children"]["windows"]
    vars_ = windows["vars"]
    hosts = []
    for child in windows.get("children", {}).values():
        for name, hv in (child.get("hosts") or {}).items():
            hosts.append((name, hv))
    hosts = hosts[:sample]
    commands = [
        ("ver", []),
        ("reg", ["query", r"HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters", "/v", "TcpTimedWaitDelay"]),
        ("reg", ["query", r"HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters", "/v", "MaxUserPort"]),
        ("netsh", ["int", "ipv4", "show", "dynamicport", "tcp"]),
        ("netsh", ["int", "ipv6", "show", "dynamicport", "tcp"]),
        ("netsh", ["int", "ipv4", "show", "dynamicport", "udp"]),
        ("netsh", ["int", "ipv6", "show", "dynamicport", "udp"]),
    ]
    before = time_wait_sockets(prefix)
    t0 = time.monotonic()
    for _, hv in hosts:
        session = winrm.Session(
            f"http://{hv['ansible_host']}:{hv['ansible_port']}/wsman",
            auth=(vars_["ansible_user"], vars_["ansible_password"]),
            transport="ntlm",
        )
        for cmd, cmd_args in commands:
            session.run_cmd(cmd, cmd_args)
    wall = time.monotonic() - t0
    after = time_wait_sockets(prefix)
    closed = (after[0] - before[0]) + (after[1] - before[1])
    per_host = wall / len(hosts)
    print(f"\nnaive: pywinrm Session.run_cmd per setting ({len(commands)} commands), host after host, {len(hosts)} hosts")
    print(f"  wall time               {wall:.1f} s  ({per_host * 1000:.0f} ms per host)")
    print(f"  TCP connections / host  {closed / len(hosts):.2f}")
    print(f"  1,000 hosts would take  {per_host * 1000:.0f} s")
    print(f"\nratio: portfleet is {per_host / portfleet_per_host:.0f}x faster per host, "
          f"with {len(commands)}x fewer connections")


if __name__ == "__main__":
    main()
