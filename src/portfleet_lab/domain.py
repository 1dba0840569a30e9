"""What `lab serve --kerberos` and `--cert-auth` add to a lab: a domain for the hosts to be members of.

--kerberos: the lab's realm (portfleet_lab.kdc) with the lab user's principal and one HTTP/<host>.<domain> service
principal per host, the lab's acceptor pointed at that keytab, `<inventory stem>-krb5.conf` next to the inventory,
and the inventory itself in the shape a domain inventory has: ansible_winrm_transport: kerberos, ansible_user:
<user>@<REALM>, and per host ansible_winrm_kerberos_hostname_override: <host>.<domain> (the hosts are loopback
addresses; their names exist only in the SPNs, as a DNS name would in a real domain).

--cert-auth (with --https): Service/Auth/Certificate=true, a client certificate for the lab user issued by the lab CA
and mapped to it (portfleet_lab.certmap), written as `<stem>-client.pem` / `<stem>-client-key.pem`, and a second
inventory `<stem>-cert.yml` that authenticates with it (ansible_winrm_transport: certificate).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Callable

from portfleet_lab.certmap import CertMap, CertMapping, thumbprint
from portfleet_lab.kdc import DOMAIN, REALM, KdcError, LabKdc, host_fqdn, missing_tools

KERBEROS_EXTRA = "pip install 'portfleet[kerberos]' (gssapi and krb5, built against libkrb5-dev)"


def kerberos_unavailable() -> str | None:
    """Why --kerberos cannot work on this machine, or None."""
    missing = missing_tools()
    if missing:
        return (f"--kerberos needs MIT Kerberos' KDC ({', '.join(missing)} not found): "
                "apt-get install krb5-kdc krb5-admin-server krb5-user")
    try:
        import gssapi  # noqa: F401 - pyspnego's Kerberos acceptor needs both
        import krb5  # noqa: F401
    except ImportError:
        return f"--kerberos needs the Python GSSAPI bindings for the lab's acceptor: {KERBEROS_EXTRA}"
    return None


def _hosts_of(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    windows = document["all"]["children"]["windows"]
    out = list((windows.get("hosts") or {}).items())
    for child in (windows.get("children") or {}).values():
        out.extend((child.get("hosts") or {}).items())
    return out


def kerberos_inventory(document: dict[str, Any], username: str, realm: str = REALM, domain: str = DOMAIN) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    for name, entry in _hosts_of(doc):
        entry["ansible_winrm_kerberos_hostname_override"] = host_fqdn(name, domain)
    variables = doc["all"]["children"]["windows"]["vars"]
    variables["ansible_user"] = f"{username}@{realm}"
    variables["ansible_winrm_transport"] = "kerberos"
    return doc


def certificate_inventory(document: dict[str, Any], cert: Path, key: Path) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    variables = doc["all"]["children"]["windows"]["vars"]
    variables.pop("ansible_password", None)  # a certificate logon needs no password on the controller
    variables["ansible_winrm_transport"] = "certificate"
    variables["ansible_winrm_cert_pem"] = str(cert)
    variables["ansible_winrm_cert_key_pem"] = str(key)
    return doc


class LabDomain:
    """The KDC (when --kerberos) and the certificate mapping (when --cert-auth) of one running lab."""

    def __init__(self, state_dir: Path, *, kerberos: bool, cert_auth: bool) -> None:
        self.kdc = LabKdc(state_dir / "kerberos") if kerberos else None
        self.cert_auth = cert_auth
        self.spns: dict[str, str] = {}

    @property
    def realm(self) -> str | None:
        return self.kdc.realm if self.kdc is not None else None

    def start(self, fleet: Any) -> None:
        """Create what the realm lacks, point this process' acceptor at it, and start krb5kdc."""
        if self.kdc is None:
            return
        kdc = self.kdc
        kdc.prepare()
        kdc.ensure({fleet.username: fleet.password}, [h.name for h in fleet.hosts])
        # The acceptor (pyspnego -> gssapi -> MIT libgssapi) reads these when a context is created; set once,
        # before any listener runs (the lab serves on one asyncio thread).
        os.environ["KRB5_CONFIG"] = str(kdc.krb5_conf)
        os.environ["KRB5_KTNAME"] = f"FILE:{kdc.keytab}"
        os.environ["KRB5RCACHEDIR"] = str(kdc.directory)  # the replay cache stays in the state directory
        kdc.start()
        self.spns = {h.name: f"HTTP@{host_fqdn(h.name, kdc.domain)}" for h in fleet.hosts}

    def certmap(self, fleet: Any, tls: Any) -> CertMap | None:
        if not self.cert_auth or tls is None:
            return None
        ca = tls.ca_certificate
        return CertMap([CertMapping(thumbprint(ca), f"{fleet.username}@localhost", fleet.username)], [ca])

    def write_files(
        self, inventory: Path, document: dict[str, Any], fleet: Any, tls: Any,
        write_inventory: Callable[[Path, dict[str, Any]], None],
    ) -> tuple[dict[str, Any], list[str]]:
        """Write the domain's files next to the inventory; return the main inventory document and notes for the
        "ready" line."""
        notes: list[str] = []
        if self.cert_auth and tls is not None:
            cert = inventory.with_name(f"{inventory.stem}-client.pem")
            key = inventory.with_name(f"{inventory.stem}-client-key.pem")
            tls.issue_client_certificate(f"{fleet.username}@localhost", cert, key)
            cert_inventory = inventory.with_name(f"{inventory.stem}-cert.yml")
            write_inventory(cert_inventory, certificate_inventory(document, cert, key))
            notes.append(f"certificate inventory {cert_inventory}")
        if self.kdc is not None:
            conf = inventory.with_name(f"{inventory.stem}-krb5.conf")
            tmp = conf.with_name(conf.name + ".tmp")
            tmp.write_text(self.kdc.client_config(), encoding="utf-8")
            os.replace(tmp, conf)
            notes.append(f"realm {self.kdc.realm}, KRB5_CONFIG={conf}")
            document = kerberos_inventory(document, fleet.username, self.kdc.realm, self.kdc.domain)
        return document, notes

    def stop(self) -> None:
        if self.kdc is not None:
            self.kdc.stop()


__all__ = ["KdcError", "LabDomain", "kerberos_unavailable", "KERBEROS_EXTRA"]
