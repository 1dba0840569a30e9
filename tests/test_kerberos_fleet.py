"""portfleet over Kerberos against a `lab serve --kerberos` fleet: audit, apply and rollback through `portfleet`
subprocesses, managed and manual kinit, and every failure a domain operator meets, each reported per host (exit 4)
without the password and without a traceback.

Message encryption: the lab runs with AllowUnencrypted=false, so over HTTP it answers an unsealed SOAP body with 500;
a run that succeeds over http://...:5985 has sealed every message with the Kerberos session key.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from test_fleet_apply_e2e import PLAYBOOK, TUNED, as_json, by_name, portfleet, snapshot
from test_kerberos_lab import host_vars, kdc_log, kdc_of, kinit, krb_env, principal

REALM = "PORTFLEET.TEST"


@pytest.fixture(scope="module")
def domain(module_lab):
    return module_lab(hosts=4, profile="defaults", seed=21, kerberos=True)


def variant(running, path: Path, group_vars: dict | None = None, hosts: dict[str, dict] | None = None,
            drop: tuple[str, ...] = ()) -> Path:
    """The lab's inventory with some vars changed: for all hosts (group_vars, drop) or per host."""
    data = yaml.safe_load(running.inventory.read_text())
    windows = data["all"]["children"]["windows"]
    for key in drop:
        windows["vars"].pop(key, None)
    windows["vars"].update(group_vars or {})
    for group in windows.get("children", {}).values():
        for name, entry in (group.get("hosts") or {}).items():
            entry.update((hosts or {}).get(name, {}))
    path.write_text(yaml.safe_dump(data))
    return path


def run(running, tmp_path: Path, *args: str, inventory: Path | None = None, **env: str):
    """`portfleet <args> -i <inventory>` as a domain user runs it: KRB5_CONFIG names the lab's krb5.conf; TMPDIR and
    the operator's KRB5CCNAME are the test's own, so what the run leaves behind can be checked."""
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    full_env = {"KRB5_CONFIG": str(running.krb5_conf), "TMPDIR": str(tmp), "LC_ALL": "C",
                "KRB5CCNAME": f"FILE:{tmp_path / 'operator-cc'}"}
    full_env.update(env)
    proc = portfleet(*args, "-i", str(inventory or running.inventory), state=tmp_path / "state.db", env=full_env)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert running.password not in proc.stdout + proc.stderr
    return proc


def issued_tgts(running, user: str = "labadmin") -> int:
    return sum(1 for line in kdc_log(running).splitlines()
               if "ISSUE" in line and f"{user}@{REALM} for krbtgt/" in line)


def test_audit_apply_rollback_over_kerberos_with_message_encryption(domain, tmp_path):
    control = domain.control()
    names = [h["name"] for h in domain.hosts]
    before = {n: snapshot(control, n) for n in names}
    tgts = issued_tgts(domain)

    audit = run(domain, tmp_path, "audit", "-p", str(PLAYBOOK), "--format", "json")
    assert audit.returncode == 3, audit.stderr
    assert {h["status"] for h in as_json(audit)["hosts"]} == {"drift"}
    for name in names:
        assert control.endpoint(name)["last_logon"] == {
            "user": "labadmin", "protocol": "kerberos", "delegated": False, "tls": False,
            "channel_bound": False}
    # Managed kinit: one ticket-granting ticket for the whole run, shared by its threads.
    assert issued_tgts(domain) == tgts + 1
    # The run's private credential cache is gone, and the operator's cache was never written.
    assert list((tmp_path / "tmp").iterdir()) == []
    assert not (tmp_path / "operator-cc").exists()

    applied = run(domain, tmp_path, "apply", "-p", str(PLAYBOOK), "--yes", "--format", "json")
    assert applied.returncode == 3, applied.stderr  # TcpTimedWaitDelay waits for a reboot
    report = as_json(applied)
    for name in names:
        assert snapshot(control, name)["ranges"]["ipv4 tcp"] == TUNED
        assert by_name(report)[name]["status"] == "pending_reboot"
    rolled = run(domain, tmp_path, "rollback", report["run_id"], "--yes", "--format", "json")
    assert rolled.returncode in (0, 3), rolled.stderr
    for name in names:
        assert snapshot(control, name)["ranges"] == before[name]["ranges"], name
        assert snapshot(control, name)["TcpTimedWaitDelay"] == before[name]["TcpTimedWaitDelay"], name
    assert issued_tgts(domain) == tgts + 3  # one per run: audit, apply, rollback


def test_kerberos_is_chosen_for_user_at_realm_when_no_transport_is_set(domain, tmp_path):
    inventory = variant(domain, tmp_path / "inv.yml", drop=("ansible_winrm_transport",))
    proc = run(domain, tmp_path, "audit", "-p", str(PLAYBOOK), "--format", "json", "-l", domain.hosts[0]["name"],
               inventory=inventory)
    assert proc.returncode == 3, proc.stderr
    assert domain.control().endpoint(domain.hosts[0]["name"])["last_logon"]["protocol"] == "kerberos"


def test_wrong_password_and_unknown_principal_are_reported_per_host(domain, tmp_path):
    a, b, c, d = (h["name"] for h in domain.hosts)
    inventory = variant(domain, tmp_path / "inv.yml", hosts={
        a: {"ansible_user": f"nobody@{REALM}"},
        b: {"ansible_user": f"labadmin@{REALM.lower()}"},
    })
    wrong = variant(domain, tmp_path / "wrong.yml", group_vars={"ansible_password": "not-the-password"})
    proc = run(domain, tmp_path, "audit", "-p", str(PLAYBOOK), "--format", "json", inventory=inventory)
    assert proc.returncode == 4
    hosts = by_name(as_json(proc))
    assert hosts[a]["status"] == "auth_failed"
    assert f"the KDC does not know the principal nobody@{REALM}" in hosts[a]["detail"]
    assert hosts[b]["status"] == "unreachable"
    assert "no KDC is configured for portfleet.test (realm names are upper case)" in hosts[b]["detail"]
    assert hosts[c]["status"] == hosts[d]["status"] == "drift"

    tgts, failures = issued_tgts(domain), kdc_log(domain).count("PREAUTH_FAILED")
    proc = run(domain, tmp_path, "audit", "-p", str(PLAYBOOK), "--format", "json", inventory=wrong)
    assert proc.returncode == 4
    for host in as_json(proc)["hosts"]:
        assert host["status"] == "auth_failed"
        assert host["detail"].endswith(f"managed kinit failed: wrong password for labadmin@{REALM}")
    assert "not-the-password" not in proc.stdout + proc.stderr
    # One kinit for the four hosts: a wrong password costs the account one failed logon, not one per host.
    assert issued_tgts(domain) == tgts and kdc_log(domain).count("PREAUTH_FAILED") == failures + 1


def test_manual_kinit_mode_uses_the_operators_ticket(domain, tmp_path):
    inventory = variant(domain, tmp_path / "inv.yml", group_vars={"ansible_winrm_kinit_mode": "manual"},
                        drop=("ansible_password",))
    name = domain.hosts[1]["name"]
    operator = tmp_path / "operator-cc"
    missing = run(domain, tmp_path, "audit", "-p", str(PLAYBOOK), "--format", "json", "-l", name, inventory=inventory)
    assert missing.returncode == 4
    detail = by_name(as_json(missing))[name]["detail"]
    assert f"no Kerberos ticket for labadmin@{REALM}" in detail and f"run `kinit labadmin@{REALM}` first" in detail

    assert kinit(domain, operator).returncode == 0
    ticket = operator.read_bytes()
    tgts = issued_tgts(domain)
    ok = run(domain, tmp_path, "audit", "-p", str(PLAYBOOK), "--format", "json", "-l", name, inventory=inventory)
    assert ok.returncode == 3, ok.stderr
    assert issued_tgts(domain) == tgts  # no kinit of its own
    assert operator.read_bytes() == ticket  # the service ticket went to the run's private copy
    # No password in the inventory, no password needed: Kerberos without ansible_password defaults to manual.
    default = variant(domain, tmp_path / "default.yml", drop=("ansible_password",))
    assert run(domain, tmp_path, "audit", "-p", str(PLAYBOOK), "-l", name, inventory=default).returncode == 3


def test_manual_mode_with_an_expired_ticket(domain, tmp_path):
    inventory = variant(domain, tmp_path / "inv.yml", group_vars={"ansible_winrm_kinit_mode": "manual"})
    operator = tmp_path / "operator-cc"
    got = kinit(domain, operator, "-l", "2s")
    assert got.returncode == 0, got.stderr
    deadline = time.monotonic() + 30
    while subprocess.run(["klist", "-s"], env=krb_env(domain, operator)).returncode == 0:  # until it has expired
        assert time.monotonic() < deadline, "the 2 s ticket did not expire"
        time.sleep(0.2)
    proc = run(domain, tmp_path, "audit", "-p", str(PLAYBOOK), "--format", "json", inventory=inventory)
    assert proc.returncode == 4
    for host in as_json(proc)["hosts"]:
        assert host["status"] == "auth_failed"
        assert f"the ticket of labadmin@{REALM} in FILE:{operator} has expired: run `kinit labadmin@{REALM}` again" in host["detail"]


def skew_ccache(path: Path, seconds: int) -> None:
    """Make the controller's Kerberos clock run `seconds` ahead, the libfaketime-free way: a FILE ccache (format 4)
    carries a KDC time offset in its header (tag 1, DeltaTime: seconds and microseconds, big-endian), which MIT
    libkrb5 adds to the system clock for every timestamp it sends once it reads the cache (krb5.conf kdc_timesync,
    on by default). That is how a client corrects its clock; set by hand it makes the client's authenticators as
    wrong as a clock `seconds` off, and the KDC answers KRB_AP_ERR_SKEW."""
    data = bytearray(path.read_bytes())
    assert data[:2] == b"\x05\x04", "not a version 4 FILE ccache"
    header_len = struct.unpack(">H", data[2:4])[0]
    pos = 4
    while pos < 4 + header_len:
        tag, length = struct.unpack(">HH", data[pos:pos + 4])
        if tag == 1:
            data[pos + 4:pos + 12] = struct.pack(">ii", seconds, 0)
            path.write_bytes(bytes(data))
            return
        pos += 4 + length
    raise AssertionError("the ccache header has no DeltaTime tag")


def test_clock_skew_is_named(domain, tmp_path):
    inventory = variant(domain, tmp_path / "inv.yml", group_vars={"ansible_winrm_kinit_mode": "manual"})
    operator = tmp_path / "operator-cc"
    assert kinit(domain, operator).returncode == 0
    skew_ccache(operator, 3600)
    name = domain.hosts[2]["name"]
    proc = run(domain, tmp_path, "audit", "-p", str(PLAYBOOK), "--format", "json", "-l", name, inventory=inventory)
    assert proc.returncode == 4
    host = by_name(as_json(proc))[name]
    assert host["status"] == "auth_failed"
    assert "Kerberos: clock skew: this machine's clock and the KDC's" in host["detail"]
    assert "SKEW" in kdc_log(domain) or "Clock skew too great" in kdc_log(domain)


def test_kdc_unreachable(domain, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    conf = tmp_path / "krb5.conf"
    text = domain.krb5_conf.read_text()
    conf.write_text("\n".join(
        f"        kdc = 127.0.0.1:{closed}" if line.strip().startswith("kdc =") else line for line in text.splitlines()))
    proc = run(domain, tmp_path, "audit", "-p", str(PLAYBOOK), "--format", "json", KRB5_CONFIG=str(conf))
    assert proc.returncode == 4
    for host in as_json(proc)["hosts"]:
        assert host["status"] == "unreachable"
        assert f"managed kinit failed: the KDC of {REALM} is unreachable" in host["detail"]


def test_delegation_forwards_the_ticket(domain, tmp_path):
    name = domain.hosts[3]["name"]
    inventory = variant(domain, tmp_path / "inv.yml", group_vars={"ansible_winrm_kerberos_delegation": True})
    proc = run(domain, tmp_path, "audit", "-p", str(PLAYBOOK), "-l", name, inventory=inventory)
    assert proc.returncode == 3, proc.stderr
    assert domain.control().endpoint(name)["last_logon"]["delegated"] is True


def test_two_principals_in_one_run_each_use_their_own_ticket(domain, tmp_path):
    kdc_of(domain).ensure({"ops": "0ps-passw0rd"}, [])
    a, b, c, d = (h["name"] for h in domain.hosts)
    inventory = variant(domain, tmp_path / "inv.yml", hosts={
        c: {"ansible_user": f"ops@{REALM}", "ansible_password": "0ps-passw0rd"}})
    start = len(kdc_log(domain))
    proc = run(domain, tmp_path, "audit", "-p", str(PLAYBOOK), "--format", "json", "--forks", "4", inventory=inventory)
    assert proc.returncode == 4
    hosts = by_name(as_json(proc))
    assert hosts[a]["status"] == hosts[b]["status"] == hosts[d]["status"] == "drift"
    # ops is a valid domain account, just not an administrator of the host: authenticated, then refused.
    assert hosts[c]["status"] == "auth_failed"
    assert f"the host refused the Kerberos ticket of 'ops@{REALM}'" in hosts[c]["detail"]
    log = kdc_log(domain)[start:]
    assert f"ops@{REALM} for HTTP/{c}.portfleet.test@{REALM}" in log
    assert f"labadmin@{REALM} for HTTP/{c}.portfleet.test@{REALM}" not in log
    assert f"labadmin@{REALM} for HTTP/{a}.portfleet.test@{REALM}" in log


def test_a_host_without_a_service_principal(lab, tmp_path):
    running = lab(hosts=3, profile="defaults", seed=22, kerberos=True)
    names = [h["name"] for h in running.hosts]
    kdc_of(running).remove_service(names[0])  # as an admin removing the SPN from the computer account
    proc = run(running, tmp_path, "audit", "-p", str(PLAYBOOK), "--format", "json")
    assert proc.returncode == 4
    hosts = by_name(as_json(proc))
    assert hosts[names[0]]["status"] == "auth_failed"
    assert f"the KDC has no service principal HTTP/{names[0]}.portfleet.test for this host" in hosts[names[0]]["detail"]
    assert "ansible_winrm_kerberos_hostname_override" in hosts[names[0]]["detail"]
    assert {hosts[n]["status"] for n in names[1:]} == {"drift"}


def test_without_the_kerberos_extra_each_kerberos_host_says_how_to_install_it(domain, tmp_path):
    hidden = tmp_path / "hide"
    (hidden / "kerberos").mkdir(parents=True)
    (hidden / "kerberos" / "__init__.py").write_text("raise ImportError('pykerberos is hidden by this test')\n")
    pythonpath = os.pathsep.join([str(hidden), os.environ.get("PYTHONPATH", "")])
    proc = run(domain, tmp_path, "audit", "-p", str(PLAYBOOK), "--format", "json", PYTHONPATH=pythonpath)
    assert proc.returncode == 4
    for host in as_json(proc)["hosts"]:
        assert host["status"] == "error"
        assert "pip install 'portfleet[kerberos]'" in host["detail"] and "libkrb5-dev" in host["detail"]


def test_credssp_is_refused_naming_kerberos_with_delegation(domain, tmp_path):
    inventory = variant(domain, tmp_path / "inv.yml", group_vars={"ansible_winrm_transport": "credssp"})
    proc = run(domain, tmp_path, "audit", "-p", str(PLAYBOOK), "--format", "json", inventory=inventory)
    assert proc.returncode == 4
    for host in as_json(proc)["hosts"]:
        assert host["status"] == "error"
        assert "credssp is not supported" in host["detail"]
        assert "ansible_winrm_transport: kerberos, ansible_winrm_kerberos_delegation: true" in host["detail"]


def test_a_run_that_outlasts_its_managed_ticket_gets_a_new_one(domain, tmp_path):
    """Tickets of 6 s (kinit -l 6s, as a short AD policy would give) and a run of about 10 s (one host at a time,
    each answering after 2.5 s): the hosts reached after the first ticket ended are audited with a new one."""
    control = domain.control()
    names = [h["name"] for h in domain.hosts]
    inventory = variant(domain, tmp_path / "inv.yml", group_vars={"ansible_winrm_kinit_args": "-l 6s"})
    tgts = issued_tgts(domain)
    for name in names:
        control.set_faults(name, slow_seconds=2.5)
    try:
        started = time.monotonic()
        proc = run(domain, tmp_path, "audit", "-p", str(PLAYBOOK), "--format", "json", "--forks", "1",
                   "--procs", "1", inventory=inventory)
        took = time.monotonic() - started
    finally:
        for name in names:
            control.set_faults(name, slow_seconds=0)
    assert took > 8, "the run did not outlast its first ticket: nothing was checked"
    hosts = as_json(proc)["hosts"]
    assert not [h for h in hosts if h["status"] in ("auth_failed", "error", "unreachable")], hosts
    assert proc.returncode in (0, 3), proc.stderr
    assert issued_tgts(domain) >= tgts + 2  # the first ticket and at least one renewal
    assert list((tmp_path / "tmp").iterdir()) == []  # no renewal file left behind
