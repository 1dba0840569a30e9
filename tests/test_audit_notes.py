"""Audit explains the MaxUserPort trap on modern hosts (DESIGN "Windows facts")."""

from test_fleet_apply_e2e import as_json, by_name, portfleet


def test_modern_host_with_maxuserport_is_told_why_its_range_comes_back(lab, tmp_path):
    running = lab(hosts=10, profile="mixed", seed=7)
    playbook = tmp_path / "ranges-only.yml"
    playbook.write_text(
        "- name: ranges only\n  hosts: windows:!legacy\n  settings:\n"
        "    dynamicport: {ipv4: {tcp: {start: 10000, num: 55536}}}\n"
    )
    hosts = by_name(as_json(portfleet("audit", "-i", str(running.inventory), "-p", str(playbook), "--format", "json",
                                      state=tmp_path / "s.db")))
    control = running.control()
    for name, host in hosts.items():
        params = control.host(name)["registry"]["HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters"]
        if "MaxUserPort" in params:
            value = params["MaxUserPort"][1]
            assert f"MaxUserPort={value} is set: at every boot Windows resets the TCP range to 1024-{value}" in host["detail"]
        else:
            assert "MaxUserPort" not in host["detail"]
    assert any("MaxUserPort=" in h["detail"] for h in hosts.values()), "the mixed profile has such a host"


def test_apply_check_carries_the_same_note(lab, tmp_path):
    running = lab(hosts=10, profile="mixed", seed=7)
    playbook = tmp_path / "ranges-only.yml"
    playbook.write_text(
        "- name: ranges only\n  hosts: windows:!legacy\n  settings:\n"
        "    dynamicport: {ipv4: {tcp: {start: 10000, num: 55536}}}\n"
    )
    hosts = by_name(as_json(portfleet("apply", "-i", str(running.inventory), "-p", str(playbook), "--check",
                                      "--format", "json", state=tmp_path / "s.db")))
    noted = [n for n, h in hosts.items() if "MaxUserPort=" in h["detail"]]
    assert noted, "the mixed profile has a modern host with MaxUserPort set"
    for name in noted:
        assert "at every boot Windows resets the TCP range to 1024-" in hosts[name]["detail"]
