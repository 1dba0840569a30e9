"""Host leases end to end: concurrent applies against one lab never write a host twice, the loser
reports `locked` naming the holder, a live run cannot be rolled back; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter

import pytest
from test_fleet_apply_e2e import PLAYBOOK, TUNED, as_json, snapshot

from portfleet.state import Store

APPLY = [sys.executable, "-m", "portfleet", "apply", "-p", str(PLAYBOOK), "--yes", "--batch", "100%", "--format", "json"]


@pytest.fixture(params=["sqlite", "postgresql"])
def state(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    return request.getfixturevalue("pg_database").url


def _env(state: str) -> dict[str, str]:
    env = dict(os.environ, PORTFLEET_STATE=state)
    env.pop("CI", None)
    return env


def _start(running, state: str, forks: int) -> subprocess.Popen[str]:
    return subprocess.Popen([*APPLY, "-i", str(running.inventory), "--forks", str(forks)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(state))


def _portfleet(state: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portfleet", *args], capture_output=True, text=True, env=_env(state),
                          timeout=300)


def _wait(condition, what: str, proc: subprocess.Popen[str], timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert proc.poll() is None, f"the run ended before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _leases(state: str) -> list:
    try:
        with Store(state, read_only=True) as store:
            return store.leases()
    except Exception:  # noqa: BLE001 - not created yet
        return []


def _journal_per_host_setting(state: str) -> Counter:
    with Store(state, read_only=True) as store:
        return Counter((j.host, j.setting) for r in store.list_runs() for j in store.journal(r.id))


def test_a_second_apply_skips_the_hosts_the_first_holds_as_locked(lab, state):
    running = lab(hosts=4, profile="defaults", seed=11)
    control = running.control()
    names = [h["name"] for h in running.hosts]
    for name in names:
        # Every command takes 1.5 s: the first run holds its hosts for many seconds, far longer
        # than the second needs to start, even on a loaded machine.
        control.set_faults(name, slow_seconds=1.5)
    first = _start(running, state, forks=len(names))
    held = _wait(lambda: len(_leases(state)) == len(names) and _leases(state), "the first run's leases", first)
    holder_run = held[0].run_id
    second = subprocess.run([*APPLY, "-i", str(running.inventory)], capture_output=True, text=True, env=_env(state),
                            timeout=300)
    assert first.poll() is None, "the first run ended before the second was done: nothing overlapped"
    out, err = first.communicate(timeout=300)
    assert first.returncode in (0, 3), err
    assert second.returncode == 4, second.stderr  # locked hosts did not get their change: failed
    loser = json.loads(second.stdout)
    assert {h["name"]: h["status"] for h in loser["hosts"]} == {n: "locked" for n in names}
    for h in loser["hosts"]:
        assert f"run {holder_run}" in h["detail"] and f"pid {first.pid}" in h["detail"], h["detail"]
        assert h["changes"] == [] and h["facts"] is None  # not contacted
    assert loser["summary"]["locked"] == len(names)
    winner = json.loads(out)
    assert winner["run_id"] == holder_run and not [h for h in winner["hosts"] if h["status"] == "locked"]
    assert set(_journal_per_host_setting(state).values()) == {1}
    assert {h for h, _ in _journal_per_host_setting(state)} == set(names)
    for name in names:
        assert snapshot(control, name)["ranges"]["ipv4 tcp"] == TUNED
    assert _leases(state) == []  # all given back


def test_two_applies_racing_host_by_host_write_each_setting_once(lab, state):
    running = lab(hosts=6, profile="defaults", seed=12)
    control = running.control()
    names = [h["name"] for h in running.hosts]
    for name in names:
        control.set_faults(name, slow_seconds=0.2)
    runs = [_start(running, state, forks=2), _start(running, state, forks=2)]
    reports = []
    for proc in runs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode in (0, 3, 4), err
        reports.append(json.loads(out))
    counts = _journal_per_host_setting(state)
    assert set(counts.values()) == {1}, counts  # never a host's setting written twice
    assert {h for h, _ in counts} == set(names)  # and every drifting host written once
    by_id = {r["run_id"]: proc for r, proc in zip(reports, runs)}
    for report in reports:
        other = next(i for i in by_id if i != report["run_id"])
        for h in report["hosts"]:
            if h["status"] == "locked":
                assert f"run {other}" in h["detail"] and f"pid {by_id[other].pid}" in h["detail"]
    for name in names:
        assert snapshot(control, name)["ranges"]["ipv4 tcp"] == TUNED
    assert _leases(state) == []


def test_rollback_of_a_run_still_in_progress_is_refused(lab, state):
    running = lab(hosts=3, profile="defaults", seed=13)
    control = running.control()
    names = [h["name"] for h in running.hosts]
    for name in names:
        control.set_faults(name, slow_seconds=0.4)
    proc = _start(running, state, forks=1)

    def first_write():
        try:
            with Store(state, read_only=True) as store:
                found = [r for r in store.list_runs() if store.journal(r.id)]
                return found[0].id if found else None
        except Exception:  # noqa: BLE001 - not created yet
            return None

    run_id = _wait(first_write, "the first journaled write", proc)
    refused = _portfleet(state, "rollback", run_id, "--yes")
    assert refused.returncode == 2, (refused.stdout, refused.stderr)
    assert f"run {run_id} is still in progress" in refused.stderr and f"pid {proc.pid}" in refused.stderr
    assert "Traceback" not in refused.stderr
    out, err = proc.communicate(timeout=300)
    assert proc.returncode in (0, 3), err
    for name in names:
        control.set_faults(name, slow_seconds=0)
    rolled = _portfleet(state, "rollback", run_id, "--yes", "--format", "json")
    assert rolled.returncode in (0, 3), rolled.stderr
    assert {h["status"] for h in as_json(rolled)["hosts"]} <= {"compliant", "pending_reboot"}
