"""--procs N: the fan-out over forked worker processes reports exactly what threads report, keeps the run's one
writer, and stops on SIGINT/SIGTERM with every write journaled (checked against the lab's own state)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import psutil
import pytest

from run_checks import journal_count, start_apply, wait_for
from test_fleet_apply_e2e import PLAYBOOK, as_json, portfleet, snapshot

TUNED = {"start": 10000, "num": 55536}


def _comparable(report: dict) -> list[dict]:
    """A report without what differs between two labs of the same fleet: addresses, boot facts, run ids."""
    hosts = []
    for h in report["hosts"]:
        hosts.append({
            "name": h["name"], "status": h["status"], "detail": h["detail"],
            "settings": [{k: s.get(k) for k in ("key", "desired", "actual", "status")} for s in h["settings"]],
            "changes": [{k: c.get(k) for k in ("key", "before", "after", "command", "state")} for c in h["changes"]],
        })
    return sorted(hosts, key=lambda h: h["name"])


def _journal(state) -> list[tuple]:
    with sqlite3.connect(state) as db:
        return sorted(db.execute("SELECT host, setting, prior, desired, command, state FROM journal").fetchall())


def test_procs_2_audit_and_apply_report_what_procs_1_reports(lab, tmp_path):
    one, two = lab(hosts=12, profile="mixed", seed=21), lab(hosts=12, profile="mixed", seed=21)
    states = {1: tmp_path / "one.db", 2: tmp_path / "two.db"}
    labs = {1: one, 2: two}

    def run(procs: int, *args: str) -> dict:
        proc = portfleet(*args, "-i", str(labs[procs].inventory), "-p", str(PLAYBOOK), "--format", "json",
                         "--procs", str(procs), "--forks", "4", state=states[procs])
        assert proc.returncode in (0, 3), proc.stderr
        return as_json(proc)

    for step in (("audit",), ("apply", "--yes"), ("audit",)):
        first, second = run(1, *step), run(2, *step)
        assert _comparable(first) == _comparable(second), step
        assert first["summary"] == second["summary"]
        assert len({h["name"] for h in second["hosts"]}) == len(second["hosts"]) == 12
    assert _journal(states[1]) == _journal(states[2])
    assert any(row[5] == "verified" for row in _journal(states[2]))
    with sqlite3.connect(states[2]) as db:
        # One host_results row per host per run, leases all given back.
        per_run = db.execute("SELECT run_id, COUNT(*), COUNT(DISTINCT host) FROM host_results GROUP BY run_id").fetchall()
        assert [(n, d) for _, n, d in per_run] == [(12, 12)] * 3
        assert db.execute("SELECT COUNT(*) FROM host_leases").fetchone()[0] == 0
        pids = {r[0] for r in db.execute("SELECT controller_pid FROM runs")}
    assert len(pids) == 3  # each run names its own (main) process as controller


_MECHANISM = textwrap.dedent("""
    import json, os, signal, sys, time
    from portfleet.worker_processes import WorkerProcesses

    class Refused(Exception):
        def __init__(self, host, holder):  # a constructor that is not (message,): as state.LeaseLost
            super().__init__(f"{host} held by {holder}")
            self.holder = holder

    class Writer:  # stands for the Store: its methods must run in this, the main, process
        def __init__(self):
            self.calls = []
        def note(self, item):
            self.calls.append(item)
            if item == 3:
                raise Refused(f"h{item}", "run-x")
            return os.getpid()

    writer = Writer()
    items = list(range(8))

    def work(item):
        if item == 7:
            os.kill(os.getpid(), signal.SIGKILL)  # a worker that dies while holding item 7
        try:
            who = writer.note(item)
        except Refused as exc:
            who = f"refused {exc} holder={exc.holder}"
        return {"item": item, "worker": os.getpid(), "writer": who}

    pool = WorkerProcesses(items, work, procs=2, forks=4, shared=[writer],
                           on_lost=lambda item, why: {"item": item, "lost": why})
    assert pool.start(), pool.refused
    pending = items[:7]
    while pending or pool.in_flight():
        while pending and pool.submit(pending[0]):
            pending.pop(0)
        pool.wait(0.5)
    assert pool.submit(7)  # alone in flight: only it is lost when its worker dies
    while pool.in_flight():
        pool.wait(0.5)
    pool.close()
    print(json.dumps({"parent": os.getpid(), "results": [r for _, r in pool.completed_since(0)],
                      "calls": sorted(writer.calls)}))
""")


def test_worker_processes_fork_once_and_keep_one_writer(tmp_path):
    proc = subprocess.run([sys.executable, "-c", _MECHANISM], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    results = {r["item"]: r for r in doc["results"]}
    assert sorted(results) == list(range(8)) and len(doc["results"]) == 8  # each item once, none lost
    done = [r for r in results.values() if "lost" not in r]
    workers = {r["worker"] for r in done}
    assert len(workers) == 2 and doc["parent"] not in workers
    assert all(r["writer"] == doc["parent"] for r in done if r["item"] != 3)  # the writes ran in the main process
    assert results[3]["writer"] == "refused h3 held by run-x holder=run-x"  # the exception crossed intact
    assert "worker process" in results[7]["lost"] and "exit -9" in results[7]["lost"]
    assert doc["calls"] == list(range(7))  # item 7's worker died before writing: nothing recorded twice




@pytest.mark.parametrize("signum, code, name", [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")])
def test_a_signal_during_a_procs_2_apply_leaves_every_write_journaled(lab, tmp_path, signum, code, name):
    running = lab(hosts=10, profile="defaults", seed=8)
    control = running.control()
    names = [h["name"] for h in running.hosts]
    for host in names:
        control.set_faults(host, slow_seconds=0.4)  # every command takes a while: the run is long enough to cut
    state = tmp_path / "state.db"
    proc = start_apply(running.inventory, PLAYBOOK, state, "--procs", "2", "--forks", "4", "--batch", "100%",
                       start_new_session=True)
    assert wait_for(lambda: journal_count(state) > 0, proc, what="the first journaled write"), proc.communicate()
    workers = psutil.Process(proc.pid).children()
    assert len(workers) == 2
    if signum == signal.SIGINT:
        os.killpg(proc.pid, signum)  # as a terminal's Ctrl-C: the whole process group
    else:
        proc.send_signal(signum)  # as a scheduler stopping the job: the main process only
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    report = json.loads(out)
    assert report["stopped_reason"] == f"interrupted ({name})"
    assert report["skipped"], "hosts not started must be listed as skipped"
    reported = [h["name"] for h in report["hosts"]]
    assert len(reported) == len(set(reported)) and not set(reported) & set(report["skipped"])
    assert set(reported) | set(report["skipped"]) == set(names)  # no host lost, none twice
    psutil.wait_procs(workers, timeout=10)
    assert not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]

    runs = as_json(portfleet("runs", "list", "--format", "json", state=state))["runs"]
    shown = as_json(portfleet("runs", "show", runs[0]["id"], "--format", "json", state=state))
    assert shown["run"]["status"] == "interrupted"
    finished = {h["host"] for h in shown["hosts"]}
    written = {j["host"] for j in shown["journal"]}
    assert finished == set(reported)
    assert written and written <= finished, "every in-flight host finished its bookkeeping before exit"
    assert all(j["state"] == "verified" for j in shown["journal"])
    assert shown["leases"] == []
    for host in names:
        # Exactly the hosts the journal says were written hold the new range; the others were never touched.
        assert (snapshot(control, host)["ranges"]["ipv4 tcp"] == TUNED) == (host in written), host
