"""Transport fixes of issue 12, against real labs: a missing CA bundle is exit 2 before any host is contacted, a
certificate for another name is reported as a name mismatch, and portfleet_command_timeout bounds a command by
its own timeout, not by --timeout."""

from __future__ import annotations

import time

import yaml

from test_fleet_apply_e2e import PLAYBOOK, as_json, by_name, portfleet


def _windows(data: dict) -> dict:
    return data["all"]["children"]["windows"]


def _host_vars(data: dict) -> dict[str, dict]:
    return {name: hv for group in _windows(data)["children"].values() for name, hv in (group.get("hosts") or {}).items()}


def _nobody_logged_on(running) -> bool:
    control = running.control()
    return all(control.endpoint(h["name"])["last_logon"] is None for h in running.hosts)


def test_missing_ca_bundle_is_exit_2_before_any_host_is_contacted(lab, tmp_path):
    running = lab(hosts=2, profile="defaults", seed=2, https=True)
    missing = tmp_path / "no-such-ca.pem"
    flag = portfleet("audit", "-i", str(running.inventory), "-p", str(PLAYBOOK), "--ca-bundle", str(missing),
                     state=tmp_path / "s.db")
    assert flag.returncode == 2, flag.stderr
    assert f"--ca-bundle {missing}: no such file or directory" in flag.stderr
    assert "Traceback" not in flag.stderr

    data = yaml.safe_load(running.inventory.read_text())
    _windows(data)["vars"]["ansible_winrm_ca_trust_path"] = str(missing)
    bad = tmp_path / "bad-ca.yml"
    bad.write_text(yaml.safe_dump(data))
    for command in (["audit", "-p", str(PLAYBOOK)], ["apply", "-p", str(PLAYBOOK), "--yes"], ["diagnose"]):
        proc = portfleet(command[0], "-i", str(bad), *command[1:], state=tmp_path / "s.db")
        assert proc.returncode == 2, (command, proc.stdout, proc.stderr)
        assert f"ansible_winrm_ca_trust_path {missing}: no such file or directory" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert _nobody_logged_on(running)


def test_ca_path_on_a_plain_http_host_is_named_as_not_applying_and_a_missing_one_refused(lab, tmp_path):
    running = lab(hosts=2, profile="defaults", seed=2)  # HTTP only
    data = yaml.safe_load(running.inventory.read_text())
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    _windows(data)["vars"]["ansible_winrm_ca_trust_path"] = str(ca)
    inv = tmp_path / "http-ca.yml"
    inv.write_text(yaml.safe_dump(data))
    proc = portfleet("audit", "-i", str(inv), "-p", str(PLAYBOOK), "--format", "json", state=tmp_path / "s.db")
    assert proc.returncode == 3, proc.stderr  # the hosts are audited as usual (drift at Windows defaults)
    assert "ansible_winrm_ca_trust_path does not apply to" in proc.stderr and "plain HTTP" in proc.stderr
    assert {h["status"] for h in as_json(proc)["hosts"]} == {"drift"}

    ca.unlink()  # the same path, gone: refused although HTTP would not read it
    proc = portfleet("audit", "-i", str(inv), "-p", str(PLAYBOOK), state=tmp_path / "s.db")
    assert proc.returncode == 2 and "no such file or directory" in proc.stderr


def test_certificate_for_another_address_is_reported_as_a_name_mismatch(lab, tmp_path):
    running = lab(hosts=2, profile="defaults", seed=2, https=True)
    data = yaml.safe_load(running.inventory.read_text())
    first, second = running.hosts[0], running.hosts[1]
    # The same host reached as an IPv4-mapped IPv6 address: its certificate (issued by the trusted lab CA, for its
    # name and IPv4 address) does not name that address.
    _host_vars(data)[first["name"]]["ansible_host"] = f"::ffff:{first['address']}"
    inv = tmp_path / "mapped.yml"
    inv.write_text(yaml.safe_dump(data))
    proc = portfleet("audit", "-i", str(inv), "-p", str(PLAYBOOK), "--format", "json", state=tmp_path / "s.db")
    assert proc.returncode == 4
    hosts = by_name(as_json(proc))
    detail = hosts[first["name"]]["detail"]
    assert hosts[first["name"]]["status"] == "error"
    assert "TLS certificate name mismatch" in detail and f"::ffff:{first['address']}" in detail
    assert "ansible_winrm_ca_trust_path" not in detail  # the CA is set and trusted: not the advice to give
    assert hosts[second["name"]]["status"] == "drift"

    # An untrusted issuer says so, and names the CA that was tried.
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_text(running.ca_path.read_text())
    other = lab(hosts=1, profile="defaults", seed=3, https=True)
    data = yaml.safe_load(other.inventory.read_text())
    _windows(data)["vars"]["ansible_winrm_ca_trust_path"] = str(other_ca)  # the first lab's CA
    foreign = tmp_path / "foreign.yml"
    foreign.write_text(yaml.safe_dump(data))
    proc = portfleet("audit", "-i", str(foreign), "-p", str(PLAYBOOK), "--format", "json", state=tmp_path / "s.db")
    detail = as_json(proc)["hosts"][0]["detail"]
    assert "TLS certificate not trusted: untrusted issuer" in detail and str(other_ca) in detail


def test_command_timeout_bounds_the_command_not_the_operation_timeout(lab, tmp_path):
    running = lab(hosts=2, profile="defaults", seed=2)
    slow, quick = running.hosts[0]["name"], running.hosts[1]["name"]
    running.control().set_faults(slow, slow_seconds=60)
    data = yaml.safe_load(running.inventory.read_text())
    _host_vars(data)[slow]["portfleet_command_timeout"] = 2
    inv = tmp_path / "timeout.yml"
    inv.write_text(yaml.safe_dump(data))
    started = time.monotonic()
    proc = portfleet("audit", "-i", str(inv), "-p", str(PLAYBOOK), "--format", "json", "--timeout", "30",
                     state=tmp_path / "s.db")
    took = time.monotonic() - started
    hosts = by_name(as_json(proc))
    assert hosts[slow]["status"] == "error"
    assert "command still running after 2s (portfleet_command_timeout); terminated" in hosts[slow]["detail"]
    assert hosts[quick]["status"] == "drift"
    # Before the fix a Receive waited out its whole 30 s OperationTimeout past the 2 s asked.
    assert took < 20, took
    # The command was terminated and the shell deleted: nothing of the run is left on the host.
    endpoint = running.control().endpoint(slow)
    assert endpoint["commands"] == 0 and endpoint["shells"] == 0
