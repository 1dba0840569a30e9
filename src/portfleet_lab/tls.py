"""TLS material for the lab's HTTPS listeners (5986): one lab CA, one server certificate per host whose SANs
hold the host's IP address and name, so clients verify it the way they verify a real WinRM HTTPS listener
(winrm quickconfig -transport:https needs a Server Authentication certificate whose CN/SAN matches the name
used to connect: https://learn.microsoft.com/troubleshoot/windows-client/system-management-components/configure-winrm-for-https).

EC P-256 keys: generating a thousand takes well under a second. Material persists in <state>/tls so the CA a
client trusts stays valid across lab restarts; host certificates are made on first use.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_CA_DAYS = 3650
_HOST_DAYS = 825  # the CA/Browser-forum ceiling many verifiers still enforce


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


class LabTls:
    """The lab CA and per-host server certificates under `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.hosts_dir = directory / "hosts"
        self.ca_path = directory / "ca.pem"
        self._ca_key_path = directory / "ca.key"
        self._ca_key: ec.EllipticCurvePrivateKey | None = None
        self._ca_cert: x509.Certificate | None = None

    def ensure_ca(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        self.hosts_dir.mkdir(exist_ok=True)
        if self.ca_path.exists() and self._ca_key_path.exists():
            self._ca_cert = x509.load_pem_x509_certificate(self.ca_path.read_bytes())
            key = serialization.load_pem_private_key(self._ca_key_path.read_bytes(), password=None)
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            self._ca_key = key
            return self.ca_path
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "portfleet lab CA")])
        now = dt.datetime.now(dt.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=_CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                    key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        _write_private(self._ca_key_path, _key_pem(key))
        _write_private(self.ca_path, cert.public_bytes(serialization.Encoding.PEM))
        os.chmod(self.ca_path, 0o644)  # the CA certificate is public
        self._ca_key, self._ca_cert = key, cert
        return self.ca_path

    def host_pem(self, name: str, address: str) -> Path:
        """Certificate + key PEM for one host (made on first use; re-made if the address changed)."""
        if self._ca_key is None or self._ca_cert is None:
            self.ensure_ca()
        assert self._ca_key is not None and self._ca_cert is not None
        path = self.hosts_dir / f"{_safe(name)}_{_safe(address)}.pem"
        if path.exists():
            return path
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        ca_ski = self._ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self._ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=_HOST_DAYS))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(name), x509.IPAddress(ipaddress.ip_address(address))]),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                    key_agreement=True, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
            .sign(self._ca_key, hashes.SHA256())
        )
        _write_private(path, cert.public_bytes(serialization.Encoding.PEM) + _key_pem(key))
        return path

    def server_context(self, name: str, address: str, client_certificates: bool = False) -> ssl.SSLContext:
        """`client_certificates`: ask clients for a certificate issued by the lab CA (Service/Auth/Certificate=true);
        a client without one still connects and authenticates some other way."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.host_pem(name, address))
        if client_certificates:
            ctx.verify_mode = ssl.CERT_OPTIONAL
            ctx.load_verify_locations(str(self.ca_path))
        return ctx

    def channel_binding(self, name: str, address: str) -> bytes:
        """The listener's RFC 5929 tls-server-end-point binding: its certificate hashed with the certificate's
        signature hash (SHA-256 for MD5/SHA-1), as Windows' HTTP.sys computes it to check a client's CBT."""
        cert = x509.load_pem_x509_certificate(self.host_pem(name, address).read_bytes())
        algorithm = cert.signature_hash_algorithm
        if algorithm is None or algorithm.name in ("md5", "sha1"):
            algorithm = hashes.SHA256()
        digest = hashes.Hash(algorithm)
        digest.update(cert.public_bytes(serialization.Encoding.DER))
        return b"tls-server-end-point:" + digest.finalize()

    @property
    def ca_certificate(self) -> x509.Certificate:
        if self._ca_cert is None:
            self.ensure_ca()
        assert self._ca_cert is not None
        return self._ca_cert

    def issue_client_certificate(self, upn: str, destination_cert: Path, destination_key: Path) -> None:
        """A user certificate for WinRM certificate authentication, as Ansible's guide makes one: CN=<user>, EKU
        Client Authentication, the UPN in the SAN as otherName 1.3.6.1.4.1.311.20.2.3 (portfleet_lab.certmap)."""
        from portfleet_lab.certmap import UPN_OID, der_utf8string

        ca_cert = self.ca_certificate
        assert self._ca_key is not None
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, upn.split("@", 1)[0])]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=_HOST_DAYS))
            .add_extension(x509.SubjectAlternativeName([x509.OtherName(UPN_OID, der_utf8string(upn))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self._ca_key, hashes.SHA256())
        )
        destination_cert.parent.mkdir(parents=True, exist_ok=True)
        _write_private(destination_key, _key_pem(key))
        _write_private(destination_cert, cert.public_bytes(serialization.Encoding.PEM))

    def copy_ca_to(self, destination: Path) -> Path:
        destination.parent.mkdir(parents=True, exist_ok=True)
        tmp = destination.with_name(destination.name + ".tmp")
        tmp.write_bytes(self.ca_path.read_bytes())
        os.replace(tmp, destination)
        return destination
