"""Authentication and transport security of the lab's WinRM listeners, through real clients."""

from __future__ import annotations

import base64
import uuid

import pytest
import requests
import spnego
import winrm
from winrm.exceptions import InvalidCredentialsError, WinRMTransportError

from portfleet_lab import encryption


@pytest.fixture(scope="module")
def plain(module_lab):
    """Default lab: HTTP only, AllowUnencrypted=false."""
    return module_lab(hosts=2)


@pytest.fixture(scope="module")
def tls_lab(module_lab):
    return module_lab(hosts=2, https=True, allow_basic=True)


@pytest.fixture(scope="module")
def unencrypted(module_lab):
    return module_lab(hosts=1, allow_unencrypted=True, allow_basic=True)


def test_unauthenticated_request_is_offered_only_negotiate_by_default(plain):
    """Windows ships Service/Auth/Basic=false: the 401 offers Negotiate alone."""
    response = requests.post(plain.url(plain.hosts[0]["name"]), data=b"", timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Negotiate"
    assert response.headers["Server"] == "Microsoft-HTTPAPI/2.0"


def test_basic_is_offered_once_the_lab_allows_it(unencrypted):
    response = requests.post(unencrypted.url(unencrypted.hosts[0]["name"]), data=b"", timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Negotiate, Basic realm="WSMAN"'


def test_basic_is_refused_when_off_even_over_https(plain, module_lab):
    """Basic off (the default) refuses the right password over TLS too, as Windows does."""
    https = module_lab(hosts=1, https=True)
    name = https.hosts[0]["name"]
    session = winrm.Session(https.url(name), auth=(https.username, https.password), transport="basic",
                            ca_trust_path=str(https.ca_path))
    with pytest.raises(InvalidCredentialsError):
        session.run_cmd("hostname")
    ntlm = winrm.Session(https.url(name), auth=(https.username, https.password), transport="ntlm",
                         ca_trust_path=str(https.ca_path))
    assert ntlm.run_cmd("hostname").std_out == name.encode() + b"\r\n"


def test_ntlm_with_message_encryption_over_http(plain):
    session = winrm.Session(plain.url(plain.hosts[0]["name"]), auth=(plain.username, plain.password), transport="ntlm")
    result = session.run_cmd("hostname")
    assert (result.status_code, result.std_out) == (0, plain.hosts[0]["name"].encode() + b"\r\n")
    assert session.protocol.transport.encryption is not None


def test_wrong_password_is_rejected_with_401(tls_lab):
    for transport in ("ntlm", "basic"):
        session = winrm.Session(tls_lab.url(tls_lab.hosts[0]["name"]), auth=(tls_lab.username, "not-the-password"),
                                transport=transport, ca_trust_path=str(tls_lab.ca_path))
        with pytest.raises(InvalidCredentialsError):
            session.run_cmd("hostname")


def test_unknown_user_is_rejected(plain):
    session = winrm.Session(plain.url(plain.hosts[0]["name"]), auth=("administrator", plain.password), transport="ntlm")
    with pytest.raises(InvalidCredentialsError):
        session.run_cmd("hostname")


def test_basic_over_plain_http_is_refused_by_default(plain):
    """AllowUnencrypted=false: Basic over HTTP gets 401 even with the right password."""
    session = winrm.Session(plain.url(plain.hosts[0]["name"]), auth=(plain.username, plain.password), transport="basic")
    with pytest.raises(InvalidCredentialsError):
        session.run_cmd("hostname")


def test_unsealed_soap_over_http_is_refused_by_default(plain):
    session = winrm.Session(
        plain.url(plain.hosts[1]["name"]), auth=(plain.username, plain.password), transport="ntlm", message_encryption="never"
    )
    with pytest.raises(WinRMTransportError) as excinfo:
        session.run_cmd("hostname")
    assert excinfo.value.code == 500


def test_domain_qualified_local_account_is_accepted(plain):
    name = plain.hosts[1]["name"]
    session = winrm.Session(plain.url(name), auth=(f".\\{plain.username}", plain.password), transport="ntlm")
    assert session.run_cmd("hostname").std_out == name.encode() + b"\r\n"


def test_basic_and_unencrypted_ntlm_when_the_lab_allows_unencrypted(unencrypted):
    name = unencrypted.hosts[0]["name"]
    for kwargs in ({"transport": "basic"}, {"transport": "ntlm", "message_encryption": "never"}):
        session = winrm.Session(unencrypted.url(name), auth=(unencrypted.username, unencrypted.password), **kwargs)
        assert session.run_cmd("hostname").std_out == name.encode() + b"\r\n"
    with pytest.raises(InvalidCredentialsError):
        winrm.Session(unencrypted.url(name), auth=(unencrypted.username, "wrong"), transport="basic").run_cmd("ver")


def test_https_validated_against_the_lab_ca(tls_lab):
    assert tls_lab.ca_path is not None and tls_lab.ca_path.is_file()
    assert tls_lab.ca_path.parent == tls_lab.inventory.parent
    for host in tls_lab.hosts:
        assert tls_lab.url(host["name"]).startswith(f"https://{host['address']}:5986/")
        for transport in ("ntlm", "basic"):
            session = winrm.Session(
                tls_lab.url(host["name"]),
                auth=(tls_lab.username, tls_lab.password),
                transport=transport,
                ca_trust_path=str(tls_lab.ca_path),
            )
            assert session.run_cmd("hostname").std_out == host["name"].encode() + b"\r\n"
            assert session.protocol.transport.encryption is None  # TLS protects it; no message encryption


def test_https_is_refused_without_the_lab_ca(tls_lab):
    session = winrm.Session(
        tls_lab.url(tls_lab.hosts[0]["name"]), auth=(tls_lab.username, tls_lab.password), transport="ntlm", ca_trust_path=None
    )
    with pytest.raises(requests.exceptions.SSLError):
        session.run_cmd("hostname")


def test_https_lab_still_answers_sealed_ntlm_on_5985(tls_lab):
    name = tls_lab.hosts[1]["name"]
    session = winrm.Session(tls_lab.http_url(name), auth=(tls_lab.username, tls_lab.password), transport="ntlm")
    assert session.run_cmd("hostname").std_out == name.encode() + b"\r\n"


def test_inventory_is_usable_as_is_and_private(tls_lab):
    assert tls_lab.inventory.stat().st_mode & 0o777 == 0o600
    windows = tls_lab.inventory_data["all"]["children"]["windows"]
    variables = windows["vars"]
    assert variables["ansible_connection"] == "winrm"
    assert variables["ansible_winrm_transport"] == "ntlm"
    assert variables["ansible_winrm_scheme"] == "https"
    hosts = {name: entry for group in windows["children"].values() for name, entry in group["hosts"].items()}
    assert set(hosts) == {h["name"] for h in tls_lab.hosts}
    for name, entry in hosts.items():
        url = f"https://{entry['ansible_host']}:{entry['ansible_port']}/wsman"
        session = winrm.Session(
            url,
            auth=(variables["ansible_user"], variables["ansible_password"]),
            transport=variables["ansible_winrm_transport"],
            ca_trust_path=variables["ansible_winrm_ca_trust_path"],
        )
        assert session.run_cmd("hostname").std_out == name.encode() + b"\r\n"


def _negotiate(session, url, username, password, host):
    """Negotiate handshake the way pypsrp/Windows clients do it: SPNEGO-wrapped NTLM, final token checked."""
    client = spnego.client(username, password, hostname=host, service="http", protocol="negotiate")
    token = client.step()
    assert token[:1] == b"\x60"  # an SPNEGO NegTokenInit, not raw NTLM
    response = session.post(url, data=b"", headers={"Authorization": "Negotiate " + base64.b64encode(token).decode()})
    assert response.status_code == 401
    challenge = base64.b64decode(response.headers["WWW-Authenticate"].split()[1])
    token = client.step(challenge)
    response = session.post(url, data=b"", headers={"Authorization": "Negotiate " + base64.b64encode(token).decode()})
    assert response.status_code == 200
    client.step(base64.b64decode(response.headers["WWW-Authenticate"].split()[1]))  # verifies mechListMIC
    assert client.complete
    return client


def _create_envelope(url):
    return (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
        'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><s:Header>'
        '<wsa:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/transfer/Create</wsa:Action>'
        '<wsman:MaxEnvelopeSize s:mustUnderstand="true">153600</wsman:MaxEnvelopeSize>'
        f"<wsa:MessageID>uuid:{uuid.uuid4()}</wsa:MessageID><wsman:OperationTimeout>PT60S</wsman:OperationTimeout>"
        '<wsman:ResourceURI s:mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd'
        f"</wsman:ResourceURI><wsa:To>{url}</wsa:To></s:Header><s:Body><rsp:Shell><rsp:InputStreams>stdin"
        "</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell></s:Body></s:Envelope>"
    ).encode()


def test_spnego_negotiate_with_sealed_messages(plain):
    """The SPNEGO flavour of Negotiate (pypsrp, PowerShell clients) with MS-WSMV 2.2.9.1 message framing."""
    host = plain.hosts[0]
    url = plain.url(host["name"])
    with requests.Session() as http:
        client = _negotiate(http, url, plain.username, plain.password, host["address"])
        response = http.post(url, data=encryption.wrap_message(_create_envelope(url), client),
                             headers={"Content-Type": encryption.CONTENT_TYPE})
        assert response.status_code == 200
        assert response.headers["Content-Type"] == encryption.CONTENT_TYPE
        reply = encryption.unwrap_message(response.content, client.unwrap_winrm)
        assert b"<x:ResourceCreated>" in reply and b"http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse" in reply


def test_tampered_sealed_message_is_rejected(plain):
    host = plain.hosts[1]
    url = plain.url(host["name"])
    with requests.Session() as http:
        client = _negotiate(http, url, plain.username, plain.password, host["address"])
        sealed = bytearray(encryption.wrap_message(_create_envelope(url), client))
        sealed[-40] ^= 0x01  # one bit of ciphertext
        response = http.post(url, data=bytes(sealed), headers={"Content-Type": encryption.CONTENT_TYPE})
        assert response.status_code == 400
