"""HTTP authentication as a WinRM listener with Basic and Negotiate enabled: Basic per request, Negotiate
(NTLM, raw or SPNEGO-wrapped) per connection with pyspnego as the acceptor.

Windows behaviours mirrored:
- 401 offers `WWW-Authenticate: Negotiate` and `WWW-Authenticate: Basic realm="WSMAN"` (winrm/config/service/auth
  Basic=true, Negotiate=true).
- NTLM authenticates the TCP connection: after the handshake, requests on that connection carry no
  Authorization header (requests_ntlm relies on this), and their bodies are sealed with the context.
- With AllowUnencrypted=false, Basic over plain HTTP is answered 401 (Ansible's WinRM guide, "HTTP 401/
  Credentials Rejected": "If running over HTTP and not HTTPS, use ntlm, kerberos or credssp ... the
  Service\\AllowUnencrypted can be set to true"), https://docs.ansible.com/ansible/latest/os_guide/windows_winrm.html
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
from typing import Iterator

import spnego

CHALLENGE_HEADERS: list[tuple[str, str]] = [
    ("WWW-Authenticate", "Negotiate"),
    ("WWW-Authenticate", 'Basic realm="WSMAN"'),
]
_NEGOTIATE_SCHEMES = ("negotiate", "ntlm")


def _split_user(name: str) -> str:
    """'HOST\\user', '.\\user' and 'user@HOST' all name the local account 'user'."""
    if "\\" in name:
        name = name.split("\\", 1)[1]
    elif "@" in name:
        name = name.split("@", 1)[0]
    return name


class NtlmCredentialStore:
    """The flat files pyspnego's NTLM acceptor reads credentials from (env var NTLM_USER_FILE, lines
    DOMAIN:USER:PASSWORD).

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
        path = self._dir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.writelines(f"{d}:{username}:{password}\n" for d in dict.fromkeys(domains))
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


@dataclass
class ConnectionAuth:
    """Negotiate state bound to one TCP connection."""

    context: object | None = None  # spnego acceptor while a handshake runs or after it completed
    user: str | None = None  # set once the handshake completed: the connection is authenticated
    scheme_word: str = "Negotiate"  # echo the scheme the client used ("Negotiate" or "NTLM")

    @property
    def sealer(self) -> object | None:
        return self.context if self.user else None


@dataclass
class AuthOutcome:
    user: str | None  # authenticated account, or None: answer `status` with `headers`
    scheme: str | None = None  # "basic" or "negotiate"
    status: int = 401
    headers: list[tuple[str, str]] = field(default_factory=list)


class Authenticator:
    def __init__(self, username: str, password: str, store: NtlmCredentialStore, allow_unencrypted: bool) -> None:
        self.username = username
        self._password = password.encode("utf-8")
        self.store = store
        self.allow_unencrypted = allow_unencrypted

    def _basic(self, token: str, rejects: bool, tls: bool) -> AuthOutcome:
        if not tls and not self.allow_unencrypted:
            return AuthOutcome(None, "basic", 401, list(CHALLENGE_HEADERS))
        try:
            user, _, password = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return AuthOutcome(None, "basic", 401, list(CHALLENGE_HEADERS))
        ok_user = _split_user(user).lower() == self.username.lower()
        ok_password = hmac.compare_digest(password.encode("utf-8"), self._password)
        if ok_user and ok_password and not rejects:
            return AuthOutcome(self.username, "basic", 200)
        return AuthOutcome(None, "basic", 401, list(CHALLENGE_HEADERS))

    def _negotiate(self, scheme_word: str, token: str, state: ConnectionAuth, rejects: bool) -> AuthOutcome:
        try:
            in_token = base64.b64decode(token, validate=True)
        except (binascii.Error, ValueError):
            in_token = b""
        if not in_token:
            state.context, state.user = None, None
            return AuthOutcome(None, "negotiate", 401, list(CHALLENGE_HEADERS))
        if state.context is None or state.user is not None:
            # A new handshake (also re-authentication on an authenticated connection) starts a new context.
            state.context = spnego.server(protocol="negotiate")
            state.user = None
            state.scheme_word = scheme_word
        context = state.context
        try:
            with self.store.selected(rejects):
                out_token = context.step(in_token)  # type: ignore[attr-defined]
        except Exception:  # SpnegoError for a wrong password or unknown user; struct/Value errors for junk
            # Wrong password, unknown user, or a malformed token: Windows answers 401 and offers again.
            state.context, state.user = None, None
            return AuthOutcome(None, "negotiate", 401, list(CHALLENGE_HEADERS))
        if not context.complete:  # type: ignore[attr-defined]
            value = f"{scheme_word} {base64.b64encode(out_token or b'').decode()}"
            return AuthOutcome(None, "negotiate", 401, [("WWW-Authenticate", value)])
        principal = getattr(context, "client_principal", None) or self.username
        state.user = _split_user(principal)
        headers = []
        if out_token:  # SPNEGO's final accept-completed token
            headers.append(("WWW-Authenticate", f"{scheme_word} {base64.b64encode(out_token).decode()}"))
        return AuthOutcome(state.user, "negotiate", 200, headers)

    def authenticate(self, authorization: str, state: ConnectionAuth, *, rejects: bool, tls: bool) -> AuthOutcome:
        """Check one request. `rejects`: this host does not accept the lab password (wrong_password fault)."""
        if authorization:
            scheme, _, token = authorization.strip().partition(" ")
            word = scheme.lower()
            if word == "basic":
                return self._basic(token.strip(), rejects, tls)
            if word in _NEGOTIATE_SCHEMES:
                return self._negotiate(scheme, token.strip(), state, rejects)
            return AuthOutcome(None, None, 401, list(CHALLENGE_HEADERS))
        if state.user is not None:
            return AuthOutcome(state.user, "negotiate", 200)
        return AuthOutcome(None, None, 401, list(CHALLENGE_HEADERS))
