"""The TLS side of portfleet's own WinRM client (ntlm_http.py) over HTTPS: the certificate checks requests makes for
pywinrm, and the certificate hash NTLM binds the authentication to.

Trust, exactly as pywinrm's session through requests decides it (winrm.transport.build_session, requests'
adapters): `ansible_winrm_server_cert_validation: ignore` checks nothing; otherwise the host's certificate must
chain to the CA bundle (file) or hashed directory named by ansible_winrm_ca_trust_path / --ca-bundle, or, when none
is named, to requests' own default bundle (certifi's, not the system store), and must be issued for the address
portfleet connects to (ansible_host: a DNS name or an IP address in its subjectAltName). TLS 1.2 at least, as
urllib3 requires.

Channel bindings (RFC 5929 tls-server-end-point, MS-NLMP AV_PAIR MsvAvChannelBindings): the hash of the host's DER
certificate with its signature's hash algorithm (SHA-256 for MD5 and SHA-1), as requests_ntlm computes it, so a
Windows listener with CbtHardeningLevel Strict accepts the AUTHENTICATE. Unlike requests_ntlm, which learns the
certificate from the 401 answer, the client knows it right after the TLS handshake, so the NEGOTIATE still goes
in the first request (6 round trips per audited host, not 7).
"""

from __future__ import annotations

import functools
import os
import ssl


@functools.lru_cache(maxsize=32)
def client_context(verify: bool, ca_path: str | None) -> ssl.SSLContext:
    """An SSL context that trusts what requests would trust for these settings; one per setting per process (loading
    a bundle is milliseconds, a context is safe to share between threads). ssl.SSLError when the bundle holds no
    certificate OpenSSL can read."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if ca_path and os.path.isdir(ca_path):
        context.load_verify_locations(capath=ca_path)
    elif ca_path:
        context.load_verify_locations(cafile=ca_path)
    else:
        import certifi  # requests' default bundle (requests.utils.DEFAULT_CA_BUNDLE_PATH)

        context.load_verify_locations(cafile=certifi.where())
    return context


def certificate_hash(certificate_der: bytes) -> bytes | None:
    """RFC 5929 section 4.1: the certificate hashed with its signature's algorithm (SHA-256 for MD5/SHA-1 or
    none); None when the algorithm is unknown (no channel bindings are sent then, as with requests_ntlm)."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes

    try:
        certificate = x509.load_der_x509_certificate(certificate_der)
        algorithm = certificate.signature_hash_algorithm
    except (UnsupportedAlgorithm, ValueError):
        return None
    if algorithm is None or algorithm.name in ("md5", "sha1"):
        algorithm = hashes.SHA256()
    digest = hashes.Hash(algorithm)
    digest.update(certificate_der)
    return digest.finalize()
