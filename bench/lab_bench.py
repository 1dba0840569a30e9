"""Benchmark one lab process: start time to "ready", idle memory, and full WinRS command cycles per second.

    python bench/lab_bench.py [--hosts 1000] [--processes 2] [--threads 4] [--cycles 1500] [--seconds 60] [--https]

Starts `python -m portfleet lab serve --hosts N` in a temporary state directory (on its own loopback block),
then runs complete pywinrm cycles against random hosts from client processes with thread pools, one new
session per cycle:
NTLM handshake (3 HTTP requests, message encryption set up), Create, Command, Receive, Signal, Delete
(5 sealed SOAP requests). Stops by itself after --cycles cycles or --seconds seconds, stops the lab with
SIGTERM and checks it exits 0. Client and server share the machine, so figures are a lower bound.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import winrm
import yaml

# NTLM over HTTP: empty POST -> 401, NEGOTIATE -> 401, AUTHENTICATE -> 200, then 5 sealed SOAP requests.
# Over HTTPS no empty POST: the Create itself is sent three times through the handshake: 7 requests.
HTTP_REQUESTS_PER_CYCLE = {False: 8, True: 7}


def start_lab(args: argparse.Namespace, workdir: Path) -> tuple[subprocess.Popen[str], float, dict]:
    inventory = workdir / "inventory.yml"
    cmd = [
        sys.executable, "-m", "portfleet", "lab", "serve",
        "--hosts", str(args.hosts),
        "--inventory-out", str(inventory),
        "--state-dir", str(workdir / "state"),
        "--first-address", args.first_address,
        "--https" if args.https else "--no-https",
    ]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("ready"):
            break
    else:
        err = proc.stderr.read() if proc.stderr else ""
        raise SystemExit(f"lab exited before ready (code {proc.wait()}):\n{err}")
    ready_after = time.monotonic() - started
    # keep draining stdout so the lab never blocks on a full pipe
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    return proc, ready_after, yaml.safe_load(inventory.read_text())


def host_urls(inventory: dict, https: bool) -> list[str]:
    windows = inventory["all"]["children"]["windows"]
    urls = []
    for group in windows.get("children", {}).values():
        for entry in group["hosts"].values():
            urls.append(f"{'https' if https else 'http'}://{entry['ansible_host']}:{entry['ansible_port']}/wsman")
    return urls


def one_cycle(url: str, user: str, password: str, ca: str | None) -> float:
    started = time.monotonic()
    kwargs = {"ca_trust_path": ca} if ca else {}
    p = winrm.Protocol(url, transport="ntlm", username=user, password=password, **kwargs)
    shell_id = p.open_shell()
    command_id = p.run_command(shell_id, "hostname")
    stdout, _stderr, code = p.get_command_output(shell_id, command_id)
    p.cleanup_command(shell_id, command_id)
    p.close_shell(shell_id)
    if code != 0 or not stdout:
        raise RuntimeError(f"unexpected result from {url}: {code} {stdout!r}")
    return time.monotonic() - started


def run_batch(urls: list[str], threads: int, user: str, password: str, ca: str | None, deadline: float) -> tuple[list[float], int]:
    """One client process: `threads` threads run cycles until the list or the time (wall clock) runs out."""
    latencies: list[float] = []
    errors = 0

    def run(url: str) -> float | None:
        if time.time() > deadline:
            return None
        return one_cycle(url, user, password, ca)

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for future in concurrent.futures.as_completed([pool.submit(run, u) for u in urls]):
            try:
                result = future.result()
            except Exception as exc:  # count, report the first few
                errors += 1
                if errors <= 3:
                    print(f"cycle failed: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            if result is not None:
                latencies.append(result)
    return latencies, errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=2, help="client processes (pywinrm is CPU-bound)")
    parser.add_argument("--threads", type=int, default=4, help="threads per client process")
    parser.add_argument("--cycles", type=int, default=1500, help="stop after this many command cycles")
    parser.add_argument("--seconds", type=float, default=60.0, help="or after this many seconds of load")
    parser.add_argument("--first-address", default="127.2.0.1")
    parser.add_argument("--https", action="store_true", help="serve and benchmark HTTPS (5986) instead")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="portfleet-lab-bench-") as tmp:
        proc, ready_after, inventory = start_lab(args, Path(tmp))
        lab = psutil.Process(proc.pid)
        try:
            time.sleep(2.0)
            idle_rss = lab.memory_info().rss
            variables = inventory["all"]["children"]["windows"]["vars"]
            user, password = variables["ansible_user"], variables["ansible_password"]
            ca = variables.get("ansible_winrm_ca_trust_path")
            urls = host_urls(inventory, args.https)
            rng = random.Random(1)
            targets = [rng.choice(urls) for _ in range(args.cycles)]
            lab.cpu_percent(None)
            started = time.monotonic()
            deadline = time.time() + args.seconds
            chunks = [targets[i :: args.processes] for i in range(args.processes)]
            latencies: list[float] = []
            errors = 0
            with concurrent.futures.ProcessPoolExecutor(args.processes) as procs:
                jobs = [procs.submit(run_batch, c, args.threads, user, password, ca, deadline) for c in chunks]
                for job in jobs:
                    got, failed = job.result()
                    latencies += got
                    errors += failed
            elapsed = time.monotonic() - started
            lab_cpu = lab.cpu_percent(None)
            loaded_rss = lab.memory_info().rss
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(60)
    latencies.sort()
    cycles = len(latencies)
    print(f"hosts                     {args.hosts} ({'https' if args.https else 'http + NTLM message encryption'})")
    print(f"start to ready            {ready_after:.2f} s")
    print(f"idle RSS                  {idle_rss / 2**20:.1f} MiB")
    print(f"RSS after load            {loaded_rss / 2**20:.1f} MiB")
    print(f"client                    {args.processes} processes x {args.threads} threads")
    print(f"command cycles            {cycles} in {elapsed:.1f} s, {errors} errors")
    print(f"cycles per second         {cycles / elapsed:.1f}")
    print(f"HTTP requests per second  {cycles * HTTP_REQUESTS_PER_CYCLE[args.https] / elapsed:.1f}")
    if latencies:
        print(f"cycle latency p50 / p95   {latencies[cycles // 2] * 1000:.0f} / {latencies[int(cycles * 0.95)] * 1000:.0f} ms")
    print(f"lab CPU during load       {lab_cpu:.0f} %")
    print(f"lab exit code             {code}")
    return 0 if code == 0 and errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
