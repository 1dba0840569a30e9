"""SIGINT, SIGTERM and SIGHUP during `portfleet apply` (and `rollback`): each stops new hosts, lets the
hosts in flight finish their bookkeeping, closes the run as interrupted and exits 130/143/129.

Checked as a user sees it: the exit code, the JSON report, `runs show`, and the lab hosts (from the
lab's side): every write that reached a host is journaled with its outcome (no `intent` left), every
host written has its result, the hosts not started are listed as skipped and were not touched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from run_checks import (
    check_journal_against_lab, integrity, journal_count, lab_values, playbook, start_apply, wait_for,
)

SIGNALS = [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM"), (signal.SIGHUP, 129, "SIGHUP")]


@pytest.fixture(scope="module")
def fleet(module_lab):
    running = module_lab(hosts=6, profile="defaults", seed=9)
    control = running.control()
    for host in running.hosts:
        control.set_faults(host["name"], slow_seconds=0.3)  # a run long enough to cut
    return running


def runs_show(state, *args: str) -> dict:
    env = dict(os.environ, PORTFLEET_STATE=str(state))
    proc = subprocess.run([sys.executable, "-m", "portfleet", "runs", *args, "--format", "json"], capture_output=True,
                          text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("signum, code, name", SIGNALS, ids=[s[2] for s in SIGNALS])
def test_a_signal_mid_apply_closes_the_run_as_interrupted_with_every_write_journaled(fleet, tmp_path, signum, code,
                                                                                      name):
    control = fleet.control()
    names = [h["name"] for h in fleet.hosts]
    # Each signal's run wants other values than the lab holds after the previous one: it has writes to make.
    index = [s[0] for s in SIGNALS].index(signum)
    book = playbook(tmp_path / "pb.yml", 30 + 10 * index, 10000 + 1000 * index)
    state = tmp_path / "state.db"
    proc = start_apply(fleet.inventory, book, state, "--forks", "2", "--batch", "100%")
    assert wait_for(lambda: journal_count(state) > 0, proc, what="the first journaled write"), proc.communicate()
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    report = json.loads(out)
    assert report["stopped_reason"] == f"interrupted ({name})"
    assert report["skipped"], "hosts not started are listed as skipped"

    run_id = runs_show(state, "list")["runs"][0]["id"]
    shown = runs_show(state, "show", run_id)
    assert shown["run"]["status"] == "interrupted" and shown["leases"] == []
    finished = {h["host"] for h in shown["hosts"]}
    written = {j["host"] for j in shown["journal"]}
    assert written and written <= finished, "an in-flight host finished its bookkeeping before the exit"
    assert {j["state"] for j in shown["journal"]} == {"verified"}, "no write left as intent"
    assert set(report["skipped"]) == set(names) - finished
    integrity(state)
    check_journal_against_lab(state, control, names)  # exactly the journaled writes happened


def test_sigterm_mid_rollback_is_interrupted_too_and_a_second_rollback_finishes_it(fleet, tmp_path):
    control = fleet.control()
    names = [h["name"] for h in fleet.hosts]
    state = tmp_path / "state.db"
    before = {n: lab_values(control, n) for n in names}
    applied = start_apply(fleet.inventory, playbook(tmp_path / "pb.yml", 200, 30000), state, "--forks", "6")
    out, err = applied.communicate(timeout=120)
    assert applied.returncode in (0, 3), err
    run_id = json.loads(out)["run_id"]
    env = dict(os.environ, PORTFLEET_STATE=str(state))
    env.pop("CI", None)
    base = journal_count(state)
    proc = subprocess.Popen([sys.executable, "-m", "portfleet", "rollback", run_id, "--yes", "--forks", "1",
                             "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert wait_for(lambda: journal_count(state) > base, proc, what="the rollback's first write"), proc.communicate()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert json.loads(out)["stopped_reason"] == "interrupted (SIGTERM)"
    check_journal_against_lab(state, control, names)
    again = subprocess.run([sys.executable, "-m", "portfleet", "rollback", run_id, "--yes", "--format", "json"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode in (0, 3), again.stderr
    check_journal_against_lab(state, control, names)
    integrity(state)
    assert {n: lab_values(control, n) for n in names} == before  # what the cut rollback left, the second put back
