"""Sliced jobs end to end, as a scheduler runs them: shard processes at once against one lab and one
real PostgreSQL server (tests/pg_fixtures.py), then `runs list --job`, `portfleet status`, a shard
killed mid-apply and retried, and the whole job rolled back. Checked from the lab's side too."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

from test_fleet_apply_e2e import PLAYBOOK, TUNED, snapshot

from portfleet.state import Store

PORTFLEET = [sys.executable, "-m", "portfleet"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PORTFLEET_STATE", "PORTFLEET_JOB")}
    env["COLUMNS"] = "200"
    return env


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*PORTFLEET, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())


def portfleet(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PORTFLEET, *args], capture_output=True, text=True, env={**_env(), **(env or {})},
                          timeout=300)


def finish(proc: subprocess.Popen[str], codes: tuple[int, ...] = (0, 3)) -> dict:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode in codes, f"exit {proc.returncode}\n{out}\n{err}"
    return json.loads(out)


def wait_for(condition, what: str, proc: subprocess.Popen[str] | None = None, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if proc is not None:
            assert proc.poll() is None, f"the run ended before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def journal_counts(url: str) -> Counter:
    with Store(url, read_only=True) as store:
        return Counter((j.host, j.setting) for r in store.list_runs(1000) for j in store.journal(r.id))


def test_three_shards_at_once_cover_every_host_once_and_status_shows_which_shard_saw_each(lab, pg_database):
    running = lab(hosts=8, profile="mixed", seed=31)
    names = sorted(h["name"] for h in running.hosts)
    url = pg_database.url
    inventory = str(running.inventory)
    procs = [start("audit", "-i", inventory, "-p", str(PLAYBOOK), "--shard", f"{k}/3", "--job", "nightly-7",
                   "--state", url, "--format", "json") for k in (1, 2, 3)]
    reports = [finish(p, (0, 3, 4)) for p in procs]

    # The split is AWX's: the name-sorted hosts, every third from the k-th; together, each host once.
    seen = [h["name"] for r in reports for h in r["hosts"]]
    assert sorted(seen) == names and len(seen) == len(set(seen))
    for k, report in enumerate(reports, start=1):
        assert sorted(h["name"] for h in report["hosts"]) == names[k - 1::3]

    listed = json.loads(portfleet("runs", "list", "--job", "nightly-7", "--state", url, "--format", "json").stdout)
    assert sorted((r["shard"], r["id"]) for r in listed["runs"]) == sorted(
        (f"{k}/3", r["run_id"]) for k, r in enumerate(reports, start=1))
    assert {r["job"] for r in listed["runs"]} == {"nightly-7"}
    (audits,) = listed["job"]["kinds"]
    assert (audits["kind"], audits["shard_count"], audits["missing"]) == ("audit", 3, [])
    assert audits["summary"]["hosts"] == len(names)

    # status: every host, with the run and shard that saw it, and the status that run found.
    proc = portfleet("status", "-i", inventory, "--state", url, "--format", "json")
    document = json.loads(proc.stdout)
    assert document["schema"] == "portfleet.status/1"
    found = {h["name"]: h for h in document["hosts"]}
    assert sorted(found) == names
    for k, report in enumerate(reports, start=1):
        for h in report["hosts"]:
            seen_by = found[h["name"]]["seen"]
            assert (seen_by["id"], seen_by["shard"], seen_by["job"], seen_by["kind"]) == (
                report["run_id"], f"{k}/3", "nightly-7", "audit")
            assert found[h["name"]]["status"] == h["status"]
    drifting = any(h["status"] == "drift" for h in document["hosts"])
    assert proc.returncode == (3 if drifting else 0), proc.stderr
    assert drifting  # the mixed lab drifts from the playbook: the exit code was put to the test

    # The same at an 80-column terminal: one line per host, host and status whole, nothing wider.
    table = portfleet("status", "-i", inventory, "--state", url, env={"COLUMNS": "80"})
    lines = table.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    for name in names:
        (row,) = [line for line in lines if line.startswith(f"│ {name} ")]
        assert f" {found[name]['status']} " in row
    assert pg_database.server.password not in table.stdout + table.stderr + proc.stdout + proc.stderr


def test_two_applies_of_overlapping_shards_never_write_one_host_twice(lab, pg_database):
    running = lab(hosts=6, profile="defaults", seed=32)
    control = running.control()
    names = sorted(h["name"] for h in running.hosts)
    for name in names:
        control.set_faults(name, slow_seconds=1.0)  # the first run holds its hosts for seconds
    url = pg_database.url
    common = ["-i", str(running.inventory), "-p", str(PLAYBOOK), "--yes", "--batch", "100%", "--forks", "10",
              "--state", url, "--format", "json"]
    half = start("apply", *common, "--shard", "1/2", "--job", "halves")
    # 1/2 takes names[0::2]; 1/3 takes names[0::3]: they share names[0::6].
    overlap = set(names[0::2]) & set(names[0::3])
    assert overlap

    def held():
        try:
            with Store(url, read_only=True) as store:
                return {lease.host for lease in store.leases()} >= set(names[0::2])
        except Exception:  # noqa: BLE001 - not created yet
            return False

    wait_for(held, "the first run's leases", half)
    third = start("apply", *common, "--shard", "1/3", "--job", "thirds")
    late, first = finish(third, (0, 3, 4)), finish(half)
    assert first["hosts"] and not [h for h in first["hosts"] if h["status"] == "locked"]
    statuses = {h["name"]: h for h in late["hosts"]}
    assert {n for n, h in statuses.items() if h["status"] == "locked"} == overlap
    for name in overlap:
        assert f"run {first['run_id']}" in statuses[name]["detail"]
    counts = journal_counts(url)
    assert set(counts.values()) == {1}, counts  # each host/setting written once, whichever shard wrote it
    assert {h for h, _ in counts} == set(names[0::2]) | set(names[0::3])
    for name in set(names[0::2]) | set(names[0::3]):
        assert snapshot(control, name)["ranges"]["ipv4 tcp"] == TUNED
    for name in set(names) - set(names[0::2]) - set(names[0::3]):
        assert snapshot(control, name)["ranges"]["ipv4 tcp"] != TUNED  # no shard of these ran


def test_a_shard_killed_mid_apply_is_recovered_by_its_retry_and_rolled_back_with_its_job(lab, pg_database):
    running = lab(hosts=6, profile="defaults", seed=33)
    control = running.control()
    names = sorted(h["name"] for h in running.hosts)
    before = {n: snapshot(control, n) for n in names}
    url = pg_database.url
    common = ["-i", str(running.inventory), "-p", str(PLAYBOOK), "--yes", "--batch", "100%", "--state", url,
              "--job", "rollout-42", "--format", "json"]
    for k in (1, 3):
        finish(start("apply", *common, "--shard", f"{k}/3"))
    victims = names[1::3]
    for name in victims:
        control.set_faults(name, slow_seconds=1.5)
    doomed = start("apply", *common, "--shard", "2/3", "--forks", "1")

    def written():
        try:
            with Store(url, read_only=True) as store:
                return [r for r in store.list_runs(job="rollout-42") if r.shard == "2/3" and store.journal(r.id)]
        except Exception:  # noqa: BLE001
            return []

    (killed,) = wait_for(written, "the shard's first journaled write", doomed)
    doomed.send_signal(signal.SIGKILL)
    doomed.communicate(timeout=30)
    with Store(url, read_only=True) as store:
        assert store.shown_status(store.get_run(killed.id)) == "abandoned"
        left = store.leases(killed.id)
    assert left and not any(lease.live for lease in left)  # its process is gone: dead leases, not yet recovered

    for name in victims:
        control.set_faults(name, slow_seconds=0)
    retry = finish(start("apply", *common, "--shard", "2/3"))  # the scheduler starts the shard again
    assert sorted(h["name"] for h in retry["hosts"]) == victims
    assert not [h for h in retry["hosts"] if h["status"] == "locked"]  # the dead leases were recovered
    with Store(url, read_only=True) as store:
        assert store.leases() == []
    for name in names:
        assert snapshot(control, name)["ranges"]["ipv4 tcp"] == TUNED

    listed = json.loads(portfleet("runs", "list", "--job", "rollout-42", "--state", url, "--format", "json").stdout)
    assert sorted(r["shard"] for r in listed["runs"]) == ["1/3", "2/3", "2/3", "3/3"]
    assert {r["status"] for r in listed["runs"] if r["id"] == killed.id} == {"abandoned"}

    rolled = portfleet("rollback", "--job", "rollout-42", "--yes", "--state", url, "--format", "json")
    assert rolled.returncode in (0, 3), rolled.stdout + rolled.stderr
    document = json.loads(rolled.stdout)
    assert sorted(h["name"] for h in document["hosts"]) == names
    for name in names:  # the values before the job's first write, the killed shard's hosts included
        assert snapshot(control, name) == before[name], name
    status = json.loads(portfleet("status", "--state", url, "--format", "json").stdout)
    assert {(h["seen"]["kind"], h["seen"]["job"], h["seen"]["id"]) for h in status["hosts"]} == {
        ("rollback", "rollout-42", document["run_id"])}
