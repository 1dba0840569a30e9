"""Certificate authentication over HTTPS (ansible_winrm_transport: certificate): the lab maps a client certificate to
its local account as WinRM's certificate mapping does (issuer thumbprint + UPN in the SAN), and answers an unmapped
certificate as Windows does, with HTTP 401."""

from __future__ import annotations

import pytest
import winrm
import yaml
from winrm.exceptions import InvalidCredentialsError

from portfleet_lab.tls import LabTls
from test_fleet_apply_e2e import PLAYBOOK, as_json, portfleet


@pytest.fixture(scope="module")
def mapped(module_lab):
    return module_lab(hosts=2, profile="defaults", seed=31, https=True, cert_auth=True)


def cert_inventory(running):
    return running.inventory.with_name(f"{running.inventory.stem}-cert.yml")


def with_vars(running, path, **changes):
    data = yaml.safe_load(cert_inventory(running).read_text())
    data["all"]["children"]["windows"]["vars"].update(changes)
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_mapped_certificate_logs_on_without_a_password(mapped, tmp_path):
    inventory = cert_inventory(mapped)
    variables = yaml.safe_load(inventory.read_text())["all"]["children"]["windows"]["vars"]
    assert variables["ansible_winrm_transport"] == "certificate" and "ansible_password" not in variables
    assert inventory.stat().st_mode & 0o777 == 0o600
    proc = portfleet("audit", "-i", str(inventory), "-p", str(PLAYBOOK), "--format", "json", state=tmp_path / "s.db")
    assert proc.returncode == 3, proc.stderr
    assert {h["status"] for h in as_json(proc)["hosts"]} == {"drift"}
    for host in mapped.hosts:
        logon = mapped.control().endpoint(host["name"])["last_logon"]
        assert logon["user"] == "labadmin" and logon["protocol"] == "certificate" and logon["tls"] is True


def test_an_unmapped_certificate_gets_windows_401(mapped, tmp_path):
    cert, key = tmp_path / "intruder.pem", tmp_path / "intruder-key.pem"
    # A certificate from the very CA the mapping trusts, for a UPN no mapping names.
    LabTls(mapped.state_dir / "tls").issue_client_certificate("intruder@localhost", cert, key)
    name = mapped.hosts[0]["name"]
    session = winrm.Session(mapped.url(name), auth=(None, None), transport="certificate", cert_pem=str(cert),
                            cert_key_pem=str(key), ca_trust_path=str(mapped.ca_path))
    with pytest.raises(InvalidCredentialsError):  # pywinrm's name for HTTP 401
        session.run_cmd("hostname")
    inventory = with_vars(mapped, tmp_path / "inv.yml", ansible_winrm_cert_pem=str(cert),
                          ansible_winrm_cert_key_pem=str(key))
    proc = portfleet("audit", "-i", str(inventory), "-p", str(PLAYBOOK), "--format", "json", state=tmp_path / "s.db")
    assert proc.returncode == 4
    for host in as_json(proc)["hosts"]:
        assert host["status"] == "auth_failed"
        assert f"the host refused the client certificate {cert} (HTTP 401): no certificate mapping matches" in host["detail"]


def test_certificate_auth_needs_https_and_its_files(mapped, tmp_path):
    over_http = with_vars(mapped, tmp_path / "http.yml", ansible_winrm_scheme="http", ansible_port=5985)
    proc = portfleet("audit", "-i", str(over_http), "-p", str(PLAYBOOK), "--format", "json", state=tmp_path / "s.db")
    assert proc.returncode == 4
    assert all("certificate authentication works over HTTPS only" in h["detail"] for h in as_json(proc)["hosts"])
    no_key = with_vars(mapped, tmp_path / "nokey.yml", ansible_winrm_cert_key_pem=str(tmp_path / "missing.pem"))
    proc = portfleet("audit", "-i", str(no_key), "-p", str(PLAYBOOK), "--format", "json", state=tmp_path / "s.db")
    assert proc.returncode == 4
    assert all(f"ansible_winrm_cert_key_pem {tmp_path / 'missing.pem'}: no such readable file" in h["detail"]
               for h in as_json(proc)["hosts"])
    assert "Traceback" not in proc.stderr


def test_certificate_auth_is_off_as_windows_ships_it(lab, tmp_path):
    running = lab(hosts=1, profile="defaults", seed=32, https=True)
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    LabTls(running.state_dir / "tls").issue_client_certificate("labadmin@localhost", cert, key)
    session = winrm.Session(running.url(running.hosts[0]["name"]), auth=(None, None), transport="certificate",
                            cert_pem=str(cert), cert_key_pem=str(key), ca_trust_path=str(running.ca_path))
    with pytest.raises(InvalidCredentialsError):
        session.run_cmd("hostname")
    assert not running.inventory.with_name(f"{running.inventory.stem}-cert.yml").exists()
