"""`lab serve --kerberos`: a real MIT KDC started by the lab, hosts that accept Kerberos tickets for their own SPN,
with message encryption over HTTP, reached by plain pywinrm with a ticket from `kinit`.

Skipped with the reason when MIT's KDC or the kerberos extra is missing (.ci/run installs both).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from portfleet_lab.kdc import REALM, LabKdc, find_tool

pykerberos = pytest.importorskip("kerberos", reason="the kerberos extra is not installed: pip install '.[kerberos]'")
pytest.importorskip("gssapi", reason="the kerberos extra is not installed: pip install '.[kerberos]'")
if find_tool("krb5kdc") is None or find_tool("kadmin.local") is None:
    pytest.skip("MIT Kerberos KDC not installed: apt-get install krb5-kdc krb5-admin-server krb5-user",
                allow_module_level=True)
if sys.platform != "linux":
    pytest.skip("the lab's loopback fleet needs Linux", allow_module_level=True)

import winrm  # noqa: E402
from winrm.exceptions import InvalidCredentialsError  # noqa: E402

IDENTIFY = (
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    b'xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">'
    b"<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>"
)


# -- helpers shared by the Kerberos test modules --------------------------------------------------------------------
def host_vars(running, name: str) -> dict:
    windows = running.inventory_data["all"]["children"]["windows"]
    for group in (windows.get("children") or {}).values():
        if name in (group.get("hosts") or {}):
            return group["hosts"][name]
    return windows["hosts"][name]


def principal(running) -> str:
    return running.inventory_data["all"]["children"]["windows"]["vars"]["ansible_user"]


def krb_env(running, ccache: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment of a user of this lab's realm: its krb5.conf, and a ticket cache of the test's own."""
    env = dict(os.environ, KRB5_CONFIG=str(running.krb5_conf), LC_ALL="C", **extra)
    env.pop("KRB5CCNAME", None)
    if ccache is not None:
        env["KRB5CCNAME"] = f"FILE:{ccache}"
    return env


def kinit(running, ccache: Path, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kinit", *args, principal(running)], input=(password or running.password) + "\n", capture_output=True,
        text=True, env=krb_env(running, ccache), timeout=60,
    )


def kdc_of(running) -> LabKdc:
    """The lab's KDC files (to administer the realm as a domain admin would, with kadmin.local)."""
    return LabKdc(running.state_dir / "kerberos")


def kdc_log(running) -> str:
    return (running.state_dir / "kerberos" / "krb5kdc.log").read_text(errors="replace")


def kdc_port(running) -> int:
    for line in running.krb5_conf.read_text().splitlines():
        if line.strip().startswith("kdc ="):
            return int(line.rsplit(":", 1)[1])
    raise AssertionError(f"no kdc line in {running.krb5_conf}")


@pytest.fixture(scope="module")
def realm_lab(module_lab):
    return module_lab(hosts=3, profile="defaults", seed=11, kerberos=True)


# -- the lab's realm and inventory ----------------------------------------------------------------------------------
def test_inventory_is_a_domain_inventory_next_to_its_krb5_conf(realm_lab):
    variables = realm_lab.inventory_data["all"]["children"]["windows"]["vars"]
    assert variables["ansible_winrm_transport"] == "kerberos"
    assert variables["ansible_user"] == realm_lab.username == f"labadmin@{REALM}"
    assert variables["ansible_password"] == realm_lab.password
    for host in realm_lab.hosts:
        assert host_vars(realm_lab, host["name"])["ansible_winrm_kerberos_hostname_override"] == f"{host['name']}.portfleet.test"
    conf = realm_lab.krb5_conf
    assert conf == realm_lab.inventory.with_name(f"{realm_lab.inventory.stem}-krb5.conf") and conf.is_file()
    text = conf.read_text()
    assert f"default_realm = {REALM}" in text and ".portfleet.test = PORTFLEET.TEST" in text
    assert any("KRB5_CONFIG=" in line and str(conf) in line for line in realm_lab.output if line.startswith("ready"))
    # Every host has its service principal in the lab's realm, and nothing of the machine's /etc was used.
    principals = kdc_of(realm_lab).principals()
    assert {f"HTTP/{h['name']}.portfleet.test@{REALM}" for h in realm_lab.hosts} <= principals
    assert f"labadmin@{REALM}" in principals


def test_plain_pywinrm_kerberos_client_with_a_ticket_from_kinit(realm_lab, tmp_path, monkeypatch):
    ccache = tmp_path / "cc"
    got = kinit(realm_lab, ccache)
    assert got.returncode == 0, got.stderr
    for key, value in krb_env(realm_lab, ccache).items():
        monkeypatch.setenv(key, value)
    host = realm_lab.hosts[0]
    session = winrm.Session(
        realm_lab.url(host["name"]), auth=(principal(realm_lab), None), transport="kerberos",
        kerberos_hostname_override=f"{host['name']}.portfleet.test",
    )
    result = session.run_cmd("hostname")
    assert (result.status_code, result.std_out) == (0, host["name"].encode() + b"\r\n")
    assert realm_lab.url(host["name"]).startswith("http://")
    assert session.protocol.transport.encryption is not None  # sealed with the Kerberos session key
    logon = realm_lab.control().endpoint(host["name"])["last_logon"]
    assert logon == {"user": "labadmin", "protocol": "kerberos", "delegated": False, "tls": False, "channel_bound": False}
    # The service ticket was issued by the lab's KDC for exactly that host's SPN.
    assert f"for HTTP/{host['name']}.portfleet.test@{REALM}" in kdc_log(realm_lab)


def test_a_host_refuses_a_ticket_for_another_hosts_spn(realm_lab, tmp_path, monkeypatch):
    ccache = tmp_path / "cc"
    assert kinit(realm_lab, ccache).returncode == 0
    for key, value in krb_env(realm_lab, ccache).items():
        monkeypatch.setenv(key, value)
    first, second = realm_lab.hosts[0]["name"], realm_lab.hosts[1]["name"]
    session = winrm.Session(realm_lab.url(first), auth=(principal(realm_lab), None), transport="kerberos",
                            kerberos_hostname_override=f"{second}.portfleet.test")
    with pytest.raises(InvalidCredentialsError):
        session.run_cmd("hostname")


def test_authenticated_identify_tells_the_os_version(realm_lab, tmp_path, monkeypatch):
    ccache = tmp_path / "cc"
    assert kinit(realm_lab, ccache).returncode == 0
    for key, value in krb_env(realm_lab, ccache).items():
        monkeypatch.setenv(key, value)
    name = realm_lab.hosts[2]["name"]
    protocol = winrm.Protocol(realm_lab.url(name), transport="kerberos", username=principal(realm_lab),
                              kerberos_hostname_override=f"{name}.portfleet.test")
    reply = protocol.send_message(IDENTIFY.decode())
    version = realm_lab.control().host(name)["os_version"]
    assert b"<wsmid:ProductVendor>Microsoft Corporation</wsmid:ProductVendor>" in reply
    assert f"OS: {'.'.join(version.split('.')[:3])} SP: 0.0 Stack: 3.0".encode() in reply


def test_unauthenticated_identify_is_answered_without_credentials(realm_lab):
    import requests

    url = realm_lab.url(realm_lab.hosts[0]["name"])
    headers = {"WSMANIDENTIFY": "unauthenticated", "Content-Type": "application/soap+xml;charset=UTF-8"}
    response = requests.post(url, data=IDENTIFY, headers=headers, timeout=10)
    assert response.status_code == 200
    assert b"<wsmid:ProductVersion>OS: 0.0.0 SP: 0.0 Stack: 3.0</wsmid:ProductVersion>" in response.content
    assert b"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd</wsmid:ProtocolVersion>" in response.content
    # Without the header it is an ordinary request: 401, and only Negotiate is offered (Basic is off).
    refused = requests.post(url, data=IDENTIFY, timeout=10)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Negotiate"


# -- lifecycle ------------------------------------------------------------------------------------------------------
def test_the_kdc_stops_with_the_lab_and_the_realm_survives_a_restart(lab, tmp_path):
    import psutil

    first = lab(hosts=2, profile="defaults", seed=12, kerberos=True)
    pid = int((first.state_dir / "kerberos" / "krb5kdc.pid").read_text())
    assert psutil.Process(pid).name() == "krb5kdc"
    port = kdc_port(first)
    first.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    again = lab(hosts=2, state_dir=first.state_dir, workdir=tmp_path / "again", kerberos=True)
    assert again.password == first.password
    got = kinit(again, tmp_path / "cc")
    assert got.returncode == 0, got.stderr


def test_without_krb5kdc_kerberos_exits_2_saying_what_to_install(tmp_path):
    empty = tmp_path / "no-krb5"
    empty.mkdir()
    env = dict(os.environ, PORTFLEET_LAB_KRB5_PATH=str(empty))
    proc = subprocess.run(
        [sys.executable, "-m", "portfleet", "lab", "serve", "--hosts", "1", "--inventory-out", str(tmp_path / "i.yml"),
         "--state-dir", str(tmp_path / "state"), "--kerberos"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "apt-get install krb5-kdc krb5-admin-server krb5-user" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "i.yml").exists()


def test_cert_auth_needs_https(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "portfleet", "lab", "serve", "--hosts", "1", "--inventory-out", str(tmp_path / "i.yml"),
         "--state-dir", str(tmp_path / "state"), "--cert-auth"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2 and "--cert-auth needs --https" in proc.stderr


def test_inventory_file_is_private(realm_lab):
    assert realm_lab.inventory.stat().st_mode & 0o777 == 0o600
    assert yaml.safe_load(realm_lab.inventory.read_text())["all"]["children"]["windows"]["vars"]["ansible_password"]
