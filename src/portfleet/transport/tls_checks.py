"""TLS for WinRM over HTTPS: the CA files a run names, checked before any host is contacted, and which certificate
check failed when a host's certificate is refused.

CA files, as Ansible's winrm connection plugin uses them: ansible_winrm_ca_trust_path (a PEM bundle or an OpenSSL
hashed directory; portfleet's --ca-bundle is the run-wide default for hosts that name none) verifies HTTPS hosts
only. Ansible passes it to pywinrm for every host and plain-HTTP connections never read it, so a path on an http
host does nothing, silently. portfleet decides as Ansible does for a path that exists (not used on http, said once
as a note), but a path that does not exist is refused with exit 2 before any host is contacted, whatever the
host's scheme: it is a bad input, like a missing inventory file, and on https it would fail every host one by one.

Certificate failures: OpenSSL's verify result (ssl.SSLCertVerificationError.verify_code) says which check failed;
the message names it and what fixes it, instead of "not trusted" for all of them.
"""

from __future__ import annotations

import os
import ssl
from typing import Iterable

# OpenSSL X509_V_ERR_* codes (openssl/x509_vfy.h) grouped by what the operator has to do.
_ISSUER = {2, 18, 19, 20, 21}  # unable to get issuer / self-signed / unable to get local issuer / verify leaf
_EXPIRED = {10}
_NOT_YET_VALID = {9}
_NAME = {62, 64}  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
_REVOKED = {23}


class CaPathError(ValueError):
    """A CA path that does not exist or cannot be read; the message names the variable or flag and the host."""


def ca_path_problem(path: str) -> str | None:
    """Why `path` cannot serve as a CA bundle (file) or CA directory, or None when it can."""
    if os.path.isdir(path):
        return None if os.access(path, os.R_OK | os.X_OK) else "a directory this user cannot read"
    if os.path.isfile(path):
        return None if os.access(path, os.R_OK) else "a file this user cannot read"
    return "no such file or directory"


def check_ca_bundle(path: str | None) -> None:
    """--ca-bundle: refused when it names nothing readable."""
    if path is None:
        return
    problem = ca_path_problem(path)
    if problem:
        raise CaPathError(f"--ca-bundle {path}: {problem}")


def check_host_ca(host: object) -> None:
    """The host's ansible_winrm_ca_trust_path, when it sets one: refused when it names nothing readable."""
    path = getattr(host, "ca_trust_path", None)
    if not path:
        return
    problem = ca_path_problem(str(path))
    if problem:
        raise CaPathError(f"{getattr(host, 'name', '?')}: ansible_winrm_ca_trust_path {path}: {problem}")


def unused_ca_notes(hosts: Iterable[object]) -> list[str]:
    """WinRM hosts that name a CA path where it cannot apply: plain HTTP, where Ansible ignores it too."""
    plain = [getattr(h, "name", "?") for h in hosts
             if (getattr(h, "connection", None) or "winrm").lower() in ("winrm", "psrp")
             and getattr(h, "ca_trust_path", None) and (getattr(h, "scheme", None) or "http") != "https"]
    if not plain:
        return []
    shown = ", ".join(plain[:5]) + (f" and {len(plain) - 5} more" if len(plain) > 5 else "")
    return [f"ansible_winrm_ca_trust_path does not apply to {shown}: plain HTTP (ansible_winrm_scheme: http) "
            "checks no certificate"]


def _verify_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The OpenSSL verify failure inside requests' SSLError (wrapping urllib3's MaxRetryError / SSLError)."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        for nested in (getattr(current, "reason", None), current.__cause__, current.__context__, *current.args):
            if isinstance(nested, BaseException):
                stack.append(nested)
    return None


def describe_certificate_failure(exc: BaseException, *, address: str, ca_path: str | None) -> str:
    """What the host's certificate failed, and what to do, for a verification failure; a generic TLS text else."""
    error = _verify_error(exc)
    code = getattr(error, "verify_code", None)
    text = str(getattr(error, "verify_message", "") or "")
    if code in _NAME:
        what = "IP address" if code == 64 else "host name"
        return (f"TLS certificate name mismatch: the certificate is valid, but not issued for the {what} {address} "
                "portfleet connects to (ansible_host); connect by a name its subjectAltName lists, or have the host "
                "use a certificate issued for this name")
    if code in _EXPIRED:
        return "TLS certificate expired: renew the host's WinRM HTTPS certificate (winrm/config/listener)"
    if code in _NOT_YET_VALID:
        return "TLS certificate not yet valid: check the clocks of this machine and the host"
    if code in _REVOKED:
        return "TLS certificate revoked by its issuer"
    if code in _ISSUER:
        hint = (f"; the CA bundle {ca_path} does not hold its issuer" if ca_path
                else "; set ansible_winrm_ca_trust_path (or --ca-bundle) to the CA that issued it")
        return f"TLS certificate not trusted: untrusted issuer ({text or 'unknown CA'}){hint}"
    if error is not None:
        return f"TLS certificate refused: {text or 'verification failed'} (OpenSSL verify code {code})"
    return "TLS handshake failed (no certificate problem reported: protocol or cipher mismatch, or not TLS)"
