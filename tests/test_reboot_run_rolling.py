"""`portfleet reboot run` against a lab whose reboots take about a second (--time-scale 45).

Everything runs as a user runs it (`python -m portfleet ...`); reboots are checked from the lab's side
(boot counts, effective values through its control API), not through portfleet's own parsers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

TIME_SCALE = 45.0  # a lab reboot (45 lab seconds down) takes one real second
FAST = ["--delay", "1", "--timeout-down", "10", "--poll-max", "0.5"]


def portfleet(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PORTFLEET_STATE=str(state))
    env.pop("CI", None)
    return subprocess.run([sys.executable, "-m", "portfleet", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def start(*args: str, state: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, PORTFLEET_STATE=str(state))
    env.pop("CI", None)
    return subprocess.Popen([sys.executable, "-m", "portfleet", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def as_json(text: str, err: str = "") -> dict:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise AssertionError(f"not JSON:\n{text}\n{err}") from None


def playbook(path: Path, reboot: dict) -> Path:
    path.write_text(yaml.safe_dump([{
        "name": "Shorter TIME_WAIT",
        "hosts": "windows",
        "settings": {"TcpTimedWaitDelay": 30},
        "reboot": reboot,
    }], sort_keys=False))
    return path


def open_window_now() -> str:
    """A daily UTC window that opened 10 minutes ago and stays open for an hour."""
    now = datetime.now(timezone.utc)
    return f"daily {now - timedelta(minutes=10):%H:%M}-{now + timedelta(minutes=60):%H:%M}"


def boots(control, names) -> dict[str, int]:
    return {n: control.host(n)["boot_count"] for n in names}


def apply(running, book: Path, state: Path) -> None:
    proc = portfleet("apply", "-i", str(running.inventory), "-p", str(book), "--yes", "--format", "json", state=state)
    assert proc.returncode == 3, proc.stderr  # written, pending a reboot
    statuses = {h["status"] for h in as_json(proc.stdout)["hosts"]}
    assert statuses == {"pending_reboot"}, statuses


def test_rolling_reboot_in_windows_leaves_every_host_compliant(lab, tmp_path):
    running = lab(hosts=6, profile="defaults", seed=5, time_scale=TIME_SCALE)
    control = running.control()
    names = [h["name"] for h in running.hosts]
    state = tmp_path / "state.db"
    book = playbook(tmp_path / "pb.yml", {"windows": [open_window_now()], "timezone": "UTC", "max_parallel": 2})
    apply(running, book, state)
    before = boots(control, names)

    proc = portfleet("reboot", "run", "-i", str(running.inventory), "-p", str(book), "--yes", "--timeout-up", "20",
                     *FAST, "--format", "json", state=state)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = as_json(proc.stdout, proc.stderr)
    assert report["schema"] == "portfleet.reboot-run/1" and report["status"] == "completed"
    hosts = {h["name"]: h for h in report["hosts"]}
    assert {h["status"] for h in hosts.values()} == {"verified"}
    assert all(h["command"] == 'shutdown /r /t 1 /c "portfleet: reboot to apply TcpTimedWaitDelay"'
               for h in hosts.values())

    # Batches of at most two, one after another: every boot of a batch is later than the last of the previous.
    by_batch: dict[int, list[dict]] = {}
    for h in hosts.values():
        by_batch.setdefault(h["batch"], []).append(h)
    assert sorted(by_batch) == [1, 2, 3] and all(len(v) == 2 for v in by_batch.values())
    for k in (1, 2):
        assert max(h["boot_after"] for h in by_batch[k]) < min(h["boot_after"] for h in by_batch[k + 1])

    # The lab's own view: each host booted exactly once more and now uses the written value.
    assert boots(control, names) == {n: before[n] + 1 for n in names}
    for n in names:
        assert control.host(n)["settings"]["TcpTimedWaitDelay"]["effective"] == 30

    audit = portfleet("audit", "-i", str(running.inventory), "-p", str(book), "--format", "json", state=state)
    assert audit.returncode == 0, audit.stdout
    assert {h["status"] for h in as_json(audit.stdout)["hosts"]} == {"compliant"}
    again = portfleet("reboot", "plan", "-i", str(running.inventory), "-p", str(book), "--format", "json", state=state)
    assert again.returncode == 0 and as_json(again.stdout)["summary"]["planned"] == 0


def test_host_that_never_returns_fails_alone_and_the_run_goes_on(lab, tmp_path):
    running = lab(hosts=6, profile="defaults", seed=6, time_scale=TIME_SCALE)
    control = running.control()
    names = [h["name"] for h in running.hosts]
    state = tmp_path / "state.db"
    book = playbook(tmp_path / "pb.yml", {"windows": ["daily 00:00-24:00"], "timezone": "UTC"})
    apply(running, book, state)
    before = boots(control, names)
    victim = "app-02"  # batch 1 is app-01, app-02, sql-01 (the planner takes hosts by name)

    proc = start("reboot", "run", "-i", str(running.inventory), "-p", str(book), "--now", "--yes",
                 "--max-parallel", "3", "--max-fail", "40%", "--timeout-up", "4", *FAST, "--format", "json",
                 state=state)
    # Right after its shutdown went out: the host stops answering for good.
    control.wait_until(victim, lambda h: not h["is_up"], timeout=60)
    control.set_faults(victim, unreachable=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 4, out + err
    report = as_json(out, err)
    hosts = {h["name"]: h for h in report["hosts"]}
    assert hosts[victim]["status"] == "failed"
    assert "did not come back with a new boot time within 4s" in hosts[victim]["detail"]
    # 1 of 3 failed in batch 1 (33% <= 40%): batch 2 ran; nobody else was held up.
    assert report["stopped_reason"] is None
    assert {n: hosts[n]["status"] for n in names if n != victim} == {n: "verified" for n in names if n != victim}
    assert {hosts[n]["batch"] for n in ("web-01", "web-02", "web-03")} == {2}
    after = boots(control, names)
    assert all(after[n] == before[n] + 1 for n in names)  # the victim rebooted too, it just never answered
    control.clear_faults(victim)


def test_failure_threshold_stops_before_the_next_batch(lab, tmp_path):
    running = lab(hosts=4, profile="defaults", seed=8, time_scale=TIME_SCALE)
    control = running.control()
    names = [h["name"] for h in running.hosts]
    state = tmp_path / "state.db"
    book = playbook(tmp_path / "pb.yml", {"windows": ["daily 00:00-24:00"], "timezone": "UTC", "max_parallel": 2})
    apply(running, book, state)
    before = boots(control, names)
    victim = "sql-01"  # batch 1: app-01, sql-01

    proc = start("reboot", "run", "-i", str(running.inventory), "-p", str(book), "--now", "--yes", "--max-fail", "0",
                 "--timeout-up", "3", *FAST, state=state)
    control.wait_until(victim, lambda h: not h["is_up"], timeout=60)
    control.set_faults(victim, unreachable=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 4, out + err
    assert "1 of 2 host(s) failed (50% > --max-fail 0%): rollout stopped; not started: web-01, web-02" in err
    assert "app-01" in out and "verified" in out  # its batch-mate was finished, not abandoned
    after = boots(control, names)
    assert after["app-01"] == before["app-01"] + 1
    assert (after["web-01"], after["web-02"]) == (before["web-01"], before["web-02"])  # never touched
    control.clear_faults(victim)


def test_a_batch_that_cannot_end_inside_its_window_is_not_started(lab, tmp_path):
    running = lab(hosts=2, profile="defaults", seed=9, time_scale=TIME_SCALE)
    control = running.control()
    names = [h["name"] for h in running.hosts]
    state = tmp_path / "state.db"
    now = datetime.now(timezone.utc)
    # Open now, but closing within the minute: a reboot allowed 1 + 10 + 120 s cannot end inside it.
    closing = f"daily {now - timedelta(minutes=60):%H:%M}-{now + timedelta(minutes=1):%H:%M}"
    book = playbook(tmp_path / "pb.yml", {"windows": [closing], "timezone": "UTC"})
    apply(running, book, state)
    before = boots(control, names)

    proc = portfleet("reboot", "run", "-i", str(running.inventory), "-p", str(book), "--yes", "--no-wait",
                     "--timeout-up", "120", *FAST, "--format", "json", state=state)
    assert proc.returncode == 3, proc.stdout + proc.stderr  # reboots still pending, for the next window
    report = as_json(proc.stdout, proc.stderr)
    tomorrow = (now - timedelta(minutes=60)).date() + timedelta(days=1)
    assert report["stopped_reason"].startswith(f"the next window opens at {tomorrow.isoformat()}T")
    assert {h["status"] for h in report["hosts"]} == {"planned"}
    assert boots(control, names) == before  # nobody was rebooted
