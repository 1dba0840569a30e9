"""SIGTERM (what systemd, Kubernetes and `kill` send) stops `portfleet reboot run` as Ctrl-C does:
no new shutdowns, every host's row recorded, the run closed as interrupted, exit 143; the next run
resumes it and reboots nobody twice (checked from the lab's side: boot counts)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import yaml

TIME_SCALE = 15.0


def env_for(state: Path) -> dict[str, str]:
    env = dict(os.environ, PORTFLEET_STATE=str(state))
    env.pop("CI", None)
    return env


def rows(state: Path, sql: str) -> list[tuple]:
    try:
        with sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=5) as db:
            return list(db.execute(sql))
    except sqlite3.OperationalError:  # not created yet
        return []


def host_states(state: Path) -> dict[str, str]:
    return dict(rows(state, "SELECT host, state FROM reboot_hosts"))


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigterm_during_reboot_run_exits_143_and_leaves_the_run_resumable(lab, tmp_path):
    running = lab(hosts=2, profile="defaults", seed=31, time_scale=TIME_SCALE)
    control = running.control()
    names = [h["name"] for h in running.hosts]
    state = tmp_path / "state.db"
    book = tmp_path / "pb.yml"
    book.write_text(yaml.safe_dump([{
        "name": "Shorter TIME_WAIT", "hosts": "windows", "settings": {"TcpTimedWaitDelay": 30},
        "reboot": {"windows": ["daily 00:00-24:00"], "timezone": "UTC"},
    }], sort_keys=False))
    portfleet = [sys.executable, "-m", "portfleet"]
    applied = subprocess.run([*portfleet, "apply", "-i", str(running.inventory), "-p", str(book), "--yes"],
                             capture_output=True, text=True, env=env_for(state), timeout=120)
    assert applied.returncode == 3, applied.stderr
    before = {n: control.host(n)["boot_count"] for n in names}

    # One host at a time, /t 6: the first is in its grace period when SIGTERM arrives.
    controller = subprocess.Popen(
        [*portfleet, "reboot", "run", "-i", str(running.inventory), "-p", str(book), "--now", "--yes",
         "--max-parallel", "1", "--delay", "6", "--timeout-down", "15", "--timeout-up", "30", "--poll-max", "0.5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(state))
    wait_for(lambda: "shutdown_sent" in host_states(state).values(), 60, "the first shutdown")
    started = time.monotonic()
    controller.send_signal(signal.SIGTERM)
    out, err = controller.communicate(timeout=30)
    assert controller.returncode == 143, out + err
    assert time.monotonic() - started < 4  # it did not sit out the grace period
    assert "Interrupted by SIGTERM: no new shutdowns" in err and "interrupted (SIGTERM)" in err
    assert "resume with: portfleet reboot run --resume" in err
    # Rows recorded where each host was, the run closed as interrupted (so resumable).
    assert sorted(host_states(state).values()) == ["planned", "shutdown_sent"]
    ((run_id, status),) = rows(state, "SELECT id, status FROM runs WHERE kind='reboot'")
    assert status == "interrupted"

    resumed = subprocess.run(
        [*portfleet, "reboot", "run", "-i", str(running.inventory), "-p", str(book), "--yes", "--delay", "1",
         "--format", "json"], capture_output=True, text=True, env=env_for(state), timeout=120)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["run_id"] == run_id and report["resumed"] is True and report["status"] == "completed"
    assert {h["status"] for h in report["hosts"]} == {"verified"}
    assert {n: control.host(n)["boot_count"] for n in names} == {n: before[n] + 1 for n in names}
