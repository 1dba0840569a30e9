"""WinRM client certificate mapping (Service/Auth/Certificate, winrm/config/service/certmapping), as Windows does it.

A mapping names an issuer (the thumbprint of the CA certificate that issued the client certificate), a subject (the
user principal name the client certificate carries, or `*`) and the local account it logs on as:

    New-Item -Path WSMan:\\localhost\\ClientCertificate -Subject 'user@localhost' -URI * -Issuer <CA thumbprint>
             -Credential (Get-Credential) -Force

(Ansible's WinRM guide, "Certificate"; https://docs.ansible.com/ansible/latest/os_guide/windows_winrm.html). The
client certificate must have the Client Authentication EKU and its UPN in the subject alternative name as an
otherName 1.3.6.1.4.1.311.20.2.3 (UTF8String), e.g. `subjectAltName = otherName:1.3.6.1.4.1.311.20.2.3;UTF8:user@localhost`.

A certificate that no mapping matches is refused with HTTP 401: pywinrm reports it as "the specified credentials were
rejected by the server" (Ansible: "certificate: the specified credentials were rejected by the server",
https://github.com/diyan/pywinrm/issues/311, https://github.com/ansible/ansible/issues/65794).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

UPN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")
# pywinrm's Authorization header for certificate authentication (MS-WSMV "https/mutual" security profile).
CERTIFICATE_PROFILE = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"


def thumbprint(cert: x509.Certificate) -> str:
    """Windows' certificate thumbprint: the SHA-1 of the DER encoding, upper-case hex."""
    return hashlib.sha1(cert.public_bytes(Encoding.DER)).hexdigest().upper()


def der_utf8string(text: str) -> bytes:
    """DER of a UTF8String (tag 12), the value of a UPN otherName."""
    data = text.encode("utf-8")
    if len(data) < 128:
        return bytes([12, len(data)]) + data
    size = len(data).to_bytes((len(data).bit_length() + 7) // 8, "big")
    return bytes([12, 0x80 | len(size)]) + size + data


def read_utf8string(der: bytes) -> str | None:
    """The text of a DER UTF8String, or None for anything else (total: never raises)."""
    if len(der) < 2 or der[0] != 12:
        return None
    length, offset = der[1], 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or len(der) < 2 + count:
            return None
        length, offset = int.from_bytes(der[2 : 2 + count], "big"), 2 + count
    if len(der) != offset + length:
        return None
    try:
        return der[offset:].decode("utf-8")
    except UnicodeDecodeError:
        return None


def certificate_upn(cert: x509.Certificate) -> str | None:
    """The user principal name in the certificate's SAN (otherName UPN), if any."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for name in san.get_values_for_type(x509.OtherName):
        if name.type_id == UPN_OID:
            return read_utf8string(name.value)
    return None


def has_client_auth(cert: x509.Certificate) -> bool:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return ExtendedKeyUsageOID.CLIENT_AUTH in eku


@dataclass(frozen=True)
class CertMapping:
    issuer: str  # thumbprint of the issuing CA certificate
    subject: str  # UPN, or "*" for any certificate of that issuer
    user: str  # local account the certificate logs on as


class CertMap:
    """The mappings of one lab and the CA certificates their issuers name."""

    def __init__(self, mappings: list[CertMapping], authorities: list[x509.Certificate]) -> None:
        self.mappings = list(mappings)
        self._authorities = {thumbprint(ca): ca for ca in authorities}

    def _issuer_thumbprint(self, cert: x509.Certificate) -> str | None:
        for print_, ca in self._authorities.items():
            if cert.issuer != ca.subject:
                continue
            try:
                cert.verify_directly_issued_by(ca)
            except Exception:  # noqa: BLE001 - InvalidSignature, wrong key type: not issued by this CA
                continue
            return print_
        return None

    def user_for(self, der: bytes | None) -> str | None:
        """The local account a client certificate (DER) maps to, or None: refused (Windows answers 401)."""
        if not der:
            return None
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            return None
        now = dt.datetime.now(dt.timezone.utc)
        if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc) or not has_client_auth(cert):
            return None
        issuer = self._issuer_thumbprint(cert)
        upn = certificate_upn(cert)
        if issuer is None or upn is None:
            return None
        for mapping in self.mappings:
            if mapping.issuer == issuer and (mapping.subject == "*" or mapping.subject.lower() == upn.lower()):
                return mapping.user
        return None
