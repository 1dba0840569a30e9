"""HTTP authentication of a WinRM listener, with Windows' defaults: Negotiate (NTLM, and Kerberos when the lab runs a
KDC) per connection with pyspnego as the acceptor, Basic only when allowed, client certificates on HTTPS when mapped.

Windows behaviours mirrored:
- WinRM ships with Service/Auth/Basic=false, Negotiate=true, Kerberos=true, Certificate=false, and the 401 offers only
  the schemes that are on: `WWW-Authenticate: Negotiate`, plus `WWW-Authenticate: Basic realm="WSMAN"` once Basic is
  enabled (https://learn.microsoft.com/windows/win32/winrm/installation-and-configuration-for-windows-remote-management).
- Negotiate authenticates the TCP connection: after the handshake, requests on that connection carry no Authorization
  header (requests_ntlm and requests_kerberos rely on this), and their bodies are sealed with the context.
- Kerberos: a domain host accepts service tickets for its own SPN, HTTP/<fqdn>, from its keytab (its computer
  account's keys); pywinrm sends the raw Kerberos token under the Negotiate scheme, SPNEGO clients (pypsrp) wrap it.
  The final 200 carries the AP-REP (mutual authentication), which requests_kerberos insists on.
- With AllowUnencrypted=false, Basic over plain HTTP is answered 401 (Ansible's WinRM guide, "HTTP 401/
  Credentials Rejected": "If running over HTTP and not HTTPS, use ntlm, kerberos or credssp ... the
  Service\\AllowUnencrypted can be set to true"), https://docs.ansible.com/ansible/latest/os_guide/windows_winrm.html
- A client certificate (Authorization: .../secprofile/https/mutual) logs on as the account its mapping names
  (portfleet_lab.certmap); an unmapped certificate gets 401.
- Channel binding tokens over HTTPS, Service/Auth/CbtHardeningLevel "Relaxed" as shipped (MS-WSMV 2.2.4.34,
  ServiceAuthType: default="Relaxed"; HTTP.sys "Medium": "Clients that support CBT are serviced appropriately.
  Legacy clients are also serviced", learn.microsoft.com/windows/win32/api/http/ne-http-http_authentication_hardening_levels):
  an NTLM AUTHENTICATE that carries MsvAvChannelBindings must carry the hash of this listener's certificate
  (RFC 5929 tls-server-end-point), else 401; one that carries none (or zeros) is accepted.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import spnego
from spnego.exceptions import SpnegoError

from portfleet_lab.certmap import CERTIFICATE_PROFILE, CertMap

_NEGOTIATE_SCHEMES = ("negotiate", "ntlm", "kerberos")
# GSS-API InitialContextToken (RFC 2743 3.1): 0x60, length, then the mech OID. Kerberos (RFC 1964) and the MS alias.
_KRB5_OIDS = (bytes.fromhex("06092a864886f712010202"), bytes.fromhex("06092a864882f712010202"))


def _split_user(name: str) -> str:
    """'HOST\\user', '.\\user' and 'user@HOST' all name the local account 'user'."""
    if "\\" in name:
        name = name.split("\\", 1)[1]
    elif "@" in name:
        name = name.split("@", 1)[0]
    return name


def is_kerberos_token(token: bytes) -> bool:
    """A bare Kerberos GSS token (pywinrm/pykerberos), as opposed to SPNEGO or NTLMSSP."""
    if len(token) < 4 or token[0] != 0x60:
        return False
    length = token[1]
    offset = 2 + (length & 0x7F if length & 0x80 else 0)
    return any(token[offset : offset + len(oid)] == oid for oid in _KRB5_OIDS)


def _owf(password: str) -> tuple[str, str]:
    """LMOWFv1 and NTOWFv1 of `password` as upper-case hex, by pyspnego's own functions (the values its acceptor
    would derive from a DOMAIN:USER:PASSWORD line)."""
    from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1

    return lmowfv1(password).hex().upper(), ntowfv1(password).hex().upper()


class NtlmCredentialStore:
    """The flat files pyspnego's NTLM acceptor reads credentials from (env var NTLM_USER_FILE, lines
    DOMAIN:USER:PASSWORD, or smbpasswd lines with the hashes: see _write).

    pyspnego looks the file up from the environment when it processes the AUTHENTICATE message, so each
    host gets its own accepted password by pointing NTLM_USER_FILE at the right file just for the duration
    of its acceptor's step(): the lab's file, or, for a host with the wrong_password fault, a file holding
    a random password no client knows. The lab runs one asyncio thread, so the switch cannot race.
    Files live in a private directory (0700, files 0600; by default a fresh one inside `parent`, which the
    lab sets to its state directory, where the credentials already are) removed by close().
    """

    def __init__(
        self, username: str, password: str, domains: list[str] | None = None, parent: Path | None = None
    ) -> None:
        self.username = username
        if parent is not None:
            Path(parent).mkdir(parents=True, exist_ok=True)
        self._dir = Path(tempfile.mkdtemp(prefix=".ntlm-", dir=parent))
        os.chmod(self._dir, 0o700)
        # Local accounts are accepted with no domain, '.', or any host/workgroup name as the domain part.
        names = ["", ".", "WORKGROUP", "WORKSTATION"] + [d.upper() for d in (domains or [])]
        self.accept_file = self._write("accept", username, password, names)
        self.reject_file = self._write("reject", username, secrets.token_urlsafe(24), names)

    def _write(self, name: str, username: str, password: str, domains: list[str]) -> Path:
        """smbpasswd lines (USER:UID:LM_HASH:NT_HASH:FLAGS:LCT), which pyspnego reads like DOMAIN:USER:PASSWORD
        (spnego/_ntlm.py _get_credential: the hashes as given) but without computing LMOWFv1 (pure-Python DES)
        and NTOWFv1 (pure-Python MD4) again for every AUTHENTICATE message: the same accepted password, a
        tenth of the lab's CPU per connection less. A user under a domain is written DOMAIN\\USER."""
        lm, nt = _owf(password)
        path = self._dir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for d in dict.fromkeys(domains):
                user = f"{d}\\{username}" if d else username
                fh.write(f"{user}:1000:{lm}:{nt}:[U]:LCT-00000000\n")
        return path

    @contextlib.contextmanager
    def selected(self, rejects: bool) -> Iterator[None]:
        previous = os.environ.get("NTLM_USER_FILE")
        os.environ["NTLM_USER_FILE"] = str(self.reject_file if rejects else self.accept_file)
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("NTLM_USER_FILE", None)
            else:
                os.environ["NTLM_USER_FILE"] = previous

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)


@dataclass(frozen=True)
class AuthConfig:
    """winrm/config/service/auth of every lab host. Defaults are Windows': Basic and Certificate off."""

    basic: bool = False
    certificate: bool = False
    realm: str | None = None  # set when the lab runs a KDC: Negotiate also accepts Kerberos tickets of this realm
    allow_unencrypted: bool = False

    @property
    def kerberos(self) -> bool:
        return self.realm is not None

    def challenge_headers(self) -> list[tuple[str, str]]:
        headers = [("WWW-Authenticate", "Negotiate")]
        if self.basic:
            headers.append(("WWW-Authenticate", 'Basic realm="WSMAN"'))
        return headers


@dataclass(frozen=True)
class HostIdentity:
    """Who one listener is: the service principal it accepts tickets for, and whether it refuses the lab password."""

    name: str
    spn: str | None = None  # GSS host-based service name, "HTTP@<fqdn>"; None: no Kerberos on this host
    rejects: bool = False  # the wrong_password fault
    tls_binding: bytes | None = None  # b"tls-server-end-point:" + hash of the HTTPS listener's certificate


@dataclass
class ConnectionAuth:
    """Negotiate state bound to one TCP connection."""

    context: object | None = None  # spnego acceptor while a handshake runs or after it completed
    user: str | None = None  # set once the handshake completed: the connection is authenticated
    scheme_word: str = "Negotiate"  # echo the scheme the client used ("Negotiate" or "NTLM")
    protocol: str | None = None  # "ntlm" or "kerberos" once complete
    delegated: bool = False  # the client forwarded its TGT (Kerberos delegation)
    bound: bool = False  # the AUTHENTICATE carried channel bindings, and they matched the listener's certificate

    @property
    def sealer(self) -> object | None:
        return self.context if self.user else None


@dataclass
class AuthOutcome:
    user: str | None  # authenticated account, or None: answer `status` with `headers`
    scheme: str | None = None  # "basic", "negotiate" or "certificate"
    status: int = 401
    headers: list[tuple[str, str]] = field(default_factory=list)


class Authenticator:
    def __init__(
        self,
        username: str,
        password: str,
        store: NtlmCredentialStore,
        config: AuthConfig | None = None,
        certmap: CertMap | None = None,
    ) -> None:
        self.username = username
        self._password = password.encode("utf-8")
        self.store = store
        self.config = config or AuthConfig()
        self.certmap = certmap

    @property
    def allow_unencrypted(self) -> bool:
        return self.config.allow_unencrypted

    def _refuse(self, scheme: str | None) -> AuthOutcome:
        return AuthOutcome(None, scheme, 401, self.config.challenge_headers())

    def _basic(self, token: str, rejects: bool, tls: bool) -> AuthOutcome:
        if not self.config.basic or (not tls and not self.config.allow_unencrypted):
            return self._refuse("basic")
        try:
            user, _, password = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return self._refuse("basic")
        ok_user = _split_user(user).lower() == self.username.lower()
        ok_password = hmac.compare_digest(password.encode("utf-8"), self._password)
        if ok_user and ok_password and not rejects:
            return AuthOutcome(self.username, "basic", 200)
        return self._refuse("basic")

    def _acceptor(self, token: bytes, host: HostIdentity) -> Any:
        """A fresh acceptor for the first token of a handshake: Kerberos for a bare Kerberos token, else Negotiate
        (SPNEGO with Kerberos and NTLM, or raw NTLM). Kerberos credentials are bound to the host's own SPN."""
        kerberos = self.config.kerberos and host.spn is not None
        if is_kerberos_token(token):
            if not kerberos:
                return None
            return spnego.server(credentials=spnego.CredentialCache(username=host.spn), protocol="kerberos")
        if kerberos:
            try:
                return spnego.server(credentials=spnego.CredentialCache(username=host.spn), protocol="negotiate")
            except SpnegoError:
                pass  # no keys for this SPN in the keytab: NTLM only
        return spnego.server(protocol="negotiate")

    def _principal_user(self, principal: str, protocol: str) -> str | None:
        """The local account a completed context logs on as; None if it is not the lab user of the lab realm."""
        if protocol == "kerberos":
            user, _, realm = principal.rpartition("@")
            if not user or self.config.realm is None or realm.upper() != self.config.realm.upper():
                return None
            return user if user.lower() == self.username.lower() else None
        return _split_user(principal)

    def _negotiate(self, scheme_word: str, token: str, state: ConnectionAuth, host: HostIdentity,
                   tls: bool = False) -> AuthOutcome:
        try:
            in_token = base64.b64decode(token, validate=True)
        except (binascii.Error, ValueError):
            in_token = b""
        if not in_token:
            state.context, state.user = None, None
            return self._refuse("negotiate")
        if state.context is None or state.user is not None:
            # A new handshake (also re-authentication on an authenticated connection) starts a new context.
            state.context = self._acceptor(in_token, host)
            state.user, state.protocol, state.delegated, state.bound = None, None, False, False
            state.scheme_word = scheme_word
            if state.context is None:
                return self._refuse("negotiate")
        context = state.context
        try:
            bindings = _bindings_to_check(in_token, host.tls_binding if tls else None)
            with self.store.selected(host.rejects):
                out_token = context.step(in_token, channel_bindings=bindings)  # type: ignore[attr-defined]
            state.bound = state.bound or bindings is not None
        except Exception:  # SpnegoError: wrong password, unknown user, ticket for another SPN, skew; junk tokens
            state.context, state.user = None, None
            return self._refuse("negotiate")
        if not context.complete:  # type: ignore[attr-defined]
            value = f"{scheme_word} {base64.b64encode(out_token or b'').decode()}"
            return AuthOutcome(None, "negotiate", 401, [("WWW-Authenticate", value)])
        protocol = str(getattr(context, "negotiated_protocol", "ntlm") or "ntlm")
        principal = getattr(context, "client_principal", None) or self.username
        user = self._principal_user(principal, protocol)
        if user is None or (protocol == "kerberos" and host.rejects):
            state.context, state.user = None, None
            return self._refuse("negotiate")
        state.user, state.protocol = user, protocol
        try:
            state.delegated = bool(context.context_attr & spnego.ContextReq.delegate)  # type: ignore[attr-defined]
        except (AttributeError, SpnegoError):
            state.delegated = False
        headers = []
        if out_token:  # SPNEGO's accept-completed token, Kerberos' AP-REP
            headers.append(("WWW-Authenticate", f"{scheme_word} {base64.b64encode(out_token).decode()}"))
        return AuthOutcome(state.user, "negotiate", 200, headers)

    def _certificate(self, state: ConnectionAuth, tls: bool, peer_cert: bytes | None, rejects: bool) -> AuthOutcome:
        if not tls or not self.config.certificate or self.certmap is None:
            return self._refuse("certificate")
        user = self.certmap.user_for(peer_cert)
        if user is None or rejects:
            return self._refuse("certificate")
        state.user, state.protocol = user, "certificate"
        return AuthOutcome(user, "certificate", 200)

    def authenticate(
        self,
        authorization: str,
        state: ConnectionAuth,
        *,
        host: HostIdentity,
        tls: bool,
        peer_cert: bytes | None = None,
    ) -> AuthOutcome:
        """Check one request against the host's listener settings."""
        if authorization:
            text = authorization.strip()
            if text.lower() == CERTIFICATE_PROFILE:
                return self._certificate(state, tls, peer_cert, host.rejects)
            scheme, _, token = text.partition(" ")
            word = scheme.lower()
            if word == "basic":
                return self._basic(token.strip(), host.rejects, tls)
            if word in _NEGOTIATE_SCHEMES:
                return self._negotiate(scheme, token.strip(), state, host, tls)
            return self._refuse(None)
        if state.user is not None:
            return AuthOutcome(state.user, state.protocol if state.protocol == "certificate" else "negotiate", 200)
        return self._refuse(None)


_AUTHENTICATE = b"NTLMSSP\x00\x03\x00\x00\x00"


def _bindings_to_check(token: bytes, tls_binding: bytes | None) -> spnego.channel_bindings.GssChannelBindings | None:
    """The bindings the acceptor must verify for this token (Relaxed: only when the client sent some): the
    listener's, when `token` holds an NTLMv2 AUTHENTICATE (raw, or inside SPNEGO's DER) whose AV pairs carry a
    non-zero MsvAvChannelBindings; None otherwise (pyspnego then checks nothing)."""
    at = token.find(_AUTHENTICATE)
    if tls_binding is None or at < 0:
        return None
    from spnego._ntlm_raw.messages import AvId, Authenticate, NTClientChallengeV2

    try:
        response = Authenticate.unpack(token[at:]).nt_challenge_response
        pairs = NTClientChallengeV2.unpack(response[16:]).av_pairs if len(response) > 24 else {}
    except Exception:  # noqa: BLE001 - a malformed AUTHENTICATE: the acceptor refuses it itself
        return None
    sent = pairs.get(AvId.channel_bindings)
    if not sent or sent == b"\x00" * 16:
        return None
    return spnego.channel_bindings.GssChannelBindings(application_data=tls_binding)
