"""`reboot run --shard K/N --job NAME`: a shard's controller killed mid-run is resumed by the same
command (as a scheduler restarts it), never by another shard's; a run another machine still drives
(fresh heartbeat) is not taken over, one whose heartbeat stopped is. Checked by the lab's boot counts."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from datetime import timedelta

from test_reboot_run_resume import FAST, IN_FLIGHT, TIME_SCALE, as_json, boots, env_for, portfleet, row_states, \
    wait_for, write_playbook

from portfleet.state import iso, utcnow


def test_a_killed_shard_is_resumed_by_its_own_command_and_never_by_another_shard(lab, tmp_path):
    running = lab(hosts=4, profile="defaults", seed=51, time_scale=TIME_SCALE)
    control = running.control()
    names = sorted(h["name"] for h in running.hosts)
    state = tmp_path / "state.db"
    book = write_playbook(tmp_path / "pb.yml")
    inv = ["-i", str(running.inventory), "-p", str(book)]
    assert portfleet("apply", *inv, "--yes", state=state).returncode == 3
    before = boots(control, names)
    first, second = names[0::2], names[1::2]

    controller = subprocess.Popen(
        [sys.executable, "-m", "portfleet", "reboot", "run", *inv, "--shard", "1/2", "--job", "patch-night", "--now",
         "--yes", "--max-parallel", "1", *FAST, "--format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(state))
    wait_for(lambda: set(row_states(state).values()) & {"shutdown_sent", "down"}, 90, "a shutdown in flight")
    controller.send_signal(signal.SIGKILL)
    controller.communicate(timeout=30)
    with sqlite3.connect(state) as db:
        ((killed, shard),) = db.execute("SELECT id, shard FROM runs WHERE kind = 'reboot'").fetchall()
    assert shard == "1/2" and set(row_states(state)) == set(first)

    # The other shard starts its own run: the killed one is not its to resume.
    other = portfleet("reboot", "run", *inv, "--shard", "2/2", "--job", "patch-night", "--now", "--yes", *FAST,
                      "--format", "json", state=state)
    assert other.returncode == 0, other.stdout + other.stderr
    report = as_json(other)
    assert report["resumed"] is False and sorted(h["name"] for h in report["hosts"]) == second
    wrong = portfleet("reboot", "run", *inv, "--resume", killed, "--shard", "2/2", "--yes", state=state)
    assert wrong.returncode == 2 and f"run {killed} is shard 1/2 of job patch-night, not shard 2/2" in wrong.stderr

    # As if the killed controller ran on another machine and were still beating: not taken over.
    with sqlite3.connect(state) as db:
        db.execute("UPDATE runs SET controller_host = 'ctl-elsewhere', heartbeat_at = ? WHERE id = ?",
                   (iso(utcnow()), killed))
        db.execute("UPDATE reboot_runs SET controller_host = 'ctl-elsewhere' WHERE run_id = ?", (killed,))
    busy = portfleet("reboot", "run", *inv, "--shard", "1/2", "--job", "patch-night", "--yes", *FAST, state=state)
    assert busy.returncode == 2 and "still being driven by ctl-elsewhere" in busy.stderr, busy.stderr
    with sqlite3.connect(state) as db:  # its heartbeat stopped long ago: it is gone
        db.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (iso(utcnow() - timedelta(minutes=10)), killed))

    resumed = portfleet("reboot", "run", *inv, "--shard", "1/2", "--job", "patch-night", "--yes", *FAST,
                        "--format", "json", state=state)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    report = as_json(resumed)
    assert report["resumed"] is True and report["run_id"] == killed
    assert sorted(h["name"] for h in report["hosts"]) == first
    assert {h["status"] for h in report["hosts"]} == {"verified"}
    assert boots(control, names) == {n: before[n] + 1 for n in names}  # each host once, the cut-off one too
    listed = json.loads(portfleet("runs", "list", "--job", "patch-night", "--format", "json", state=state).stdout)
    (reboots,) = listed["job"]["kinds"]
    assert (reboots["shards"], reboots["missing"], reboots["statuses"]) == (["1/2", "2/2"], [], {"completed": 2})
    assert not set(row_states(state).values()) & set(IN_FLIGHT)
