"""`portfleet reboot schedule`, then `status`, then `cancel`, against lab hosts in several zones and
locales (a German host's schtasks wants dd.mm.yyyy, Server 2003's wants HH:MM:SS and no /f).
The tasks are checked on the lab's side: their due instant must be the plan's batch start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from portfleet.inventory import load_inventory
from portfleet.transport.factory import session_factory


def portfleet(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PORTFLEET_STATE=str(state), COLUMNS="250")
    env.pop("CI", None)
    return subprocess.run([sys.executable, "-m", "portfleet", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def as_json(proc: subprocess.CompletedProcess[str]) -> dict:
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"not JSON (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}") from None


def z(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.fixture
def fleet(lab, tmp_path):
    running = lab(hosts=4, profile="mixed", seed=2)  # web-01, app-01, sql-01 (de-DE), legacy-01 (2003)
    control = running.control()
    data = running.inventory_data
    # The operator declares each host's zone; its windows are in that zone.
    for group in data["all"]["children"]["windows"]["children"].values():
        for name, entry in group["hosts"].items():
            entry["portfleet_timezone"] = control.host(name)["timezone"]
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump(data, sort_keys=False))
    playbook = tmp_path / "pb.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Shorter TIME_WAIT", "hosts": "windows", "settings": {"TcpTimedWaitDelay": 30},
        "reboot": {"windows": ["daily 02:00-04:00"], "max_parallel": 1},
    }], sort_keys=False))
    return running, control, inventory, playbook, tmp_path / "state.db"


def test_schedule_then_status_then_cancel(fleet):
    running, control, inventory, playbook, state = fleet
    names = [h["name"] for h in running.hosts]
    common = ["-i", str(inventory), "-p", str(playbook)]

    check = portfleet("reboot", "schedule", *common, "--all", "--check", "--format", "json", state=state)
    assert check.returncode == 3, check.stderr
    planned = {t["name"]: t for t in as_json(check)["tasks"]}
    assert sorted(planned) == sorted(names)
    assert all(control.host(n)["tasks"] == [] for n in names)  # check mode touched nothing

    created = portfleet("reboot", "schedule", *common, "--all", "--yes", "--format", "json", state=state)
    assert created.returncode == 0, created.stdout + created.stderr
    doc = as_json(created)
    tasks = {t["name"]: t for t in doc["tasks"]}
    assert {t["status"] for t in tasks.values()} == {"created"}
    starts = {h["name"]: h["start"] for h in doc["hosts"]}
    assert len(set(starts.values())) == len(names)  # staggered: one host per batch (max_parallel 1)
    for n in names:
        task = tasks[n]
        assert task["run"].startswith('shutdown /r /t 300 /c "portfleet: ')
        assert task["command"].startswith("schtasks ") and "/tn portfleet-reboot /sc once" in task["command"]
        (on_host,) = control.host(n)["tasks"]
        assert on_host["name"] == "portfleet-reboot" and on_host["run_as"] == "SYSTEM"
        assert on_host["command"] == task["run"]
        # The host's Task Scheduler fires at the plan's instant: the local date/time was right.
        assert abs(on_host["due"] - z(starts[n])) < 1, (n, task, on_host)
    assert "." in tasks["sql-01"]["start_date"]  # de-DE short date: dd.MM.yyyy
    assert "/st " in tasks["legacy-01"]["command"] and tasks["legacy-01"]["command"].count(":") >= 2
    assert " /f" not in tasks["legacy-01"]["command"].split("&")[-1]  # 2003's /create has no /f

    status = portfleet("reboot", "status", *common, "--format", "json", state=state)
    assert status.returncode == 3, status.stderr
    rows = {h["name"]: h for h in as_json(status)["hosts"]}
    assert {r["status"] for r in rows.values()} == {"scheduled"}
    assert all(r["task"]["name"] == "\\portfleet-reboot" and r["task"]["next_run"] for r in rows.values())
    assert all(r["boot_time"] for r in rows.values())

    # Someone else's restart is pending on web-01: cancel aborts it too.
    with session_factory()(load_inventory(inventory).host("web-01")) as session:
        assert session.run('shutdown /r /t 3600 /c "patch"').exit_code == 0

    dry = portfleet("reboot", "cancel", *common, "--check", state=state)
    assert dry.returncode == 3 and "schtasks /delete /tn portfleet-reboot /f" in dry.stdout and "shutdown /a" in dry.stdout
    assert all(len(control.host(n)["tasks"]) == 1 for n in names)

    cancelled = portfleet("reboot", "cancel", *common, "--yes", "--format", "json", state=state)
    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    results = {h["name"]: h for h in as_json(cancelled)["hosts"]}
    assert {r["task"] for r in results.values()} == {"deleted"}
    assert results["web-01"]["shutdown"] == "aborted"
    assert {results[n]["shutdown"] for n in names if n != "web-01"} == {"none pending"}  # 1116
    assert all(control.host(n)["tasks"] == [] for n in names)
    assert control.host("web-01")["shutdown"] is None

    after = portfleet("reboot", "status", *common, "--format", "json", state=state)
    assert after.returncode == 3
    left = {h["name"]: h for h in as_json(after)["hosts"]}
    # Nothing was applied; only web-01 has Windows' own pending-reboot flags (lab profile "mixed").
    assert left["web-01"]["status"] == "pending" and left["web-01"]["pending"][0].startswith("Windows: ")
    assert {left[n]["status"] for n in names if n != "web-01"} == {"ok"}

    again = portfleet("reboot", "cancel", *common, "--yes", "--format", "json", state=state)
    assert again.returncode == 0
    assert {(h["task"], h["shutdown"]) for h in as_json(again)["hosts"]} == {("none", "none pending")}


def test_shards_schedule_their_own_slices_and_label_the_run(fleet):
    running, control, inventory, playbook, state = fleet
    names = sorted(h["name"] for h in running.hosts)
    common = ["-i", str(inventory), "-p", str(playbook), "--all"]
    slices = []
    for k in (1, 2):
        check = portfleet("reboot", "schedule", *common, "--shard", f"{k}/2", "--check", "--format", "json",
                          state=state)
        assert check.returncode == 3, check.stderr
        slices.append(sorted(t["name"] for t in as_json(check)["tasks"]))
    assert slices[0] and slices[1] and not set(slices[0]) & set(slices[1])
    assert sorted(slices[0] + slices[1]) == names  # the two shards cover the fleet, no host twice
    created = portfleet("reboot", "schedule", *common, "--shard", "1/2", "--job", "patch-night", "--yes",
                        "--format", "json", state=state)
    assert created.returncode == 0, created.stdout + created.stderr
    assert sorted(t["name"] for t in as_json(created)["tasks"]) == slices[0]
    assert {n for n in names if control.host(n)["tasks"]} == set(slices[0])  # the other shard's hosts untouched
    runs = as_json(portfleet("runs", "list", "--job", "patch-night", "--format", "json", state=state))["runs"]
    assert [(r["kind"], r["shard"]) for r in runs] == [("reboot-schedule", "1/2")]
    empty = portfleet("reboot", "schedule", *common, "--shard", "9/9", "--check", state=state)
    assert empty.returncode == 0 and "shard 9/9" in empty.stderr and empty.stdout == ""
