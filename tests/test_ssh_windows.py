"""Windows hosts over SSH: the lab's hosts answer as Windows OpenSSH with cmd.exe as its default shell
(`portfleet lab serve --ssh`), and portfleet audits, applies and rolls back through the very templates
it sends over WinRM. Results are checked from the lab's side (its control API)."""

from __future__ import annotations

import socket
import time

import psutil
import pytest
import yaml

from portfleet.inventory import load_inventory
from portfleet.resources import playbooks_dir
from portfleet.transport.base import TransportError
from portfleet.transport.factory import session_factory
from ssh_fixtures import as_json, portfleet

PLAYBOOK = playbooks_dir() / "port-exhaustion.yml"
TUNED = {"start": 10000, "num": 55536}
PARAMS = "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters"


def snapshot(control, name: str) -> dict:
    h = control.host(name)
    params = h["registry"][PARAMS]
    return {"TcpTimedWaitDelay": params.get("TcpTimedWaitDelay"), "MaxUserPort": params.get("MaxUserPort"),
            "ranges": h["ranges"], "ranges_persistent": h["ranges_persistent"]}


def by_name(report: dict) -> dict[str, dict]:
    return {h["name"]: h for h in report["hosts"]}


def ssh_connections(address: str, port: int) -> int:
    return sum(1 for c in psutil.Process().net_connections(kind="tcp")
               if c.raddr and c.raddr.ip == address and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED)


def test_cmd_exe_over_one_ssh_connection(ssh_lab, tmp_path):
    lab = ssh_lab(hosts=4, profile="mixed", seed=1)
    inventory = load_inventory(lab.ssh_inventory)
    control = lab.control()
    open_session = session_factory()
    for name in lab.hosts:
        host = inventory.host(name)
        codepage = control.host(name)["oem_codepage"]
        with open_session(host) as session:
            assert session.platform == "windows"
            ver = session.run("ver")
            assert ver.exit_code == 0 and "[Version " in ver.stdout and ver.stdout.endswith("\r\n")
            # reg.exe errors go to stderr (translated: "ERROR:", "FEHLER:"), with cmd's exit code.
            missing = session.run(f'reg query "{PARAMS.replace("HKEY_LOCAL_MACHINE", "HKLM")}" /v NoSuchValue')
            assert missing.exit_code == 1 and missing.stdout == "" and missing.stderr.strip()
            unknown = session.run("uname -s")  # what portfleet's platform detection sends
            assert unknown.exit_code == 9009 and "uname" in unknown.stderr and unknown.stdout == ""
            # Output comes in the host's OEM code page (437 or 850 here): both hold these letters.
            assert session.run("echo Grüße").stdout == "Grüße\r\n", codepage
            # Five commands, one TCP connection (and one authentication).
            assert ssh_connections(host.address, host.port) == 1


def test_the_platform_is_found_out_when_the_inventory_does_not_say(ssh_lab, tmp_path):
    lab = ssh_lab(hosts=1, profile="defaults")
    data = yaml.safe_load(lab.ssh_inventory.read_text())
    del data["all"]["children"]["windows"]["vars"]["portfleet_platform"]
    plain = tmp_path / "no-platform.yml"
    plain.write_text(yaml.safe_dump(data))
    proc = portfleet("audit", "-i", str(plain), "-p", str(PLAYBOOK), "--format", "json", state=tmp_path / "s.db")
    assert proc.returncode in (0, 3), proc.stdout + proc.stderr
    (host,) = as_json(proc)["hosts"]
    assert host["facts"]["platform"] == "windows" and host["facts"]["os_version"]
    assert host["status"] in ("drift", "compliant")


def test_audit_apply_rollback_of_windows_hosts_over_ssh(ssh_lab, tmp_path):
    lab = ssh_lab(hosts=4, profile="mixed", seed=7)
    state = tmp_path / "s.db"
    control = lab.control()
    over_winrm = by_name(as_json(portfleet("audit", "-i", str(lab.inventory), "-p", str(PLAYBOOK), "--format", "json",
                                           state=state)))
    proc = portfleet("audit", "-i", str(lab.ssh_inventory), "-p", str(PLAYBOOK), "--format", "json", state=state)
    assert proc.returncode == 3, proc.stderr
    over_ssh = by_name(as_json(proc))
    # The same templates through cmd.exe: the same answers as over WinRM.
    for name, host in over_ssh.items():
        assert host["status"] == over_winrm[name]["status"], name
        assert host["facts"]["os_version"] == over_winrm[name]["facts"]["os_version"]
        assert [(s["key"], s["actual"], s["status"]) for s in host["settings"]] == \
               [(s["key"], s["actual"], s["status"]) for s in over_winrm[name]["settings"]]
    name = next(n for n, h in over_ssh.items() if h["status"] == "drift" and not h["facts"]["os_version"].startswith("5."))
    before = snapshot(control, name)

    applied = portfleet("apply", "-i", str(lab.ssh_inventory), "-p", str(PLAYBOOK), "-l", name, "--yes", "--diff",
                        "--format", "json", state=state)
    assert applied.returncode in (0, 3), applied.stdout + applied.stderr
    report = by_name(as_json(applied))[name]
    assert report["changes"] and {c["state"] for c in report["changes"]} == {"verified"}
    now = snapshot(control, name)
    assert now["TcpTimedWaitDelay"] == ["REG_DWORD", 30]
    assert now["ranges"]["ipv4 tcp"] == TUNED and now["ranges_persistent"]["ipv6 tcp"] == TUNED

    rolled = portfleet("rollback", as_json(applied)["run_id"], "--yes", "--format", "json", state=state)
    assert rolled.returncode in (0, 3), rolled.stdout + rolled.stderr
    assert snapshot(control, name) == before

    for p in (proc, applied, rolled):
        assert lab.password not in p.stdout + p.stderr


def _refused(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True
    except OSError:  # reset by a listener that is closing right now: not refused yet, ask again
        return False


def test_lab_faults_show_over_ssh(ssh_lab, tmp_path):
    lab = ssh_lab(hosts=2, profile="defaults")
    control = lab.control()
    first = lab.hosts[0]
    inventory = load_inventory(lab.ssh_inventory)
    host = inventory.host(first)

    control.set_faults(first, wrong_password=True)
    proc = portfleet("audit", "-i", str(lab.ssh_inventory), "-p", str(PLAYBOOK), "-l", first, "--format", "json",
                     state=tmp_path / "s.db")
    assert proc.returncode == 4
    (report,) = as_json(proc)["hosts"]
    assert report["status"] == "auth_failed" and "(password)" in report["detail"]
    assert lab.password not in proc.stdout + proc.stderr

    control.set_faults(first, wrong_password=False, unreachable=True)
    deadline = time.monotonic() + 10
    while not _refused(host.address, host.port):  # the listener closes within the lab's sync interval
        assert time.monotonic() < deadline, "the lab kept listening on an unreachable host"
    with pytest.raises(TransportError) as caught:
        with session_factory()(host) as session:
            session.run("ver")
    assert caught.value.kind == "unreachable"

    control.set_faults(first, unreachable=False, reset_mid_command=True)
    deadline = time.monotonic() + 10
    while _refused(host.address, host.port):
        assert time.monotonic() < deadline, "the lab did not listen again"
    with pytest.raises(TransportError) as caught:
        with session_factory()(host) as session:
            session.run("ver")
    assert caught.value.kind == "reset"


def test_diagnose_over_ssh_matches_winrm(ssh_lab, tmp_path):
    lab = ssh_lab(hosts=4, profile="mixed", seed=3)
    runs = {}
    for via, inventory in (("winrm", lab.inventory), ("ssh", lab.ssh_inventory)):
        proc = portfleet("diagnose", "-i", str(inventory), "--days", "7", "--format", "json", state=tmp_path / "s.db")
        assert proc.returncode in (0, 3), proc.stdout + proc.stderr
        runs[via] = by_name(as_json(proc))
    for name, d in runs["ssh"].items():
        w = runs["winrm"][name]
        assert (d["verdict"], d["os_version"], d["netstat"]) == (w["verdict"], w["os_version"], w["netstat"]), name
        assert d["dynamic_ranges"] == w["dynamic_ranges"] and d["events"]["counts"] == w["events"]["counts"], name
