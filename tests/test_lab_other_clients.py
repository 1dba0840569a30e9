"""The lab through a second, independent WinRM client: pypsrp's WinRS (execute_cmd).

pypsrp builds its own WS-Man messages and wraps NTLM in SPNEGO (pywinrm sends raw NTLM), so this
checks the lab against the protocol rather than against one client's habits.
"""

from __future__ import annotations

import pytest

pypsrp_client = pytest.importorskip("pypsrp.client", reason="pypsrp is a test extra: pip install -e '.[test]'")


def _client(running, name: str, *, https: bool, password: str | None = None, ca: str | bool | None = None):
    host = running.host(name)
    return pypsrp_client.Client(
        host["address"],
        username=running.username,
        password=password or running.password,
        ssl=https,
        port=5986 if https else 5985,
        auth="negotiate",
        cert_validation=ca if https else False,
    )


def test_pypsrp_runs_cmd_over_encrypted_http_and_verified_https(lab):
    running = lab(hosts=2, profile="defaults", seed=3, https=True)
    name = running.hosts[0]["name"]
    for https in (False, True):
        client = _client(running, name, https=https, ca=str(running.ca_path))
        out, err, rc = client.execute_cmd("ver")
        assert rc == 0 and err == "" and out.startswith("\r\nMicrosoft Windows [Version 10.0.20348")
        out, err, rc = client.execute_cmd("netsh int ipv4 show dynamicport tcp")
        assert rc == 0 and "Start Port      : 49152\r\nNumber of Ports : 16384" in out
        out, err, rc = client.execute_cmd('reg query "HKLM\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters" /v MaxUserPort')
        assert (out, err, rc) == ("", "ERROR: The system was unable to find the specified registry key or value.\r\n", 1)
        out, err, rc = client.execute_cmd("frobnicate")
        assert rc == 9009 and "'frobnicate' is not recognized as an internal or external command" in err


def test_pypsrp_wrong_password_and_untrusted_certificate_are_refused(lab):
    from pypsrp.exceptions import AuthenticationError
    from requests.exceptions import SSLError

    running = lab(hosts=1, profile="defaults", seed=3, https=True)
    name = running.hosts[0]["name"]
    with pytest.raises(AuthenticationError):
        _client(running, name, https=False, password="not-the-password").execute_cmd("ver")
    with pytest.raises(SSLError):
        _client(running, name, https=True, ca=True).execute_cmd("ver")  # system CAs do not know the lab CA
