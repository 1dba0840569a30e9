"""A sliced diagnose: each shard's run is recorded, `runs list --job` sums the verdicts of its shards,
and the next run fits each host's trend over the samples earlier runs took of it, whichever shard
took them (a new split puts hosts in other shards; their history follows them). Real lab, real
SQLite; the history read back is untrusted: a damaged sample is left out, not a traceback."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path


def diagnose(inventory: Path, state: Path, *args: str) -> dict:
    env = dict(os.environ, PORTFLEET_STATE=str(state))
    env.pop("CI", None)
    env.pop("PORTFLEET_JOB", None)
    proc = subprocess.run([sys.executable, "-m", "portfleet", "diagnose", "-i", str(inventory), "--days", "0",
                           "--format", "json", *args], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode in (0, 3, 4), proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    return {"document": json.loads(proc.stdout) if proc.stdout.strip() else None, "stderr": proc.stderr,
            "code": proc.returncode}


def test_shards_are_recorded_and_the_next_split_gets_each_hosts_trend_from_them(lab, tmp_path):
    running = lab(hosts=5, profile="defaults", seed=61)
    state = tmp_path / "state.db"
    names = sorted(h["name"] for h in running.hosts)
    first = {k: diagnose(running.inventory, state, "--shard", f"{k}/2", "--job", "ports-08h")["document"]
             for k in (1, 2)}
    sampled = {h["name"]: h["sampled_at"] for doc in first.values() for h in doc["hosts"]}
    assert sorted(sampled) == names and all(h["trend"] is None for d in first.values() for h in d["hosts"])

    env = dict(os.environ, PORTFLEET_STATE=str(state))
    env.pop("CI", None)
    listed = json.loads(subprocess.run([sys.executable, "-m", "portfleet", "runs", "list", "--job", "ports-08h",
                                        "--format", "json"], capture_output=True, text=True, env=env,
                                       timeout=120).stdout)
    (kind,) = listed["job"]["kinds"]
    assert (kind["kind"], kind["shards"], kind["missing"]) == ("diagnose", ["1/2", "2/2"], [])
    assert kind["summary"]["hosts"] == len(names)
    assert sum(kind["summary"].get(v, 0) for v in ("healthy", "at_risk", "exhausted", "unknown")) == len(names)

    # A new job, split in three: names[0::3] holds hosts the first job's shard 2/2 saw.
    later = diagnose(running.inventory, state, "--shard", "1/3", "--job", "ports-09h")["document"]
    assert {h["name"] for h in later["hosts"]} == set(names[0::3])
    assert set(names[0::3]) & set(names[1::2])
    for h in later["hosts"]:
        samples = h["trend"]["samples"]
        assert len(samples) == 2, h["trend"]
        assert samples[0]["at"] == sampled[h["name"]] and samples[1]["at"] == h["sampled_at"]
        assert h["trend"]["slope_per_min"] is not None

    # A damaged sample in the store is left out of the history: no trend for that host, no failure.
    victim = names[0]
    with sqlite3.connect(state) as db:
        db.execute("UPDATE host_results SET facts = ? WHERE host = ?", (json.dumps({"in_use": "many"}), victim))
    again = diagnose(running.inventory, state, "-l", victim)["document"]
    (host,) = again["hosts"]
    assert host["trend"] is None
