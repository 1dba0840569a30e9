"""`portfleet reboot plan` as a user runs it: 20 lab hosts, two windows, two zones, a DST change;
and invalid windows refused with file:line before any host is contacted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml


def portfleet(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PORTFLEET_STATE=str(state), COLUMNS="250")  # rich wraps tables at 80 otherwise
    env.pop("CI", None)
    return subprocess.run([sys.executable, "-m", "portfleet", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def as_json(proc: subprocess.CompletedProcess[str]) -> dict:
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"not JSON (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}") from None


def z(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# Berlin hosts take their windows from the inventory; New York hosts from their play's reboot block.
PLAYBOOK = """\
- name: Berlin half
  hosts: berlin
  settings:
    TcpTimedWaitDelay: 30
  reboot:
    max_parallel: 4
    max_unavailable: "50%"
- name: New York half
  hosts: newyork
  settings:
    TcpTimedWaitDelay: 30
  reboot:
    windows: ["Sun 01:00-04:00"]
    timezone: America/New_York
    max_parallel: 3
"""
# delay 60 + timeout-down 240 + timeout-up 600: every reboot is planned as 15 minutes.
TIMING = ["--delay", "60", "--timeout-down", "240", "--timeout-up", "600"]


@pytest.fixture(scope="module")
def fleet(module_lab, tmp_path_factory):
    running = module_lab(hosts=20, profile="defaults", seed=3)
    work = tmp_path_factory.mktemp("plan")
    data = running.inventory_data
    windows = data["all"]["children"]["windows"]
    names = [h["name"] for h in running.hosts]
    windows["children"]["berlin"] = {
        "hosts": {n: {} for n in names[:10]},
        "vars": {"portfleet_maintenance_windows": ["Sun 02:00-04:00"], "portfleet_timezone": "Europe/Berlin"},
    }
    windows["children"]["newyork"] = {"hosts": {n: {} for n in names[10:]}}
    inventory = work / "inventory.yml"
    inventory.write_text(yaml.safe_dump(data, sort_keys=False))
    playbook = work / "playbook.yml"
    playbook.write_text(PLAYBOOK)
    return running, inventory, playbook, names, work


def test_twenty_hosts_two_zones_across_new_yorks_dst_change(fleet):
    running, inventory, playbook, names, work = fleet
    ics = work / "plan.ics"
    # Saturday 2027-03-13: New York springs forward on Sunday the 14th at 02:00 (to 03:00 EDT);
    # Berlin is still on CET (its change is on the 28th).
    proc = portfleet("reboot", "plan", "-i", str(inventory), "-p", str(playbook), "--all", "--at",
                     "2027-03-13T12:00:00Z", "--format", "json", "--ics", str(ics), *TIMING,
                     state=work / "state.db")
    assert proc.returncode == 3, proc.stderr  # reboots planned
    plan = as_json(proc)
    assert plan["schema"] == "portfleet.reboot-plan/1"
    assert plan["summary"]["planned"] == 20 and plan["summary"]["unschedulable"] == 0
    hosts = {h["name"]: h for h in plan["hosts"]}
    berlin, newyork = names[:10], names[10:]

    for n in berlin:
        w = hosts[n]["window"]
        assert (w["start"], w["end"]) == ("2027-03-14T01:00:00Z", "2027-03-14T03:00:00Z")
        assert w["local_start"].startswith("2027-03-14T02:00:00") and w["local_start"].endswith("+01:00")
        assert hosts[n]["windows_source"].startswith(str(inventory))
    for n in newyork:
        w = hosts[n]["window"]
        # "Sun 01:00-04:00" lasts 2 real hours that night: 01:00 EST (06:00Z) to 04:00 EDT (08:00Z).
        assert (w["start"], w["end"]) == ("2027-03-14T06:00:00Z", "2027-03-14T08:00:00Z")
        assert w["local_start"] == "2027-03-14T01:00:00-05:00"
        assert w["local_end"] == "2027-03-14T04:00:00-04:00"
        assert hosts[n]["windows_source"].startswith(str(playbook))

    batches = plan["batches"]
    assert [len(b["hosts"]) for b in batches] == [4, 4, 2, 3, 3, 3, 1]
    limits = plan["policy"]["max_unavailable"]
    previous_end = None
    for b in batches:
        start, end, safe = z(b["start"]), z(b["estimated_end"]), z(b["latest_safe_start"])
        assert end - start == timedelta(minutes=15)
        assert previous_end is None or start >= previous_end  # one batch after another
        previous_end = end
        for h in b["hosts"]:
            assert z(h["window"]["start"]) <= start and end <= z(h["window"]["end"])
            assert safe <= z(h["window"]["end"]) - timedelta(minutes=15)
        for group, limit in limits.items():  # per-group max_unavailable and per-play max_parallel
            assert sum(1 for h in b["hosts"] if group in h["groups"]) <= limit, (group, b)
    assert limits["berlin"] == 5  # 50% of the group's 10 hosts

    # Each planned host carries the exact command a run would send.
    assert all(hosts[n]["command"] == 'shutdown /r /t 60 /c "portfleet: maintenance reboot"' for n in names)
    text = ics.read_bytes().decode("utf-8")
    assert text.count("BEGIN:VEVENT") == 7
    unfolded = text.replace("\r\n ", "")
    assert 'shutdown /r /t 60 /c "portfleet: maintenance reboot"' in unfolded.replace("\\", "")
    assert "DTSTART:20270314T060000Z" in unfolded


def test_berlin_spring_forward_night_is_one_hour_and_spills_to_next_week(fleet):
    running, inventory, playbook, names, work = fleet
    # Berlin's "Sun 02:00-04:00" on 2027-03-28 opens at 03:00 CEST (the 02:00 hour does not exist):
    # one real hour, room for four 15-minute batches of 2; the last two hosts wait a week.
    proc = portfleet("reboot", "plan", "-i", str(inventory), "-p", str(playbook), "-l", "berlin",
                     "--max-parallel", "2", "--at", "2027-03-27T12:00:00Z", "--format", "json", *TIMING,
                     state=work / "state.db")
    assert proc.returncode == 3, proc.stderr
    plan = as_json(proc)
    # The old spelling, `plan --now TIME`, plans the same and says it is deprecated.
    old = portfleet("reboot", "plan", "-i", str(inventory), "-p", str(playbook), "-l", "berlin",
                    "--max-parallel", "2", "--now", "2027-03-27T12:00:00Z", "--format", "json", *TIMING,
                    state=work / "state.db")
    assert old.returncode == 3 and "`reboot plan --now TIME` is deprecated: use --at TIME" in old.stderr
    assert [b["start"] for b in as_json(old)["batches"]] == [b["start"] for b in plan["batches"]]
    starts = [b["start"] for b in plan["batches"]]
    assert starts == ["2027-03-28T01:00:00Z", "2027-03-28T01:15:00Z", "2027-03-28T01:30:00Z",
                      "2027-03-28T01:45:00Z", "2027-04-04T00:00:00Z"]
    assert [len(b["hosts"]) for b in plan["batches"]] == [2, 2, 2, 2, 2]
    first = plan["batches"][0]["hosts"][0]["window"]
    assert (first["start"], first["end"]) == ("2027-03-28T01:00:00Z", "2027-03-28T02:00:00Z")
    assert first["local_start"] == "2027-03-28T03:00:00+02:00"
    assert plan["summary"]["planned"] == 10 and plan["summary"]["hosts"] == 10


def test_table_output_names_batches_and_local_windows(fleet):
    running, inventory, playbook, names, work = fleet
    proc = portfleet("reboot", "plan", "-i", str(inventory), "-p", str(playbook), "-l", names[10],
                     "--at", "2027-03-13T12:00:00Z", *TIMING, state=work / "state.db")
    assert proc.returncode == 3, proc.stderr
    assert names[10] in proc.stdout
    assert "Sun 2027-03-14 01:00 EST (America/New_York)" in proc.stdout
    assert 'shutdown /r /t 60 /c "portfleet: maintenance reboot"' in proc.stdout


def test_ignore_windows_and_now_mean_the_same_in_plan_and_run(fleet):
    running, inventory, playbook, names, work = fleet
    # Saturday noon is outside every window: --ignore-windows plans the first batch at that very time.
    planned = portfleet("reboot", "plan", "-i", str(inventory), "-p", str(playbook), "-l", "berlin",
                        "--at", "2027-03-13T12:00:00Z", "--ignore-windows", "--format", "json", *TIMING,
                        state=work / "state.db")
    assert planned.returncode == 3, planned.stderr
    plan = as_json(planned)
    assert plan["policy"]["ignore_windows"] is True and plan["batches"][0]["start"] == "2027-03-13T12:00:00Z"
    for flag in ("--now", "--ignore-windows"):  # run's two spellings of one flag; --check touches nothing
        run = portfleet("reboot", "run", "-i", str(inventory), "-p", str(playbook), "-l", "berlin", flag,
                        "--check", "--format", "json", *TIMING, state=work / "state.db")
        assert run.returncode == 3, run.stderr
        assert as_json(run)["policy"]["ignore_windows"] is True, flag
    both = portfleet("reboot", "plan", "-i", str(inventory), "-p", str(playbook), "--at", "2027-03-13T12:00:00Z",
                     "--now", "2027-03-13T12:00:00Z", state=work / "state.db")
    assert both.returncode == 2 and "give --at only" in both.stderr


BAD_INVENTORY = """\
all:
  children:
    windows:
      vars:
        ansible_connection: winrm
        ansible_user: admin
        ansible_password: secret
        ansible_port: 5985
      hosts:
        web-01:
          ansible_host: 127.0.0.1
        web-02:
          ansible_host: 127.0.0.1
          portfleet_maintenance_windows: ["Sun 25:00-04:00"]
"""


def test_invalid_inventory_window_is_refused_with_file_and_line(tmp_path):
    inventory = tmp_path / "inv.yml"
    inventory.write_text(BAD_INVENTORY)
    playbook = tmp_path / "pb.yml"
    playbook.write_text("- hosts: windows\n  settings:\n    TcpTimedWaitDelay: 30\n")
    proc = portfleet("reboot", "plan", "-i", str(inventory), "-p", str(playbook), state=tmp_path / "s.db")
    assert proc.returncode == 2
    assert f"{inventory}:14:" in proc.stderr
    assert "bad start time '25:00'" in proc.stderr
    assert "secret" not in proc.stderr + proc.stdout


def test_invalid_playbook_window_is_refused_with_file_and_line(tmp_path):
    inventory = tmp_path / "inv.yml"
    inventory.write_text(BAD_INVENTORY.replace('          portfleet_maintenance_windows: ["Sun 25:00-04:00"]\n', ""))
    playbook = tmp_path / "pb.yml"
    playbook.write_text(
        "- hosts: windows\n"
        "  settings:\n"
        "    TcpTimedWaitDelay: 30\n"
        "  reboot:\n"
        "    timezone: Europe/Berlin\n"
        "    windows:\n"
        "      - Sun 02:00-04:00\n"
        "      - Snu 02:00-04:00\n"
    )
    proc = portfleet("reboot", "run", "-i", str(inventory), "-p", str(playbook), "--check", state=tmp_path / "s.db")
    assert proc.returncode == 2
    assert f"{playbook}:8:" in proc.stderr
    assert "unknown day 'Snu'" in proc.stderr and "did you mean 'Sun'" in proc.stderr
