"""A reboot run cut off mid-flight (SIGKILL of the controller) resumes from its state and reboots
nobody twice; a shutdown that may have gone out before the cut-off is settled by boot time, and one
still pending on the host (1190) is replaced, not doubled. Checked from the lab's side (boot counts)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from portfleet.inventory import load_inventory
from portfleet.reboot.executor import RunOptions
from portfleet.state import RebootStore
from portfleet.transport.factory import session_factory

TIME_SCALE = 15.0  # a lab reboot is down for 3 real seconds: long enough to cut the controller off mid-reboot
FAST = ["--delay", "1", "--timeout-down", "15", "--timeout-up", "30", "--poll-max", "0.5"]
IN_FLIGHT = ("shutdown_intent", "shutdown_sent", "down")


def env_for(state: Path) -> dict[str, str]:
    env = dict(os.environ, PORTFLEET_STATE=str(state))
    env.pop("CI", None)
    return env


def portfleet(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portfleet", *args], capture_output=True, text=True,
                          env=env_for(state), timeout=300)


def as_json(proc: subprocess.CompletedProcess[str]) -> dict:
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"not JSON (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}") from None


def write_playbook(path: Path) -> Path:
    path.write_text(yaml.safe_dump([{
        "name": "Shorter TIME_WAIT",
        "hosts": "windows",
        "settings": {"TcpTimedWaitDelay": 30},
        "reboot": {"windows": ["daily 00:00-24:00"], "timezone": "UTC", "max_parallel": 2},
    }], sort_keys=False))
    return path


def row_states(state: Path) -> dict[str, str]:
    try:
        with sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=5) as db:
            return dict(db.execute("SELECT host, state FROM reboot_hosts"))
    except sqlite3.OperationalError:  # not created yet
        return {}


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def boots(control, names) -> dict[str, int]:
    return {n: control.host(n)["boot_count"] for n in names}


def test_crash_mid_run_then_resume_reboots_nobody_twice(lab, tmp_path):
    running = lab(hosts=6, profile="defaults", seed=11, time_scale=TIME_SCALE)
    control = running.control()
    names = [h["name"] for h in running.hosts]
    state = tmp_path / "state.db"
    book = write_playbook(tmp_path / "pb.yml")
    applied = portfleet("apply", "-i", str(running.inventory), "-p", str(book), "--yes", state=state)
    assert applied.returncode == 3, applied.stderr
    before = boots(control, names)

    controller = subprocess.Popen(
        [sys.executable, "-m", "portfleet", "reboot", "run", "-i", str(running.inventory), "-p", str(book), "--now",
         "--yes", *FAST, "--format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(state))
    # Cut it off while batch 1 is done and batch 2 is rebooting.
    wait_for(lambda: "verified" in row_states(state).values()
             and any(s in ("shutdown_sent", "down") for s in row_states(state).values()), 90, "batch 2 in flight")
    controller.send_signal(signal.SIGKILL)
    controller.communicate(timeout=30)
    cut = row_states(state)
    in_flight = sorted(n for n, s in cut.items() if s in IN_FLIGHT)
    assert in_flight and set(cut.values()) & {"planned"}, cut

    # No --resume: the last unfinished reboot run is picked up by itself.
    resumed = portfleet("reboot", "run", "-i", str(running.inventory), "-p", str(book), "--yes", *FAST,
                        "--format", "json", state=state)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    report = as_json(resumed)
    assert report["resumed"] is True and report["status"] == "completed"
    hosts = {h["name"]: h for h in report["hosts"]}
    assert {h["status"] for h in hosts.values()} == {"verified"}
    for n in in_flight:
        assert any(note.startswith("resumed:") for note in hosts[n]["notes"]), hosts[n]
    # The lab's count: every host booted exactly once more, the cut-off ones included.
    assert boots(control, names) == {n: before[n] + 1 for n in names}

    # Nothing left to resume: a new invocation finds no pending reboot.
    again = portfleet("reboot", "run", "-i", str(running.inventory), "-p", str(book), "--yes", *FAST, state=state)
    assert again.returncode == 0 and "nothing needs a reboot" in again.stdout


def test_shutdown_intent_with_a_pending_shutdown_on_the_host_is_replaced_not_doubled(lab, tmp_path):
    running = lab(hosts=2, profile="defaults", seed=12, time_scale=TIME_SCALE)
    control = running.control()
    names = [h["name"] for h in running.hosts]
    state = tmp_path / "state.db"
    book = write_playbook(tmp_path / "pb.yml")
    applied = portfleet("apply", "-i", str(running.inventory), "-p", str(book), "--yes", state=state)
    assert applied.returncode == 3, applied.stderr
    first = names[0]
    boot_before = datetime.fromtimestamp(control.host(first)["boot_time"], tz=timezone.utc)

    # The state a controller leaves when it dies between committing its intent and hearing back:
    # `first` has an intent row, and its shutdown did reach the host (still in its /t grace period).
    with RebootStore(state) as store:
        run_id = store.start_run("reboot", inventory=str(running.inventory), playbook=str(book))
        options = RunOptions(delay=1, timeout_down=15, timeout_up=30, ignore_windows=True, poll_max=0.5,
                             max_unavailable={"play:Shorter TIME_WAIT": 2})
        store.reboot_run_create(run_id, options.to_json(), 2**22 + 7, socket.gethostname())  # a pid that is gone
        store.reboot_hosts_add(run_id, [(n, ["TcpTimedWaitDelay written"], False) for n in names])
        command = 'shutdown /r /t 600 /c "portfleet: reboot to apply TcpTimedWaitDelay"'
        store.reboot_host_update(run_id, first, state="shutdown_intent", batch=1, boot_before=boot_before,
                                 command=command)
    host = load_inventory(running.inventory).host(first)
    with session_factory()(host) as session:
        assert session.run(command).exit_code == 0
    assert control.host(first)["shutdown"] is not None
    before = boots(control, names)

    proc = portfleet("reboot", "run", "--resume", run_id, "-i", str(running.inventory), "-p", str(book), "--yes",
                     "--format", "json", state=state)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    hosts = {h["name"]: h for h in as_json(proc)["hosts"]}
    assert {h["status"] for h in hosts.values()} == {"verified"}
    notes = " ".join(hosts[first]["notes"])
    assert "has not rebooted since the cut-off" in notes
    assert "already scheduled on the host (1190): replaced it" in notes
    assert boots(control, names) == {n: before[n] + 1 for n in names}
    assert control.host(first)["shutdown"] is None


# SIGTERM is what systemd, Kubernetes and `kill` send: it stops the run as Ctrl-C does, with 128 + 15.
@pytest.mark.parametrize("signum, code, said, seed", [
    (signal.SIGINT, 130, "Interrupted: no new shutdowns", 13),
    (signal.SIGTERM, 143, "Interrupted by SIGTERM: no new shutdowns", 14),
])
def test_a_stop_signal_records_where_each_host_is_and_the_next_run_finishes_the_job(lab, tmp_path, signum, code,
                                                                                     said, seed):
    running = lab(hosts=2, profile="defaults", seed=seed, time_scale=TIME_SCALE)
    control = running.control()
    names = [h["name"] for h in running.hosts]
    state = tmp_path / "state.db"
    book = write_playbook(tmp_path / "pb.yml")
    assert portfleet("apply", "-i", str(running.inventory), "-p", str(book), "--yes", state=state).returncode == 3
    before = boots(control, names)

    # A grace period to stop it in: /t 6 (0.4 s on this lab; the controller looks after 6 s).
    controller = subprocess.Popen(
        [sys.executable, "-m", "portfleet", "reboot", "run", "-i", str(running.inventory), "-p", str(book), "--now",
         "--yes", "--max-parallel", "1", "--delay", "6", "--timeout-down", "15", "--timeout-up", "30",
         "--poll-max", "0.5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(state))
    wait_for(lambda: "shutdown_sent" in row_states(state).values(), 60, "the first shutdown")
    started = time.monotonic()
    controller.send_signal(signum)
    out, err = controller.communicate(timeout=30)
    assert controller.returncode == code, out + err
    assert time.monotonic() - started < 4  # it did not sit out the grace period
    assert said in err and "resume with: portfleet reboot run --resume" in err
    if signum == signal.SIGTERM:
        assert "interrupted (SIGTERM)" in err
    assert sorted(row_states(state).values()) == ["planned", "shutdown_sent"]
    with sqlite3.connect(f"file:{state}?mode=ro", uri=True) as db:
        ((run_id, status),) = db.execute("SELECT id, status FROM runs WHERE kind='reboot'")
    assert status == "interrupted"

    resumed = portfleet("reboot", "run", "-i", str(running.inventory), "-p", str(book), "--yes", "--delay", "1",
                        "--format", "json", state=state)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    report = as_json(resumed)
    assert report["run_id"] == run_id and report["resumed"] is True and report["status"] == "completed"
    assert {h["status"] for h in report["hosts"]} == {"verified"}
    assert sum(1 for h in report["hosts"] if any(n.startswith("resumed:") for n in h["notes"])) == 1
    assert boots(control, names) == {n: before[n] + 1 for n in names}
