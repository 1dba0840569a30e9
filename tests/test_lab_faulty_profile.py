"""The faulty profile presets one host per fault kind; portfleet reports each and audits the rest."""

from __future__ import annotations

import yaml

from test_fleet_apply_e2e import PLAYBOOK, as_json, by_name, portfleet


def test_faulty_profile_each_fault_as_portfleet_reports_it(lab, tmp_path):
    running = lab(hosts=14, profile="faulty", seed=7)
    control = running.control()
    faults = {h["name"]: h["faults"] for h in control.hosts()}
    kind_of = {}
    for name, f in faults.items():
        set_ = [k for k, v in f.items() if v]
        assert len(set_) <= 1, (name, f)
        if set_:
            kind_of[set_[0]] = name
    assert set(kind_of) == {"unreachable", "wrong_password", "slow_seconds", "reset_mid_command", "http_500"}

    proc = portfleet("audit", "-i", str(running.inventory), "-p", str(PLAYBOOK), "--format", "json",
                     "--timeout", "5", state=tmp_path / "s.db")
    assert proc.returncode == 4
    hosts = by_name(as_json(proc))
    assert hosts[kind_of["unreachable"]]["status"] == "unreachable"
    assert hosts[kind_of["wrong_password"]]["status"] == "auth_failed"
    assert hosts[kind_of["http_500"]]["status"] == "error"
    assert "HTTP 500" in hosts[kind_of["http_500"]]["detail"]
    assert hosts[kind_of["reset_mid_command"]]["status"] == "error"
    assert "dropped in the middle of a command" in hosts[kind_of["reset_mid_command"]]["detail"]
    # Slow is not broken: WinRM keeps the command running across OperationTimeout faults and
    # pywinrm asks again, so the 25 s host is audited like the others...
    assert hosts[kind_of["slow_seconds"]]["status"] in ("compliant", "drift", "pending_reboot")
    healthy = [n for n in hosts if n not in kind_of.values()]
    assert healthy and all(hosts[n]["status"] in ("compliant", "drift", "pending_reboot") for n in healthy)


def test_a_command_past_its_timeout_is_terminated_and_reported(lab, tmp_path):
    running = lab(hosts=3, profile="defaults", seed=7)
    slow = running.hosts[0]["name"]
    running.control().set_faults(slow, slow_seconds=30)
    data = yaml.safe_load(running.inventory.read_text())
    data["all"]["children"]["windows"]["vars"]["portfleet_command_timeout"] = 6
    inventory = tmp_path / "inv.yml"
    inventory.write_text(yaml.safe_dump(data))
    proc = portfleet("audit", "-i", str(inventory), "-p", str(PLAYBOOK), "--format", "json", "--timeout", "2",
                     state=tmp_path / "s.db")
    assert proc.returncode == 4
    hosts = by_name(as_json(proc))
    assert hosts[slow]["status"] == "error"
    assert "command still running after 6s" in hosts[slow]["detail"]
    assert all(hosts[h["name"]]["status"] == "drift" for h in running.hosts[1:])
