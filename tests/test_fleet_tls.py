"""TLS: HTTPS hosts are verified against the CA the inventory names; 'ignore' is per host."""

from __future__ import annotations

import yaml

from test_fleet_apply_e2e import PLAYBOOK, as_json, by_name, portfleet


def test_https_verified_against_the_inventory_ca_and_ignore_is_per_host(lab, tmp_path):
    running = lab(hosts=3, profile="defaults", seed=2, https=True)
    assert running.ca_path is not None and running.ca_path.exists()
    ok = as_json(portfleet("audit", "-i", str(running.inventory), "-p", str(PLAYBOOK), "--format", "json",
                           state=tmp_path / "s.db"))
    assert {h["status"] for h in ok["hosts"]} == {"drift"}

    data = yaml.safe_load(running.inventory.read_text())
    windows = data["all"]["children"]["windows"]
    del windows["vars"]["ansible_winrm_ca_trust_path"]  # no CA: the lab's certificate is not trusted
    names = [h["name"] for h in running.hosts]
    for group in windows["children"].values():
        for name, host_vars in (group.get("hosts") or {}).items():
            if name == names[0]:
                host_vars["ansible_winrm_server_cert_validation"] = "ignore"
    untrusted = tmp_path / "untrusted.yml"
    untrusted.write_text(yaml.safe_dump(data))
    proc = portfleet("audit", "-i", str(untrusted), "-p", str(PLAYBOOK), "--format", "json", state=tmp_path / "s.db")
    assert proc.returncode == 4
    hosts = by_name(as_json(proc))
    assert hosts[names[0]]["status"] == "drift"  # this host only: validation off
    for name in names[1:]:
        assert hosts[name]["status"] == "error"
        assert "TLS certificate not trusted" in hosts[name]["detail"]
    # --ca-bundle trusts the CA for hosts that name none.
    fixed = as_json(portfleet("audit", "-i", str(untrusted), "-p", str(PLAYBOOK), "--format", "json",
                              "--ca-bundle", str(running.ca_path), state=tmp_path / "s.db"))
    assert {h["status"] for h in fixed["hosts"]} == {"drift"}


def test_basic_over_plain_http_is_refused_unless_the_inventory_allows_it(lab, tmp_path):
    running = lab(hosts=2, profile="defaults", seed=2, allow_unencrypted=True, allow_basic=True)
    data = yaml.safe_load(running.inventory.read_text())
    data["all"]["children"]["windows"]["vars"]["ansible_winrm_transport"] = "basic"
    basic = tmp_path / "basic.yml"
    basic.write_text(yaml.safe_dump(data))
    refused = portfleet("audit", "-i", str(basic), "-p", str(PLAYBOOK), "--format", "json", state=tmp_path / "s.db")
    assert refused.returncode == 4
    for host in as_json(refused)["hosts"]:
        assert host["status"] == "error" and "password unencrypted" in host["detail"]
    data["all"]["children"]["windows"]["vars"]["portfleet_allow_unencrypted"] = True
    basic.write_text(yaml.safe_dump(data))
    allowed = as_json(portfleet("audit", "-i", str(basic), "-p", str(PLAYBOOK), "--format", "json", state=tmp_path / "s.db"))
    assert {h["status"] for h in allowed["hosts"]} == {"drift"}
