"""--shard and --job on every fleet command, through the CLI against a real lab: an empty shard says
so and exits 0 with nothing on stdout, a bad value is exit 2 before any host is contacted, and the
runs a shard records carry its job (from --job or $PORTFLEET_JOB) and K/N."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_fleet_apply_e2e import PLAYBOOK

from portfleet.state import Store


def portfleet(*args: str, state: Path, job: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PORTFLEET_STATE=str(state))
    env.pop("CI", None)
    env.pop("PORTFLEET_JOB", None)
    if job is not None:
        env["PORTFLEET_JOB"] = job
    return subprocess.run([sys.executable, "-m", "portfleet", *args], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.fixture(scope="module")
def fleet(module_lab):
    return module_lab(hosts=3, profile="defaults", seed=71)


COMMANDS = {
    "audit": ["audit", "-p", str(PLAYBOOK)],
    "apply": ["apply", "-p", str(PLAYBOOK), "--yes"],
    "diagnose": ["diagnose", "--days", "0"],
    "reboot plan": ["reboot", "plan", "-p", str(PLAYBOOK), "--ignore-windows"],
    "reboot run": ["reboot", "run", "-p", str(PLAYBOOK), "--now", "--yes"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_shard_past_the_host_count_says_so_and_exits_0(fleet, tmp_path, command):
    proc = portfleet(*COMMANDS[command], "-i", str(fleet.inventory), "--shard", "5/5", "--format", "json",
                     state=tmp_path / "state.db")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert "shard 5/5 selects no host: the selection has 3 host(s)" in proc.stderr
    if (tmp_path / "state.db").exists():
        with Store(tmp_path / "state.db", read_only=True) as store:
            assert store.list_runs() == []  # nothing ran, nothing recorded


BAD = [("--shard", "3/2", "K must be from 1 to N"), ("--shard", "two", "write K/N"),
       ("--job", "no spaces", "use letters, digits")]


# `reboot plan` records no run: it has no --job to label one with.
@pytest.mark.parametrize("command, flag, value, needle", [
    (command, *bad) for command in sorted(COMMANDS) for bad in BAD if not (command == "reboot plan" and bad[0] == "--job")])
def test_bad_values_are_exit_2_before_any_host_is_contacted(fleet, tmp_path, command, flag, value, needle):
    control = fleet.control()
    for h in fleet.hosts:
        control.set_faults(h["name"], unreachable=True)  # contacting one would show
    try:
        proc = portfleet(*COMMANDS[command], "-i", str(fleet.inventory), flag, value, state=tmp_path / "state.db")
    finally:
        for h in fleet.hosts:
            control.set_faults(h["name"], unreachable=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert needle in proc.stderr and "Traceback" not in proc.stderr and "unreachable" not in proc.stdout
    assert not (tmp_path / "state.db").exists()


def test_runs_carry_the_job_from_the_environment_and_the_shard_they_ran(fleet, tmp_path):
    state = tmp_path / "state.db"
    names = sorted(h["name"] for h in fleet.hosts)
    proc = portfleet("audit", "-i", str(fleet.inventory), "-p", str(PLAYBOOK), "--shard", "2/2", "--format", "json",
                     state=state, job="awx-1234")
    assert proc.returncode == 3, proc.stderr
    assert [h["name"] for h in json.loads(proc.stdout)["hosts"]] == names[1::2]
    assert "shard 2/2: 1 of 3 selected host(s)" in proc.stderr
    flag = portfleet("audit", "-i", str(fleet.inventory), "-p", str(PLAYBOOK), "--job", "by-flag", state=state,
                     job="awx-1234")  # the flag wins over the environment
    assert flag.returncode == 3, flag.stderr
    with Store(state, read_only=True) as store:
        assert sorted((r.job, r.shard) for r in store.list_runs()) == [("awx-1234", "2/2"), ("by-flag", None)]
    table = portfleet("runs", "list", "--job", "awx-1234", state=state)
    assert table.returncode == 0 and "awx-1234 2/2" in table.stdout
    assert "1 of 2 shards (missing 1/2)" in " ".join(table.stdout.split())
    shown = portfleet("runs", "show", json.loads(proc.stdout)["run_id"], state=state)
    assert "job awx-1234  shard 2/2" in shown.stdout
