"""Benchmark, side by side on the same lab hosts in ONE invocation: portfleet audit (also with pywinrm's own
requests-based transport, `portfleet_http_client: requests`), Ansible's ad-hoc `raw` of the same reads, and the
naive pywinrm `Session.run_cmd` loop; then portfleet apply, rollback, diagnose
and reboot verification. Prints figures; asserts nothing (targets are printed beside them, never tested).

    python bench/fleet_bench.py [--hosts 200] [--forks 50] [--procs N] [--naive-sample 20]
                                [--ansible-venv DIR | --no-ansible] [--reboot-hosts 10] [--json FILE]

Per tool: wall time; controller CPU per host (user+sys of the tool's process tree from wait4 rusage, start-up
included, divided by hosts); lab CPU per host (user+sys of the `lab serve` process over the run); TCP connections
per host (new TIME_WAIT 4-tuples between controller and lab: every closed TCP connection leaves one on the side
that closed first, and the lab's address block carries nothing else); peak RSS (the largest single process,
and the whole process tree sampled every 0.1 s, shared pages counted once per process).

Ansible runs from its own virtualenv (default /tmp/pf-ansible-venv, made with ansible-core and pywinrm when
missing; when that fails its column says why). Its `raw` goes through PowerShell (the winrm connection plugin's
shell), so the same three reads are sent as one PowerShell line; the lab answers both.

The machine is shared: each figure line says the 1-minute load average when it was taken.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import yaml

ROOT = Path(__file__).resolve().parent.parent
PLAYBOOK = ROOT / "playbooks" / "port-exhaustion.yml"
PARAMS = r"HKLM\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters"
# The three reads every column makes (portfleet's batched read holds these and its facts).
READS = [f'reg query "{PARAMS}" /v MaxUserPort', f'reg query "{PARAMS}" /v TcpTimedWaitDelay',
         "netsh int ipv4 show dynamicport tcp"]
TARGETS = {"ctl_ms": 10.0, "lab_ms": 5.0, "conns": 1.0, "rss_mb": 300.0, "vs_ansible": 10.0}


# -- the lab ---------------------------------------------------------------------------------------


def start_lab(work: Path, hosts: int, first: str, time_scale: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "portfleet", "lab", "serve", "--hosts", str(hosts), "--inventory-out",
         str(work / "inv.yml"), "--state-dir", str(work / "state"), "--first-address", first,
         "--profile", "mixed", "--seed", "3", "--time-scale", str(time_scale)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("ready"):
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # type: ignore
            return proc
    raise SystemExit(f"lab exited {proc.wait()} before ready")


def lab_hosts(inventory: Path) -> tuple[list[tuple[str, str, int]], dict[str, Any]]:
    data = yaml.safe_load(inventory.read_text())
    windows = data["all"]["children"]["windows"]
    hosts = [(name, hv["ansible_host"], hv["ansible_port"])
             for group in windows.get("children", {}).values() for name, hv in (group.get("hosts") or {}).items()]
    return hosts, windows["vars"]


def time_wait_tuples(prefix: str) -> set[tuple[str, str]]:
    out = subprocess.run(["ss", "-tanH", "state", "time-wait"], capture_output=True, text=True).stdout
    found = set()
    for line in out.splitlines():
        cols = line.split()
        if len(cols) >= 4 and (cols[-1].startswith(prefix) or cols[-2].startswith(prefix)):
            found.add((cols[-2], cols[-1]))
    return found


# -- one measured run ------------------------------------------------------------------------------


def measure(cmd: list[str], hosts: int, lab: psutil.Process, prefix: str, env: dict[str, str] | None = None,
            timeout: float = 1800) -> dict[str, Any]:
    """Run `cmd` as a child; its rusage (wait4: the child and every descendant it waited for), the lab's CPU,
    the new TIME_WAIT tuples, and the peak RSS of its process tree."""
    before_tw = time_wait_tuples(prefix)
    lab0 = lab.cpu_times()
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak_tree = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak_tree
        try:
            root = psutil.Process(proc.pid)
        except psutil.Error:
            return
        while not stop.wait(0.1):
            try:
                tree = [root] + root.children(recursive=True)
                peak_tree = max(peak_tree, sum(p.memory_info().rss for p in tree))
            except psutil.Error:
                continue

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out: list[str] = []
    err: list[str] = []
    readers = [threading.Thread(target=lambda s=s, b=b: b.append(s.read()), daemon=True)
               for s, b in ((proc.stdout, out), (proc.stderr, err))]
    for r in readers:
        r.start()
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
        time.sleep(0.02)
    wall = time.monotonic() - started
    stop.set()
    for r in readers:
        r.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    lab1 = lab.cpu_times()
    time.sleep(0.2)  # the last closes reach TIME_WAIT
    conns = len(time_wait_tuples(prefix) - before_tw)
    cpu = usage.ru_utime + usage.ru_stime
    labcpu = (lab1.user + lab1.system) - (lab0.user + lab0.system)
    return {"rc": proc.returncode, "wall_s": wall, "cpu_s": cpu, "ctl_ms": 1000 * cpu / hosts,
            "lab_ms": 1000 * labcpu / hosts, "conns": conns / hosts, "maxrss_mb": usage.ru_maxrss / 1024,
            "tree_rss_mb": peak_tree / 2**20, "hosts": hosts, "load": os.getloadavg()[0],
            "stdout": "".join(out), "stderr": "".join(err)[-2000:]}


# -- the tools -------------------------------------------------------------------------------------


def installed_like(env: dict[str, str], work: Path) -> dict[str, str]:
    """The environment portfleet's runs get: with bytecode, as after `pip install` (pip compiles every module).
    A source checkout under PYTHONDONTWRITEBYTECODE=1 would compile portfleet's ~120 modules from source at
    every start (about 0.1 s of CPU per run that no installed copy pays); the bytecode goes to the bench's own
    temporary directory, never into the checkout."""
    env = dict(env)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    return env


def with_http_client(work: Path, client: str) -> str:
    """A copy of the lab inventory whose hosts all use `portfleet_http_client: <client>`."""
    data = yaml.safe_load((work / "inv.yml").read_text())
    data["all"]["children"]["windows"]["vars"]["portfleet_http_client"] = client
    path = work / f"inv-{client}.yml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def portfleet(*args: str) -> list[str]:
    return [sys.executable, "-m", "portfleet", *args]


def ansible_venv(path: Path) -> tuple[Path | None, str]:
    """ansible-core + pywinrm in their own venv (never the project's); (None, why) when they cannot be had."""
    exe = path / "bin" / "ansible"
    if exe.exists():
        return exe, ""
    try:
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, capture_output=True, timeout=300)
        subprocess.run([str(path / "bin" / "pip"), "install", "-q", "ansible-core", "pywinrm"], check=True,
                       capture_output=True, timeout=900)
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"skipped: cannot install ansible-core and pywinrm into {path} ({type(exc).__name__})"
    return (exe, "") if exe.exists() else (None, f"skipped: no ansible in {path} after pip install")


def naive_worker(inventory: str, sample: int) -> None:
    """What teams write by hand: pywinrm Session.run_cmd once per read, host after host (a child process, so
    its CPU is measured like the others')."""
    import winrm

    hosts, variables = lab_hosts(Path(inventory))
    commands = [("ver", [])] + [(r.split(" ", 1)[0], r.split(" ", 1)[1:]) for r in READS]
    for _, address, port in hosts[:sample]:
        session = winrm.Session(f"http://{address}:{port}/wsman", transport="ntlm",
                                auth=(variables["ansible_user"], variables["ansible_password"]))
        for cmd, args in commands:
            session.run_cmd(cmd, args)


def per_reported_host(result: dict[str, Any]) -> dict[str, Any]:
    """Per-host figures over the hosts the run's JSON reports (a rollback covers only the hosts its run wrote)."""
    try:
        doc = json.loads(result["stdout"])
        n = len(doc.get("hosts") or doc.get("results") or [])
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
        return result
    if n and n != result["hosts"]:
        scale = result["hosts"] / n
        result = dict(result, hosts=n, ctl_ms=result["ctl_ms"] * scale, lab_ms=result["lab_ms"] * scale,
                      conns=result["conns"] * scale)
    return result


def summary_of(result: dict[str, Any]) -> str:
    try:
        doc = json.loads(result["stdout"])
    except (json.JSONDecodeError, KeyError):
        return f"exit {result['rc']}"
    return f"exit {result['rc']} {doc.get('summary', '')}"


# -- printing --------------------------------------------------------------------------------------


ROWS = [("wall time (s)", "wall_s", "{:.1f}"), ("controller CPU / host (ms)", "ctl_ms", "{:.1f}"),
        ("lab CPU / host (ms)", "lab_ms", "{:.1f}"), ("TCP connections / host", "conns", "{:.2f}"),
        ("peak RSS, largest process (MB)", "maxrss_mb", "{:.0f}"), ("peak RSS, process tree (MB)", "tree_rss_mb", "{:.0f}"),
        ("load average (1 min) after", "load", "{:.1f}")]


def table(columns: dict[str, dict[str, Any] | str]) -> str:
    names = list(columns)
    width = [max(12, len(n) + 2) for n in names]
    lines = ["figure".ljust(32) + "".join(n.rjust(w) for n, w in zip(names, width))]
    for label, key, fmt in ROWS:
        cells = []
        for n, w in zip(names, width):
            col = columns[n]
            cells.append((fmt.format(col[key]) if isinstance(col, dict) else "-").rjust(w))
        lines.append(label.ljust(32) + "".join(cells))
    for n, col in columns.items():
        if isinstance(col, str):
            lines.append(f"  {n}: {col}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--forks", type=int, default=50)
    ap.add_argument("--procs", type=int, default=None, help="portfleet --procs (default: its own, the cores)")
    ap.add_argument("--naive-sample", type=int, default=20, help="hosts for the naive loop (serial; per-host figures)")
    ap.add_argument("--ansible-venv", type=Path, default=Path("/tmp/pf-ansible-venv"))
    ap.add_argument("--no-ansible", action="store_true")
    ap.add_argument("--reboot-hosts", type=int, default=10, help="hosts rebooted for the verification figures")
    ap.add_argument("--no-ops", action="store_true", help="audit columns only (no apply/rollback/diagnose/reboot)")
    ap.add_argument("--first-address", default="127.251.0.1")
    ap.add_argument("--json", type=Path, help="also write every figure to this file")
    ap.add_argument("--naive-worker", nargs=2, metavar=("INVENTORY", "SAMPLE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.naive_worker:
        naive_worker(args.naive_worker[0], int(args.naive_worker[1]))
        return
    prefix = args.first_address.rsplit(".", 2)[0] + "."
    procs = ["--procs", str(args.procs)] if args.procs else []
    cores = os.cpu_count()
    print(f"machine: {cores} cores, load average {os.getloadavg()[0]:.1f} at start; lab and controller share it")
    with tempfile.TemporaryDirectory(prefix="portfleet-bench-") as tmp:
        work = Path(tmp)
        lab_proc = start_lab(work, args.hosts, args.first_address, time_scale=60.0)
        lab = psutil.Process(lab_proc.pid)
        inv = str(work / "inv.yml")
        env = installed_like(dict(os.environ, PORTFLEET_STATE=str(work / "state.db")), work)
        results: dict[str, Any] = {}
        try:
            hosts, _ = lab_hosts(work / "inv.yml")
            first = hosts[0][0]
            # A warm-up run writes the bytecode an installed portfleet has from `pip install`; it is not counted.
            measure(portfleet("audit", "-i", inv, "-p", str(PLAYBOOK), "--format", "json", "-l", first, *procs),
                    1, lab, prefix, env)
            results["start-up (1 host)"] = measure(
                portfleet("audit", "-i", inv, "-p", str(PLAYBOOK), "--format", "json", "-l", first, *procs),
                1, lab, prefix, env)
            audit = measure(portfleet("audit", "-i", inv, "-p", str(PLAYBOOK), "--format", "json",
                                      "-f", str(args.forks), *procs), args.hosts, lab, prefix, env)
            results["portfleet audit"] = audit
            print(f"portfleet audit: {summary_of(audit)}")
            if args.procs != 1:
                results["audit --procs 1"] = measure(portfleet("audit", "-i", inv, "-p", str(PLAYBOOK), "--format",
                                                               "json", "-f", str(args.forks), "--procs", "1"),
                                                     args.hosts, lab, prefix, env)
            # The same audit with pywinrm's own requests-based transport (portfleet_http_client: requests): what
            # transport/ntlm_http.py saves, side by side.
            results["requests client"] = measure(
                portfleet("audit", "-i", with_http_client(work, "requests"), "-p", str(PLAYBOOK), "--format", "json",
                          "-f", str(args.forks), *procs), args.hosts, lab, prefix, env)
            if args.no_ansible:
                results["ansible raw"] = "skipped: --no-ansible"
            else:
                exe, why = ansible_venv(args.ansible_venv)
                if exe is None:
                    results["ansible raw"] = why
                else:
                    results["ansible raw"] = measure(
                        [str(exe), "-i", inv, "windows", "-m", "raw", "-a", "; ".join(READS), "-f", str(args.forks)],
                        args.hosts, lab, prefix, dict(os.environ, ANSIBLE_HOST_KEY_CHECKING="False"))
            sample = min(args.naive_sample, args.hosts)
            results["naive run_cmd"] = measure([sys.executable, __file__, "--naive-worker", inv, str(sample)],
                                               sample, lab, prefix)
            if not args.no_ops:
                operations(results, inv, args, procs, hosts, lab, prefix, env)
        finally:
            lab_proc.send_signal(signal.SIGTERM)
            lab_proc.wait(60)
    report(results, args)


def operations(results: dict[str, Any], inv: str, args: argparse.Namespace, procs: list[str],
               hosts: list[tuple[str, str, int]], lab: psutil.Process, prefix: str, env: dict[str, str]) -> None:
    """apply (writes the drifted hosts), rollback of that run, diagnose, and a verified reboot of a few hosts."""
    n = args.hosts
    apply = measure(portfleet("apply", "-i", inv, "-p", str(PLAYBOOK), "--yes", "--format", "json",
                              "-f", str(args.forks), *procs), n, lab, prefix, env)
    results["portfleet apply"] = apply
    print(f"portfleet apply: {summary_of(apply)}")
    try:
        run_id = json.loads(apply["stdout"])["run_id"]
    except (json.JSONDecodeError, KeyError):
        run_id = None
    if run_id:
        results["portfleet rollback"] = per_reported_host(measure(
            portfleet("rollback", run_id, "-i", inv, "--yes", "--format", "json", "-f", str(args.forks), *procs),
            n, lab, prefix, env))
    results["portfleet diagnose"] = measure(portfleet("diagnose", "-i", inv, "--format", "json", "--days", "7",
                                                      "-f", str(args.forks), *procs), n, lab, prefix, env)
    few = [h[0] for h in hosts if not h[0].startswith("legacy")][: args.reboot_hosts]
    results["reboot verification"] = reboot = measure(
        portfleet("reboot", "run", "-i", inv, "-p", str(PLAYBOOK), "-l", ",".join(few), "--now", "--yes",
                  "--delay", "0", "--max-parallel", str(len(few)), "--poll-max", "0.5", "--format", "json",
                  "-f", str(args.forks), *procs), len(few), lab, prefix, env)
    print(f"reboot run: {summary_of(reboot)}" + (f" {reboot['stderr'][-300:]}" if reboot["rc"] not in (0, 3) else ""))


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    side = {k: results[k] for k in ("portfleet audit", "audit --procs 1", "requests client", "ansible raw",
                                    "naive run_cmd", "start-up (1 host)") if k in results}
    print(f"\nAudit of {args.hosts} lab hosts, {args.forks} forks (naive: {args.naive_sample} hosts, serial)")
    print(table(side))
    pf, an, nv = side["portfleet audit"], side["ansible raw"], side["naive run_cmd"]
    if isinstance(an, dict):
        print(f"\nratios: Ansible raw / portfleet: wall {an['wall_s'] / pf['wall_s']:.1f}x, "
              f"controller CPU {an['ctl_ms'] / pf['ctl_ms']:.1f}x, lab CPU {an['lab_ms'] / pf['lab_ms']:.1f}x, "
              f"connections {an['conns'] / max(pf['conns'], 1e-9):.1f}x (target: >= {TARGETS['vs_ansible']:g}x wall)")
    rq = side.get("requests client")
    if isinstance(rq, dict):
        print(f"ratios: requests client / portfleet's own: controller CPU {rq['ctl_ms'] / pf['ctl_ms']:.2f}x, "
              f"wall {rq['wall_s'] / pf['wall_s']:.2f}x, lab CPU {rq['lab_ms'] / pf['lab_ms']:.2f}x")
    print(f"ratios: naive / portfleet per host: wall {nv['wall_s'] / nv['hosts'] / (pf['wall_s'] / pf['hosts']):.0f}x, "
          f"controller CPU {nv['ctl_ms'] / pf['ctl_ms']:.1f}x, connections {nv['conns'] / max(pf['conns'], 1e-9):.1f}x")
    print(f"targets: controller <= {TARGETS['ctl_ms']:g} ms/host, lab <= {TARGETS['lab_ms']:g} ms/host, "
          f"{TARGETS['conns']:g} connection/host, RSS <= {TARGETS['rss_mb']:g} MB")
    ops = {k.replace("portfleet ", ""): v for k, v in results.items()
           if k in ("portfleet apply", "portfleet rollback", "portfleet diagnose", "reboot verification")}
    if ops:
        print(f"\nOperations (per host of the run; reboot: {args.reboot_hosts} hosts)")
        print(table(ops))
    if args.json:
        slim = {k: ({kk: vv for kk, vv in v.items() if kk not in ("stdout", "stderr")} if isinstance(v, dict) else v)
                for k, v in results.items()}
        args.json.write_text(json.dumps(slim, indent=2))


if __name__ == "__main__":
    main()
