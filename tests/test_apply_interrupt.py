"""Ctrl-C in the middle of an apply: in-flight hosts finish their bookkeeping, nothing is lost."""

from __future__ import annotations

import json
import signal

from run_checks import journal_count, start_apply, wait_for
from test_fleet_apply_e2e import PLAYBOOK, as_json, portfleet, snapshot

TUNED = {"start": 10000, "num": 55536}




def test_ctrl_c_mid_apply_keeps_a_complete_record(lab, tmp_path):
    running = lab(hosts=8, profile="defaults", seed=5)
    control = running.control()
    names = [h["name"] for h in running.hosts]
    for name in names:
        control.set_faults(name, slow_seconds=0.4)  # every command takes a while: the run is long enough to cut
    state = tmp_path / "state.db"
    proc = start_apply(running.inventory, PLAYBOOK, state, "--forks", "2", "--batch", "100%")
    assert wait_for(lambda: journal_count(state) > 0, proc, what="the first journaled write"), proc.communicate()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    report = json.loads(out)
    assert report["stopped_reason"] == "interrupted (Ctrl-C)"
    assert report["skipped"], "hosts not started must be listed as skipped"

    runs = as_json(portfleet("runs", "list", "--format", "json", state=state))["runs"]
    shown = as_json(portfleet("runs", "show", runs[0]["id"], "--format", "json", state=state))
    assert shown["run"]["status"] == "interrupted"
    finished = {h["host"] for h in shown["hosts"]}
    written = {j["host"] for j in shown["journal"]}
    assert written <= finished, "an in-flight host finished its bookkeeping before exit"
    assert all(j["state"] == "verified" for j in shown["journal"])
    for name in names:
        ranges = snapshot(control, name)["ranges"]["ipv4 tcp"]
        # Exactly the hosts recorded as written were changed; the others were never touched.
        assert (ranges == TUNED) == (name in written), name
    assert set(report["skipped"]) == set(names) - finished


def test_a_killed_apply_is_told_by_runs_show_and_rolled_back(lab, tmp_path):
    running = lab(hosts=6, profile="defaults", seed=6)
    control = running.control()
    names = [h["name"] for h in running.hosts]
    before = {n: snapshot(control, n) for n in names}
    for name in names:
        control.set_faults(name, slow_seconds=0.4)
    state = tmp_path / "state.db"
    proc = start_apply(running.inventory, PLAYBOOK, state, "--forks", "2", "--batch", "100%")
    assert wait_for(lambda: journal_count(state) > 0, proc, what="the first journaled write"), proc.communicate()
    proc.kill()  # a crash: no cleanup, no bookkeeping
    proc.wait()

    runs = as_json(portfleet("runs", "list", "--format", "json", state=state))["runs"]
    run_id = runs[0]["id"]
    assert runs[0]["status"] == "abandoned" and runs[0]["controller_pid"] == proc.pid
    text = portfleet("runs", "show", run_id, state=state).stdout
    assert "status abandoned" in text and f"pid {proc.pid}) is gone" in text
    shown = as_json(portfleet("runs", "show", run_id, "--format", "json", state=state))
    assert shown["run"]["status"] == "abandoned"
    touched = {j["host"] for j in shown["journal"]}
    assert touched
    # The killed run still holds the leases of the hosts it was working on; they are dead.
    assert shown["leases"] and all(not lease["live"] for lease in shown["leases"])
    assert touched <= {lease["host"] for lease in shown["leases"]} | {h["host"] for h in shown["hosts"]}
    for name in names:
        control.set_faults(name, slow_seconds=0)
    # Every journaled write, finished or cut off, is undone by the rollback, which recovers the leases.
    rolled = portfleet("rollback", run_id, "--yes", "--format", "json", state=state)
    assert rolled.returncode in (0, 3), rolled.stderr
    assert not [h for h in as_json(rolled)["hosts"] if h["status"] == "locked"]
    for name in names:
        assert snapshot(control, name)["ranges"] == before[name]["ranges"], name
        assert snapshot(control, name)["TcpTimedWaitDelay"] == before[name]["TcpTimedWaitDelay"], name
    after = as_json(portfleet("runs", "show", run_id, "--format", "json", state=state))
    assert after["leases"] == []
