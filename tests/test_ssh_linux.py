"""Linux hosts over real OpenSSH: audit, apply (--check, --diff), rollback and diagnose against sshd
test hosts in network namespaces (tests/ssh_fixtures.py), checked from inside those namespaces.

Every portfleet command runs as a user runs it (`python -m portfleet ...`); the kernel values are read
with `ip netns exec NS sysctl -n`, the persisted file from /etc/netns/NS/sysctl.d (where the host's
/etc/sysctl.d really is), never through portfleet's own parsers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

from portfleet.parse.sysctl import parse_conf
from portfleet.resources import playbooks_dir
from ssh_fixtures import CONF, as_json, keygen, portfleet

PLAYBOOK = playbooks_dir() / "linux-port-exhaustion.yml"
TUNED = {"net.ipv4.ip_local_port_range": "10000 65535", "net.ipv4.tcp_tw_reuse": "1", "net.ipv4.tcp_fin_timeout": "30"}
RANGE = {"start": 10000, "num": 55536, "end": 65535}


def by_name(report: dict) -> dict[str, dict]:
    return {h["name"]: h for h in report["hosts"]}


def settings_of(host: dict) -> dict[str, dict]:
    return {s["key"]: s for s in host["settings"]}


def as_sysctl(value: object) -> str:
    """A JSON setting value the way `sysctl -n` prints it (whitespace normalized)."""
    if isinstance(value, dict):
        return f"{value['start']} {value['end']}"
    return str(value)


def test_audit_reads_each_namespace_kernel_and_facts(ssh_hosts, tmp_path):
    inventory = ssh_hosts.inventory(tmp_path / "inv.yml")
    proc = portfleet("audit", "-i", str(inventory), "-p", str(PLAYBOOK), "--format", "json", state=tmp_path / "s.db")
    assert proc.returncode == 3, proc.stderr
    hosts = by_name(as_json(proc))
    for h in ssh_hosts.hosts:
        report = hosts[h.name]
        assert report["status"] == "drift", report
        facts = report["facts"]
        # linux-a has no portfleet_platform: `uname -s` over SSH told portfleet it is Linux.
        assert facts["platform"] == "linux"
        assert facts["kernel_release"] == os.uname().release  # namespaces share the kernel
        btime = next(line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
        booted = datetime.fromtimestamp(int(btime.split()[1]), timezone.utc)
        assert datetime.fromisoformat(facts["boot_time"].replace("Z", "+00:00")) == booted
        for key, setting in settings_of(report).items():
            assert as_sysctl(setting["effective"]) == h.sysctl(key), (h.name, key)
            assert setting["needs_reboot"] is False
    # linux-b keeps tcp_fin_timeout 45 in 90-portfleet.conf ('/' form): read as configured, not absent.
    b = settings_of(hosts["linux-b"])
    assert b["net.ipv4.tcp_fin_timeout"]["actual"] == 45
    assert b["net.ipv4.ip_local_port_range"]["actual"] is None  # set in the kernel only, not kept
    assert b["net.ipv4.ip_local_port_range"]["effective"] == {"start": 40000, "num": 10002, "end": 50001}


def test_check_diff_prints_the_scripts_and_changes_nothing(ssh_hosts, tmp_path):
    inventory = ssh_hosts.inventory(tmp_path / "inv.yml")
    before = {h.name: (h.sysctls(), h.conf_path.read_text()) for h in ssh_hosts.hosts}
    proc = portfleet("apply", "-i", str(inventory), "-p", str(PLAYBOOK), "--check", "--diff", state=tmp_path / "s.db")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    out = proc.stdout
    assert "Check mode: nothing was changed" in out
    assert "- net.ipv4.ip_local_port_range: (absent)" in out and "+ net.ipv4.ip_local_port_range: 10000-65535" in out
    assert "sysctl -w \"$k=$v\"" in out and CONF in out
    assert {h.name: (h.sysctls(), h.conf_path.read_text()) for h in ssh_hosts.hosts} == before


def test_apply_verify_then_rollback_inside_the_namespaces(ssh_hosts, tmp_path):
    state = tmp_path / "s.db"
    inventory = ssh_hosts.inventory(tmp_path / "inv.yml")
    a, b = ssh_hosts.host("linux-a"), ssh_hosts.host("linux-b")
    initial = {h.name: h.sysctls() for h in ssh_hosts.hosts}

    apply = portfleet("apply", "-i", str(inventory), "-p", str(PLAYBOOK), "--yes", "--diff", "--format", "json",
                      state=state)
    assert apply.returncode == 0, apply.stdout + apply.stderr  # no reboot needed: compliant at once
    report = as_json(apply)
    run_id = report["run_id"]
    for name, host in by_name(report).items():
        assert host["status"] == "compliant", host
        assert {c["state"] for c in host["changes"]} == {"verified"}
    # b's tw_reuse 0 -> 1, range, fin_timeout 45 -> 30: three writes; a: three as well.
    assert len(by_name(report)["linux-b"]["changes"]) == 3

    for h in ssh_hosts.hosts:
        assert h.sysctls() == TUNED, h.name
        kept = parse_conf(h.conf_path.read_text())
        assert {k: " ".join(v.split()) for k, v in kept.items() if k in TUNED} == TUNED
    # Other keys of the file stay; the kernel's values from before are noted for the rollback.
    a_conf = a.conf_path.read_text()
    assert "net.ipv4.tcp_keepalive_time = 600" in a_conf and "# local tuning, not portfleet's" in a_conf
    assert "# portfleet prior: net.ipv4.ip_local_port_range = 32768 60999" in a_conf
    # b's fin_timeout line was replaced where it was, no prior note (the file already set it).
    assert b.conf_path.read_text().splitlines()[0] == "net.ipv4.tcp_fin_timeout = 30"
    assert "prior: net.ipv4.tcp_fin_timeout" not in b.conf_path.read_text()
    assert not Path(CONF).exists() or Path(CONF).read_text() == ssh_hosts.own_conf_before

    again = portfleet("audit", "-i", str(inventory), "-p", str(PLAYBOOK), "--format", "json", state=state)
    assert again.returncode == 0, again.stdout
    assert as_json(again)["summary"]["compliant"] == 2

    check = portfleet("rollback", run_id, "--check", state=state)
    assert check.returncode == 3, check.stdout + check.stderr
    assert {h.name: h.sysctls() for h in ssh_hosts.hosts} == {h: TUNED for h in initial}

    back = portfleet("rollback", run_id, "--yes", "--format", "json", state=state)
    assert back.returncode == 0, back.stdout + back.stderr
    assert {h.name: h.sysctls() for h in ssh_hosts.hosts} == initial
    # a: the file is byte for byte what it was; b: its one key is back at 45.
    assert a.conf_path.read_text() == a.initial_conf
    assert parse_conf(b.conf_path.read_text()) == {"net.ipv4.tcp_fin_timeout": "45"}

    final = portfleet("audit", "-i", str(inventory), "-p", str(PLAYBOOK), "--format", "json", state=state)
    assert final.returncode == 3
    assert {h["status"] for h in as_json(final)["hosts"]} == {"drift"}


def test_a_value_the_kernel_refuses_is_not_persisted(ssh_hosts, tmp_path):
    # The playbook is checked first, so only a value valid for portfleet but refused by this kernel can
    # reach a host: a range starting below the namespace's ip_unprivileged_port_start.
    a = ssh_hosts.host("linux-a")
    a.ns("sysctl", "-w", "net.ipv4.ip_unprivileged_port_start=20000")
    try:
        playbook = tmp_path / "p.yml"
        playbook.write_text(textwrap.dedent("""\
            - hosts: linux-a
              settings:
                net.ipv4.ip_local_port_range: [10000, 65535]
                net.ipv4.tcp_fin_timeout: 30
            """))
        inventory = ssh_hosts.inventory(tmp_path / "inv.yml")
        proc = portfleet("apply", "-i", str(inventory), "-p", str(playbook), "--yes", "--format", "json",
                         state=tmp_path / "s.db")
        assert proc.returncode == 4, proc.stdout + proc.stderr
        host = by_name(as_json(proc))["linux-a"]
        assert host["status"] == "error"
        change = {c["key"]: c for c in host["changes"]}["net.ipv4.ip_local_port_range"]
        assert change["state"] == "failed" and "Invalid argument" in change["detail"]
        assert a.sysctl("net.ipv4.ip_local_port_range") == "32768 60999"
        assert a.conf_path.read_text() == a.initial_conf  # nothing persisted for a refused value
    finally:
        a.ns("sysctl", "-w", "net.ipv4.ip_unprivileged_port_start=1024")


LEAKY = r"""
import socket, sys
server = socket.socket(); server.bind(("127.0.0.1", 7000)); server.listen(512)
held = []
for _ in range(150):
    c = socket.create_connection(("127.0.0.1", 7000))
    s, _ = server.accept(); s.close()          # the peer closes ...
    held.append(c)                             # ... this process never does: CLOSE_WAIT
print("ready", flush=True)
sys.stdin.read()
"""


def test_diagnose_finds_the_process_that_leaks_ports(ssh_hosts, tmp_path):
    a = ssh_hosts.host("linux-a")
    a.ns("sysctl", "-w", "net.ipv4.ip_local_port_range=40000 40199")  # 200 ports: 150 held is 75%
    leak = subprocess.Popen(["ip", "netns", "exec", a.netns, sys.executable, "-c", LEAKY],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert leak.stdout is not None and leak.stdout.readline().strip() == "ready"
        inventory = ssh_hosts.inventory(tmp_path / "inv.yml")
        proc = portfleet("diagnose", "-i", str(inventory), "-l", "linux-a", "--format", "json", state=tmp_path / "s.db")
        assert proc.returncode == 3, proc.stdout + proc.stderr
        d = by_name(as_json(proc))["linux-a"]
        assert d["verdict"] == "at_risk"
        assert d["netstat"] == "ss -tanp"
        assert d["dynamic_ranges"]["ipv4.tcp"] == {"start": 40000, "num": 200, "end": 40199}
        assert d["tcp_timed_wait_delay"]["effective"] == 60
        main = d["tcp_ranges"][0]
        assert main["in_use"] >= 150 and main["by_state"]["CLOSE_WAIT"] == 150
        assert d["culprit"]["pid"] == leak.pid and d["leak_suspects"] == [leak.pid]
        assert d["culprit"]["by_state"]["CLOSE_WAIT"] == 150
        kinds = {r["kind"]: r for r in d["recommendations"]}
        assert f"(pid {leak.pid}) leaks sockets: 150 CLOSE_WAIT" in kinds["fix_application"]["text"]
        assert kinds["widen_range"]["setting"] == "net.ipv4.ip_local_port_range"
        assert d["events"]["readable"] is False  # no event log on Linux

        table = portfleet("diagnose", "-i", str(inventory), "-l", "linux-a", state=tmp_path / "s.db")
        assert table.returncode == 3
        assert "AT RISK" in table.stdout and "ss -tanp" in table.stdout
    finally:
        leak.stdin.close()  # type: ignore[union-attr]
        leak.wait(10)


def test_changed_and_unknown_host_keys_are_refused_and_nothing_changes(ssh_hosts, tmp_path):
    a = ssh_hosts.host("linux-a")
    before = {h.name: (h.sysctls(), h.conf_path.read_text()) for h in ssh_hosts.hosts}
    # A known_hosts that holds another key for linux-a (a reinstalled host, or someone in between).
    other = " ".join(keygen(tmp_path / "other_host_key").split()[:2])
    changed = tmp_path / "known_hosts_changed"
    changed.write_text(f"{a.address} {other}\n{ssh_hosts.host('linux-b').known_hosts_line()}\n")
    inventory = ssh_hosts.inventory(tmp_path / "changed.yml", known_hosts=changed)
    proc = portfleet("apply", "-i", str(inventory), "-p", str(PLAYBOOK), "--yes", "--format", "json",
                     state=tmp_path / "s.db")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    hosts = by_name(as_json(proc))
    refused = hosts["linux-a"]
    assert refused["status"] == "unreachable" and refused["changes"] == []
    fingerprint = subprocess.run(["ssh-keygen", "-l", "-f", str(a.workdir / "ssh_host_ed25519_key.pub")],
                                 capture_output=True, text=True, check=True).stdout.split()[1]
    old = subprocess.run(["ssh-keygen", "-l", "-f", str(tmp_path / "other_host_key.pub")],
                         capture_output=True, text=True, check=True).stdout.split()[1]
    detail = refused["detail"]
    assert "host key CHANGED" in detail and fingerprint in detail and old in detail
    assert str(changed) in detail and f"ssh-keygen -R '{a.address}'" in detail
    # The playbook's rollout (batches of 25%, stop above 10% failed) stops before linux-b starts.
    assert as_json(proc)["skipped"] == ["linux-b"]
    assert {h.name: (h.sysctls(), h.conf_path.read_text()) for h in ssh_hosts.hosts} == before

    # An empty known_hosts: the key is unknown; the message says how to accept it.
    empty = tmp_path / "known_hosts_empty"
    empty.write_text("")
    inventory = ssh_hosts.inventory(tmp_path / "unknown.yml", known_hosts=empty)
    proc = portfleet("audit", "-i", str(inventory), "-p", str(PLAYBOOK), "--format", "json", state=tmp_path / "s.db")
    assert proc.returncode == 4
    detail = by_name(as_json(proc))["linux-a"]["detail"]
    assert "unknown host key ssh-ed25519" in detail and fingerprint in detail
    assert f"ssh-keyscan -p 22 -t ed25519 {a.address} >> {empty}" in detail
    assert empty.read_text() == ""  # portfleet never writes known_hosts


def test_host_key_checking_can_be_turned_off_per_inventory(ssh_hosts, tmp_path):
    empty = tmp_path / "known_hosts_empty"
    empty.write_text("")
    inventory = ssh_hosts.inventory(tmp_path / "inv.yml", known_hosts=empty, ansible_ssh_host_key_checking=False)
    proc = portfleet("audit", "-i", str(inventory), "-p", str(PLAYBOOK), "--format", "json", state=tmp_path / "s.db")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert {h["status"] for h in as_json(proc)["hosts"]} == {"drift"}
    assert empty.read_text() == ""


def test_a_wrong_key_is_refused_and_nothing_changes(ssh_hosts, tmp_path):
    before = {h.name: (h.sysctls(), h.conf_path.read_text()) for h in ssh_hosts.hosts}
    inventory = ssh_hosts.inventory(tmp_path / "inv.yml", key=ssh_hosts.wrong_key)
    proc = portfleet("apply", "-i", str(inventory), "-p", str(PLAYBOOK), "--yes", "--format", "json",
                     state=tmp_path / "s.db")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    for host in as_json(proc)["hosts"]:
        assert host["status"] == "auth_failed", host
        assert f"authentication failed for user 'root' (key {ssh_hosts.wrong_key})" in host["detail"]
    assert {h.name: (h.sysctls(), h.conf_path.read_text()) for h in ssh_hosts.hosts} == before


def test_reboot_never_plans_a_linux_host(ssh_hosts, tmp_path):
    inventory = ssh_hosts.inventory(tmp_path / "inv.yml")
    proc = portfleet("reboot", "plan", "-i", str(inventory), "-p", str(PLAYBOOK), "--all", "--format", "json",
                     state=tmp_path / "s.db")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout
    assert "portfleet does not reboot Linux hosts" in text
    plan = as_json(proc)
    assert not plan.get("batches"), plan
