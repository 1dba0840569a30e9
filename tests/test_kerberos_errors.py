"""Fast checks of the Kerberos pieces that need no KDC: what MIT's failure texts are reported as, the inventory's
Kerberos and certificate vars (Ansible's names and defaults), and the lab's token sniffing and certificate mapping.

The failure texts are MIT krb5's own (kinit's stderr and pykerberos' GSS minor statuses), as the real KDC tests in
test_kerberos_fleet.py see them end to end."""

from __future__ import annotations

import datetime as dt
import json
import textwrap

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from portfleet.inventory import InventoryError, load_inventory
from portfleet.transport.kerberos import describe
from portfleet_lab.auth import is_kerberos_token
from portfleet_lab.certmap import CertMap, CertMapping, der_utf8string, read_utf8string, thumbprint, UPN_OID

P = "labadmin@PORTFLEET.TEST"
CASES = [
    ("kinit: Cannot contact any KDC for realm 'PORTFLEET.TEST' while getting initial credentials",
     "unreachable", "the KDC of PORTFLEET.TEST is unreachable"),
    ("kinit: Client 'labadmin@PORTFLEET.TEST' not found in Kerberos database while getting initial credentials",
     "auth_failed", f"the KDC does not know the principal {P}"),
    ("kinit: Password incorrect while getting initial credentials", "auth_failed", f"wrong password for {P}"),
    ("kinit: Preauthentication failed while getting initial credentials", "auth_failed", f"wrong password for {P}"),
    ("kinit: Clock skew too great while getting initial credentials", "auth_failed", "clock skew"),
    ("authGSSClientStep() failed: (('Unspecified GSS failure.  Minor code may provide more information', 851968), "
     "('Server not found in Kerberos database', -1765328377))", "auth_failed",
     "the KDC has no service principal HTTP/web-01.portfleet.test for this host"),
    ("authGSSClientStep() failed: (('Unspecified GSS failure.  Minor code may provide more information', 851968), "
     "('Ticket expired', -1765328352))", "auth_failed", f"the ticket of {P} has expired: run `kinit {P}` again"),
    ("authGSSClientInit() failed: (('No credentials were supplied, or the credentials were unavailable or "
     "inaccessible', 458752), (\"Can't find client principal labadmin@PORTFLEET.TEST in cache collection\", "
     "-1765328243))", "auth_failed", f"run `kinit {P}` first"),
    ("kinit: Password has expired while getting initial credentials", "auth_failed", "password of"),
    ("kinit: something nobody has seen before", "auth_failed", "Kerberos error: kinit: something nobody has seen before"),
]


@pytest.mark.parametrize("text, kind, what", CASES)
def test_mit_failure_texts_say_what_happened(text, kind, what):
    got_kind, got_what = describe(text, P, spn="HTTP@web-01.portfleet.test", manual=True)
    assert got_kind == kind and what in got_what, got_what


def test_a_lower_case_realm_gets_a_hint():
    kind, what = describe("kinit: Cannot find KDC for realm \"lab.test\" while getting initial credentials", "u@lab.test")
    assert kind == "unreachable" and "(realm names are upper case)" in what


def write(tmp_path, text):
    path = tmp_path / "hosts.yml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def one_host(tmp_path, **host_vars):
    lines = ["all:", "  hosts:", "    h:", "      ansible_connection: winrm"]
    lines += [f"      {key}: {json.dumps(value)}" for key, value in host_vars.items()]  # JSON scalars are YAML
    return load_inventory(write(tmp_path, "\n".join(lines) + "\n")).host("h")


def test_kerberos_is_the_default_transport_for_user_at_realm_as_in_ansible(tmp_path):
    assert one_host(tmp_path, ansible_user="ops@CORP.EXAMPLE").winrm_transport == "kerberos"
    assert one_host(tmp_path, ansible_user="ops").winrm_transport == "ntlm"
    assert one_host(tmp_path, ansible_user="CORP\\ops").winrm_transport == "ntlm"
    assert one_host(tmp_path, ansible_user="ops@CORP.EXAMPLE", ansible_winrm_transport="ntlm").winrm_transport == "ntlm"


def test_kerberos_and_certificate_vars(tmp_path):
    h = one_host(tmp_path, ansible_user="ops@CORP.EXAMPLE", ansible_winrm_kinit_mode="Manual",
                 ansible_winrm_kinit_cmd="/opt/krb5/bin/kinit", ansible_winrm_kinit_args="'-l 1h' -f",
                 ansible_winrm_kerberos_delegation="yes", ansible_winrm_kerberos_hostname_override="h.corp.example",
                 ansible_winrm_cert_pem="/c.pem", ansible_winrm_cert_key_pem="/k.pem")
    assert (h.kinit_mode, h.kinit_cmd, h.kinit_args) == ("manual", "/opt/krb5/bin/kinit", ["-l 1h", "-f"])
    assert (h.kerberos_delegation, h.kerberos_hostname_override) == (True, "h.corp.example")
    assert (h.cert_pem, h.cert_key_pem) == ("/c.pem", "/k.pem")
    d = one_host(tmp_path, ansible_user="ops@CORP.EXAMPLE")
    assert (d.kinit_mode, d.kinit_cmd, d.kinit_args, d.kerberos_delegation) == (None, "kinit", None, False)


@pytest.mark.parametrize("var, value, message", [
    ("ansible_winrm_kinit_mode", "automatic", "valid values: managed, manual"),
    ("ansible_winrm_kerberos_delegation", "maybe", "write true or false"),
    ("ansible_winrm_kinit_args", "'-l 1h", "cannot be split into arguments"),
])
def test_bad_kerberos_vars_fail_the_load_with_file_and_line(tmp_path, var, value, message):
    path = write(tmp_path, f"all:\n  hosts:\n    h:\n      ansible_connection: winrm\n      {var}: \"{value}\"\n")
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    assert (info.value.path, info.value.line) == (path, 5) and message in info.value.message


def test_token_sniffing_tells_bare_kerberos_from_spnego_and_ntlm():
    krb5 = bytes.fromhex("6082020906092a864886f71201020201006e82")
    spnego = bytes.fromhex("604806062b0601050502a03e303ca00e300c060a")
    assert is_kerberos_token(krb5)
    assert not is_kerberos_token(spnego)
    assert not is_kerberos_token(b"NTLMSSP\x00\x01\x00\x00\x00")
    assert not is_kerberos_token(b"\x60") and not is_kerberos_token(b"")


def _ca():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=9))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).sign(key, hashes.SHA256()))
    return key, cert


def _client(ca_key, ca_cert, upn, eku=True):
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "u")]))
               .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(2)
               .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=9))
               .add_extension(x509.SubjectAlternativeName([x509.OtherName(UPN_OID, der_utf8string(upn))]), critical=False))
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    from cryptography.hazmat.primitives.serialization import Encoding

    return builder.sign(ca_key, hashes.SHA256()).public_bytes(Encoding.DER)


def test_certificate_mapping_matches_issuer_and_upn_as_winrm_does():
    ca_key, ca = _ca()
    other_key, other = _ca()
    certmap = CertMap([CertMapping(thumbprint(ca), "labadmin@localhost", "labadmin")], [ca, other])
    assert certmap.user_for(_client(ca_key, ca, "LabAdmin@localhost")) == "labadmin"  # UPNs compare case-blind
    assert certmap.user_for(_client(ca_key, ca, "intruder@localhost")) is None  # no mapping for that subject
    assert certmap.user_for(_client(other_key, other, "labadmin@localhost")) is None  # mapped issuer only
    assert certmap.user_for(_client(ca_key, ca, "labadmin@localhost", eku=False)) is None  # Client Authentication EKU
    assert certmap.user_for(b"not a certificate") is None and certmap.user_for(None) is None
    wildcard = CertMap([CertMapping(thumbprint(ca), "*", "labadmin")], [ca])
    assert wildcard.user_for(_client(ca_key, ca, "anyone@localhost")) == "labadmin"


def test_utf8string_reader_is_total():
    assert read_utf8string(der_utf8string("user@localhost")) == "user@localhost"
    assert read_utf8string(der_utf8string("x" * 300)) == "x" * 300
    for junk in (b"", b"\x0c", b"\x0c\x05abc", b"\x13\x01a", b"\x0c\x84\xff\xff\xff\xff", b"\x0c\x02\xff\xfe"):
        assert read_utf8string(junk) is None
