"""audit -> apply -> audit -> rollback over real WinRM (NTLM + encryption) to a real lab process.

Every command runs as a user runs it (`python -m portfleet ...` in a subprocess) and the lab hosts
are checked from the lab's side (its control API), not through portfleet's own parsers.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from portfleet.resources import playbooks_dir

PLAYBOOK = playbooks_dir() / "port-exhaustion.yml"
TUNED = {"start": 10000, "num": 55536}


def portfleet(*args: str, state: Path, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ, PORTFLEET_STATE=str(state), **(env or {}))
    full_env.pop("CI", None)
    return subprocess.run(
        [sys.executable, "-m", "portfleet", *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=stdin,
        timeout=300,
    )


def as_json(proc: subprocess.CompletedProcess[str]) -> dict:
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"not JSON (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}") from None


def snapshot(control, name: str) -> dict:
    """What a host holds that a write could change: the Tcpip registry values and the ranges."""
    h = control.host(name)
    params = h["registry"]["HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters"]
    return {
        "MaxUserPort": params.get("MaxUserPort"),
        "TcpTimedWaitDelay": params.get("TcpTimedWaitDelay"),
        "ranges": h["ranges"],
        "ranges_persistent": h["ranges_persistent"],
    }


@pytest.fixture(scope="module")
def fleet(module_lab):
    return module_lab(hosts=10, profile="mixed", seed=7)


def by_name(report: dict) -> dict[str, dict]:
    return {h["name"]: h for h in report["hosts"]}


def test_drift_apply_verify_rollback_cycle(fleet, tmp_path):
    state = tmp_path / "state.db"
    control = fleet.control()
    names = [h["name"] for h in fleet.hosts]
    before = {n: snapshot(control, n) for n in names}

    audit = portfleet("audit", "-i", str(fleet.inventory), "-p", str(PLAYBOOK), "--format", "json", state=state)
    assert audit.returncode == 3, audit.stderr
    report = as_json(audit)
    hosts = by_name(report)
    drifted = sorted(n for n, h in hosts.items() if h["status"] == "drift")
    assert drifted, "the mixed lab profile must have drifted hosts"
    assert report["summary"]["drift"] == len(drifted)
    # The Windows Server 2003 host has no dynamicport command: unsupported, not drift.
    legacy = hosts["legacy-01"]
    assert {s["key"]: s["status"] for s in legacy["settings"]}.get("MaxUserPort") == "drift"
    assert legacy["facts"]["os_version"].startswith("5.2")

    applied = portfleet("apply", "-i", str(fleet.inventory), "-p", str(PLAYBOOK), "--yes", "--format", "json", state=state)
    result = as_json(applied)
    assert applied.returncode == 3, applied.stderr  # reboot-needing values are pending
    run_id = result["run_id"]
    reboot_keys = {"MaxUserPort", "TcpTimedWaitDelay"}
    for name in drifted:
        host = by_name(result)[name]
        assert host["changes"] and all(c["state"] == "verified" for c in host["changes"])
        # netsh ranges apply at once; registry values wait for a reboot (DESIGN "Windows facts").
        expected = "pending_reboot" if {c["key"] for c in host["changes"]} & reboot_keys else "compliant"
        assert host["status"] == expected, host
    # Nothing was written to hosts that were already compliant.
    for name, h in by_name(result).items():
        if name not in drifted:
            assert h["changes"] == [] and snapshot(control, name) == before[name]

    # The lab hosts really hold the new values (seen from the lab side).
    for name in drifted:
        now = snapshot(control, name)
        if name == "legacy-01":
            assert now["MaxUserPort"] == ["REG_DWORD", 65534]
        else:
            assert now["ranges"]["ipv4 tcp"] == TUNED and now["ranges_persistent"]["ipv6 tcp"] == TUNED
        assert now["TcpTimedWaitDelay"] == ["REG_DWORD", 30]
    assert any(by_name(result)[n]["status"] == "pending_reboot" for n in drifted)

    again = as_json(portfleet("audit", "-i", str(fleet.inventory), "-p", str(PLAYBOOK), "--format", "json", state=state))
    assert again["summary"]["drift"] == 0
    assert {n: h["status"] for n, h in by_name(again).items() if n in drifted} == {
        n: h["status"] for n, h in by_name(result).items() if n in drifted
    }

    # runs show tells what the apply wrote, with prior values.
    shown = as_json(portfleet("runs", "show", run_id, "--format", "json", state=state))
    assert shown["run"]["status"] == "completed"
    written = {(j["host"], j["setting"]) for j in shown["journal"]}
    assert ("legacy-01", "MaxUserPort") in written
    assert all(j["state"] == "verified" for j in shown["journal"])

    check = portfleet("rollback", run_id, "--check", "--format", "json", state=state)
    assert as_json(check)["check_mode"] is True
    assert all(snapshot(control, n)["TcpTimedWaitDelay"] == ["REG_DWORD", 30] for n in drifted)

    rolled = portfleet("rollback", run_id, "--yes", "--format", "json", state=state)
    assert rolled.returncode in (3, 4), rolled.stderr
    for name in drifted:
        assert snapshot(control, name)["TcpTimedWaitDelay"] == before[name]["TcpTimedWaitDelay"], name
        if name != "legacy-01":
            # A range that MaxUserPort produced at boot (start 1024) cannot be set back with netsh.
            if before[name]["ranges"]["ipv4 tcp"]["start"] >= 1025:
                assert snapshot(control, name)["ranges"] == before[name]["ranges"], name

    final = as_json(portfleet("audit", "-i", str(fleet.inventory), "-p", str(PLAYBOOK), "--format", "json", state=state))
    assert {n for n, h in by_name(final).items() if h["status"] == "drift"} >= {n for n in drifted if before[n]["TcpTimedWaitDelay"] != ["REG_DWORD", 30]}


def test_check_mode_changes_nothing_and_prints_exact_commands(fleet, tmp_path):
    control = fleet.control()
    names = [h["name"] for h in fleet.hosts]
    before = {n: snapshot(control, n) for n in names}
    proc = portfleet("apply", "-i", str(fleet.inventory), "-p", str(PLAYBOOK), "--check", "--diff", state=tmp_path / "s.db")
    assert proc.returncode in (0, 3), proc.stderr
    assert "Check mode: nothing was changed" in proc.stdout
    after = {n: snapshot(control, n) for n in names}
    assert after == before
    drifting = [n for n, s in before.items() if s["ranges"]["ipv4 tcp"] != TUNED and not n.startswith("legacy")]
    if drifting:
        assert "netsh int ipv4 set dynamicport tcp start=10000 num=55536" in proc.stdout


def test_unreachable_and_wrong_password_hosts_are_reported_while_others_succeed(lab, tmp_path):
    running = lab(hosts=6, profile="defaults", seed=3)
    control = running.control()
    names = [h["name"] for h in running.hosts]
    down, badpw = names[0], names[1]
    control.set_faults(down, unreachable=True)
    control.set_faults(badpw, wrong_password=True)
    proc = portfleet(
        "apply", "-i", str(running.inventory), "-p", str(PLAYBOOK), "--yes", "--max-fail", "100%",
        "--format", "json", state=tmp_path / "s.db",
    )
    assert proc.returncode == 4, proc.stderr
    hosts = by_name(as_json(proc))
    assert hosts[down]["status"] == "unreachable"
    assert hosts[badpw]["status"] == "auth_failed"
    for name in names[2:]:
        assert hosts[name]["status"] == "pending_reboot", hosts[name]
        assert snapshot(control, name)["ranges"]["ipv4 tcp"] == TUNED
    assert running.password not in proc.stdout + proc.stderr


def test_no_secret_in_output_logs_or_state(fleet, tmp_path):
    state = tmp_path / "state.db"
    runs = [
        portfleet("inventory", "list", "-i", str(fleet.inventory), "--format", "json", "--vars", state=state),
        portfleet("inventory", "list", "-i", str(fleet.inventory), state=state),
        portfleet("audit", "-i", str(fleet.inventory), "-p", str(PLAYBOOK), "--format", "json", state=state),
        portfleet("audit", "-i", str(fleet.inventory), "-p", str(PLAYBOOK), "--format", "csv", state=state),
        portfleet("apply", "-i", str(fleet.inventory), "-p", str(PLAYBOOK), "--check", "--diff", state=state),
        portfleet("runs", "list", "--format", "json", state=state),
    ]
    text = "".join(p.stdout + p.stderr for p in runs)
    assert fleet.password not in text
    assert "***" in runs[0].stdout  # the password var is listed, masked
    db = sqlite3.connect(state)
    for table in ("runs", "host_results", "journal"):
        for row in db.execute(f"SELECT * FROM {table}"):
            assert fleet.password not in json.dumps(row, default=str)
    assert fleet.password.encode() not in state.read_bytes()


def test_password_from_environment_and_missing_variable(fleet, tmp_path):
    inventory = tmp_path / "inv.yml"
    text = fleet.inventory.read_text().replace(f"ansible_password: {fleet.password}", "portfleet_password_env: LAB_PW")
    assert "LAB_PW" in text
    inventory.write_text(text)
    ok = portfleet("audit", "-i", str(inventory), "-p", str(PLAYBOOK), "-l", "web-01", "--format", "json",
                   state=tmp_path / "s.db", env={"LAB_PW": fleet.password})
    assert by_name(as_json(ok))["web-01"]["status"] in ("compliant", "drift", "pending_reboot")
    missing = portfleet("audit", "-i", str(inventory), "-p", str(PLAYBOOK), "-l", "web-01", state=tmp_path / "s.db")
    assert missing.returncode == 2
    assert "LAB_PW" in missing.stderr and "is not set" in missing.stderr


@pytest.mark.parametrize(
    "content, needle",
    [
        ("- name: x\n  hosts: windows\n  settings:\n    TcpTimedWaitDelay: 5000\n", "pb.yml:4:"),
        ("- name: x\n  hosts: windows\n  settings:\n    MaxUserPorts: 6000\n", "MaxUserPort"),
        ("- name: x\n  hosts: windows\n  settings: [\n", "pb.yml:"),
    ],
)
def test_bad_playbook_exits_2_with_file_and_line(fleet, tmp_path, content, needle):
    playbook = tmp_path / "pb.yml"
    playbook.write_text(content)
    proc = portfleet("audit", "-i", str(fleet.inventory), "-p", str(playbook), state=tmp_path / "s.db")
    assert proc.returncode == 2
    assert needle in proc.stderr and "error" in proc.stderr
    assert proc.stdout == ""


def test_bad_inventory_exits_2_with_file_and_line(tmp_path):
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[windows]\nweb[05:01]\n")
    proc = portfleet("audit", "-i", str(inventory), "-p", str(PLAYBOOK), state=tmp_path / "s.db")
    assert proc.returncode == 2
    assert "hosts.ini:2:" in proc.stderr and "web[01:05]" in proc.stderr


def test_without_yes_and_without_a_terminal_nothing_changes(fleet, tmp_path):
    control = fleet.control()
    before = {h["name"]: snapshot(control, h["name"]) for h in fleet.hosts}
    proc = portfleet("apply", "-i", str(fleet.inventory), "-p", str(PLAYBOOK), state=tmp_path / "s.db", stdin="y\n")
    assert proc.returncode == 2
    assert "without --yes" in proc.stderr
    assert {h["name"]: snapshot(control, h["name"]) for h in fleet.hosts} == before


@pytest.mark.parametrize("option, value", [("--batch", "abc"), ("--batch", "0"), ("--batch", "150%"), ("--max-fail", "x%")])
def test_bad_rollout_options_exit_2_before_any_host_is_contacted(fleet, tmp_path, option, value):
    state = tmp_path / "s.db"
    proc = portfleet("apply", "-i", str(fleet.inventory), "-p", str(PLAYBOOK), "--check", option, value, state=state)
    assert proc.returncode == 2
    assert f"{option} '{value}'" in proc.stderr and "write a" in proc.stderr
    assert not state.exists() or as_json(portfleet("runs", "list", "--format", "json", state=state))["runs"] == []
