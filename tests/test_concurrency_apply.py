"""Two applies and a rollback racing over the same hosts and one state database.

One run per host at a time (host leases): a host another run holds is skipped as `locked`, naming
the holder; no write is made twice or on top of another run's half-done host; nothing fails
spuriously. Checked from the journal (per host, each run's writes form one unbroken block; no
write of a value the host already had; nothing left failed or intent) and from the lab's side
(every journal row agrees with what the host holds).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys

from run_checks import check_journal_against_lab, integrity, journal_rows, playbook, start_apply


def test_two_applies_and_a_rollback_racing_write_each_host_one_run_at_a_time(lab, tmp_path):
    running = lab(hosts=6, profile="defaults", seed=10)
    control = running.control()
    names = [h["name"] for h in running.hosts]
    state = tmp_path / "state.db"
    first = start_apply(running.inventory, playbook(tmp_path / "first.yml", 30, 10000), state, "--forks", "6")
    out, err = first.communicate(timeout=120)
    assert first.returncode in (0, 3), err
    first_id = json.loads(out)["run_id"]
    for name in names:
        control.set_faults(name, slow_seconds=0.15)  # each run takes seconds: the three overlap host by host

    second = playbook(tmp_path / "second.yml", 60, 20000)
    env = dict(os.environ, PORTFLEET_STATE=str(state))
    env.pop("CI", None)
    racers = [
        start_apply(running.inventory, second, state, "--forks", "1"),
        start_apply(running.inventory, second, state, "--forks", "1"),
        subprocess.Popen([sys.executable, "-m", "portfleet", "rollback", first_id, "--yes", "--forks", "1",
                          "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env),
    ]
    reports = []
    for proc in racers:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode in (0, 3, 4), err  # 4: some hosts were locked by another run
        reports.append(json.loads(out))
    ids = {r["run_id"] for r in reports}
    locked = [h for r in reports for h in r["hosts"] if h["status"] == "locked"]
    assert locked, "the three runs never met on a host: the race did not happen"
    for host in locked:
        holder = re.search(r"run (\S+) \(controller .+, pid \d+", host["detail"])
        assert holder and holder.group(1) in ids, host["detail"]
    for report in reports:
        for host in report["hosts"]:
            assert host["status"] in ("compliant", "pending_reboot", "locked"), (host["name"], host["detail"])

    rows = journal_rows(state)
    assert rows and {r["state"] for r in rows} == {"verified"}, "no write failed or was left half done"
    assert all(r["prior"] != r["desired"] for r in rows), "a write of the value the host already had"
    for name in names:
        runs_in_order = [r["run_id"] for r in rows if r["host"] == name]
        blocks = [run for i, run in enumerate(runs_in_order) if i == 0 or runs_in_order[i - 1] != run]
        assert len(blocks) == len(set(blocks)), f"{name}: two runs' writes interleave: {runs_in_order}"
    check_journal_against_lab(state, control, names)
    integrity(state)
    with sqlite3.connect(f"file:{state}?mode=ro", uri=True) as db:
        assert db.execute("SELECT COUNT(*) FROM host_leases").fetchone()[0] == 0
        statuses = dict(db.execute("SELECT id, status FROM runs"))
    assert {statuses[i] for i in ids} == {"completed"}
