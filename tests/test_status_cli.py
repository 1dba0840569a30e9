"""`portfleet status` on SQLite, as a user asks it: no host contacted (an unreachable fleet gets
the same answer), never-seen hosts, pending reboots, exit codes, --limit without an inventory, csv,
filters by job and shard, a store that does not exist yet, and a damaged row."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_fleet_apply_e2e import PLAYBOOK


def portfleet(*args: str, state: Path, columns: int = 200) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PORTFLEET_STATE=str(state), COLUMNS=str(columns))
    env.pop("CI", None)
    env.pop("PORTFLEET_JOB", None)
    return subprocess.run([sys.executable, "-m", "portfleet", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def as_json(proc: subprocess.CompletedProcess[str]) -> dict:
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"not JSON (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}") from None


@pytest.fixture(scope="module")
def fleet(module_lab):
    return module_lab(hosts=4, profile="defaults", seed=41)


def test_a_store_that_does_not_exist_lists_every_host_as_never_seen_and_creates_nothing(fleet, tmp_path):
    state = tmp_path / "nothing" / "state.db"
    proc = portfleet("status", "-i", str(fleet.inventory), "--format", "json", state=state)
    assert proc.returncode == 0, proc.stderr
    document = as_json(proc)
    assert {h["name"]: h["status"] for h in document["hosts"]} == {h["name"]: "never seen" for h in fleet.hosts}
    assert all(h["seen"] is None and h["settings"] == [] for h in document["hosts"])
    assert not state.parent.exists()
    empty = portfleet("status", state=state)
    assert empty.returncode == 0 and "no host recorded" in empty.stdout


def test_status_after_audit_and_apply_shows_when_by_whom_and_what_awaits_a_reboot(fleet, tmp_path):
    state = tmp_path / "state.db"
    inv = str(fleet.inventory)
    names = sorted(h["name"] for h in fleet.hosts)
    audited = as_json(portfleet("audit", "-i", inv, "-p", str(PLAYBOOK), "-l", ",".join(names[:2]), "--job", "a1",
                                "--format", "json", state=state))
    applied = portfleet("apply", "-i", inv, "-p", str(PLAYBOOK), "-l", names[0], "--yes", "--format", "json",
                        state=state)
    assert applied.returncode == 3, applied.stderr
    applied = as_json(applied)
    control = fleet.control()
    for name in names:  # status contacts no host: a fleet that answers nobody does not change its answer
        control.set_faults(name, unreachable=True)
    try:
        proc = portfleet("status", "-i", inv, "--format", "json", state=state)
    finally:
        for name in names:
            control.set_faults(name, unreachable=False)
    assert proc.returncode == 3, proc.stderr  # one host drifts, one awaits a reboot
    hosts = {h["name"]: h for h in as_json(proc)["hosts"]}
    assert [hosts[n]["status"] for n in names] == ["pending_reboot", "drift", "never seen", "never seen"]
    first, second = hosts[names[0]], hosts[names[1]]
    assert (first["seen"]["id"], first["seen"]["kind"], first["seen"]["job"]) == (applied["run_id"], "apply", None)
    assert (second["seen"]["id"], second["seen"]["job"]) == (audited["run_id"], "a1")
    assert [p["setting"] for p in first["pending_reboots"]] == ["TcpTimedWaitDelay"] and first["awaits_reboot"]
    wait = {s["key"]: s for s in first["settings"]}["TcpTimedWaitDelay"]
    assert (wait["desired"], wait["actual"], wait["status"]) == (30, 30, "pending_reboot")
    drift = {s["key"]: s for s in second["settings"]}["dynamicport.ipv4.tcp"]
    assert drift["status"] == "drift" and drift["actual"] == {"start": 49152, "num": 16384, "end": 65535}
    summary = as_json(proc)["summary"]
    assert (summary["hosts"], summary["never seen"], summary["awaiting_reboot"]) == (4, 2, 1)

    # --job keeps only what that job's runs recorded; --limit without -i matches the names recorded.
    by_job = as_json(portfleet("status", "--job", "a1", "--format", "json", state=state))
    assert [(h["name"], h["seen"]["job"]) for h in by_job["hosts"]] == [(names[0], "a1"), (names[1], "a1")]
    limited = as_json(portfleet("status", "-l", f"*,!{names[0]}", "--format", "json", state=state))
    assert [h["name"] for h in limited["hosts"]] == [names[1]]
    nothing = portfleet("status", "-l", "nosuch*", state=state)
    assert nothing.returncode == 2 and "no host or group matches 'nosuch*'" in nothing.stderr

    # csv: one row per host and setting, a never-seen host on one row of its own.
    rows = list(csv.DictReader(io.StringIO(portfleet("status", "-i", inv, "--format", "csv", state=state).stdout)))
    assert {r["host"] for r in rows} == set(names)
    assert [r["status"] for r in rows if r["host"] == names[3]] == ["never seen"]
    assert {r["setting"] for r in rows if r["host"] == names[0]} >= {"TcpTimedWaitDelay", "dynamicport.ipv4.tcp"}

    # 80 columns: host and status whole on their lines, nothing wider, what is left out said.
    table = portfleet("status", "-i", inv, state=state, columns=80)
    lines = table.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    for name in names:
        (row,) = [line for line in lines if line.startswith(f"│ {name} ")]
        assert f" {hosts[name]['status']} " in row
    words = " ".join(table.stdout.split())  # the lines under the table wrap at the terminal's width
    assert "awaits a reboot: TcpTimedWaitDelay" in words and "4 host(s), 1 drift, 2 never seen" in words
    assert "not shown at this width:" in words


def test_all_compliant_is_exit_0(lab, tmp_path):
    fleet = lab(hosts=2, profile="defaults", seed=42)  # a lab no other test wrote to
    state = tmp_path / "state.db"
    book = tmp_path / "defaults.yml"
    book.write_text(yaml.safe_dump([{"name": "the defaults", "hosts": "windows",
                                     "settings": {"dynamicport": {"ipv4": {"tcp": {"start": 49152, "num": 16384}}}}}]))
    assert portfleet("audit", "-i", str(fleet.inventory), "-p", str(book), state=state).returncode == 0
    proc = portfleet("status", "--format", "json", state=state)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {h["status"] for h in as_json(proc)["hosts"]} == {"compliant"}


def test_a_damaged_row_is_exit_2_naming_it(fleet, tmp_path):
    state = tmp_path / "state.db"
    assert portfleet("audit", "-i", str(fleet.inventory), "-p", str(PLAYBOOK), state=state).returncode == 3
    with sqlite3.connect(state) as db:
        db.execute("UPDATE host_results SET settings = ? WHERE host = ?",
                   (json.dumps([{"key": "MaxUserPort", "status": "ok", "actual": "lots"}]), fleet.hosts[0]["name"]))
    proc = portfleet("status", state=state)
    assert proc.returncode == 2 and "damaged" in proc.stderr and fleet.hosts[0]["name"] in proc.stderr
    assert "Traceback" not in proc.stderr
    with sqlite3.connect(state) as db:
        db.execute("UPDATE host_results SET settings = '{not json' WHERE host = ?", (fleet.hosts[1]["name"],))
    proc = portfleet("status", "--format", "json", state=state)
    assert proc.returncode == 2 and "not valid JSON" in proc.stderr and "Traceback" not in proc.stderr
