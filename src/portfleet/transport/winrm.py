"""WinRM transport on pywinrm's `winrm.Protocol`: one handshake, one shell, many commands.

`winrm.Session.run_cmd` opens a shell, authenticates and tears down per call (a fresh TCP
connection each time), so portfleet drives `winrm.Protocol` itself: the NTLM or Kerberos handshake
happens once on the first request, the cmd shell stays open for the run, and closing deletes the shell.

Under winrm.Protocol, NTLM over HTTP or HTTPS without a proxy travels through portfleet's own HTTP client
(transport/ntlm_http.py: the same requests, a third of the controller's CPU per host); every other combination,
and any host with `portfleet_http_client: requests`, through pywinrm's requests-based Transport.

Kerberos goes through pywinrm's kerberos transport (pykerberos) with message encryption over HTTP; the
ticket is in the run's credential collection before the session opens (transport.kerberos). Certificate
authentication sends the client certificate over HTTPS (the host maps it to an account).
"""

from __future__ import annotations

import math
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

import requests
import winrm
from winrm.exceptions import (
    InvalidCredentialsError,
    WinRMError,
    WinRMOperationTimeoutError,
    WinRMTransportError,
)

from portfleet.transport import kerberos, ntlm_preemptive, tls_checks
from portfleet.transport import winrs_messages as messages
from portfleet.transport.base import Result, TransportError, connect_with_retries, decode_output
from portfleet.transport.ntlm_hash import ntlm_password
from portfleet.transport.ntlm_http import NtlmHttpTransport
from portfleet.transport.sealed_body import SealedBodyError

# UTF-8 output from the WinRS shell; tools that ignore the code page are decoded with the OEM
# fallback (transport.base.decode_output).
UTF8_CODEPAGE = 65001


@dataclass(frozen=True)
class WinRMTarget:
    """Where and how to reach one host; the password lives only here, never in repr()."""

    host: str
    address: str
    port: int
    scheme: str  # "http" | "https"
    transport: str  # "ntlm" | "basic" | "ssl" | ...
    username: str = ""
    password: str = ""
    path: str = "/wsman"
    cert_validation: bool = True
    ca_trust_path: str | None = None
    allow_unencrypted: bool = False
    connect_timeout: float = 10.0
    operation_timeout: int = 20
    command_timeout: float = 300.0  # one command, all its Receives together
    connect_retries: int = 2
    proxy: str | None = None  # ansible_winrm_proxy; None: connect directly, ignoring *_PROXY env vars
    kerberos_delegation: bool = False  # ansible_winrm_kerberos_delegation
    kerberos_hostname_override: str | None = None  # the SPN's host name (HTTP/<name>)
    kinit_manual: bool = False  # the ticket came from the operator's cache (error wording)
    cert_pem: str | None = None  # ansible_winrm_cert_pem / _cert_key_pem: certificate authentication
    cert_key_pem: str | None = None
    http_client: str = "builtin"  # portfleet_http_client: "requests" keeps pywinrm's own transport everywhere

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return (
            f"WinRMTarget(host={self.host!r}, endpoint={self.endpoint!r}, "
            f"transport={self.transport!r}, username={self.username!r})"
        )

    @property
    def spn(self) -> str:
        """The service principal Kerberos asks the KDC for (pywinrm: HTTP@<override or address>)."""
        return f"HTTP@{self.kerberos_hostname_override or self.address}"

    __str__ = __repr__

    @property
    def endpoint(self) -> str:
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{address}:{self.port}{self.path}"


def _builtin_http(t: WinRMTarget) -> bool:
    """Whether transport/ntlm_http.py speaks for the host instead of requests: NTLM with a password over HTTP
    (sealed messages) or HTTPS, no proxy. Everything else (Kerberos, Basic, certificates, proxies) is pywinrm's."""
    return (t.http_client == "builtin" and t.scheme in ("http", "https") and t.transport == "ntlm"
            and bool(t.password) and not t.proxy)


def _tune_transport(transport: Any) -> None:
    """Two changes to the requests session pywinrm builds, on this transport object only:
    - trust_env=False: no *_PROXY/NO_PROXY scan of os.environ and no ~/.netrc lookup on every request (a tenth
      of the controller's CPU per host). Nothing is lost: the proxy portfleet wants is already in
      session.proxies (pywinrm puts ansible_winrm_proxy there, or no_proxy=* for none: *_PROXY variables are
      ignored by design, see WinRMTarget.proxy), and the CA bundle in session.verify.
    - NTLM over plain HTTP sends its NEGOTIATE in the first request (transport/ntlm_preemptive.py).
    Both are in place before pywinrm's first request (setup_encryption's empty POST)."""
    build, setup = transport.build_session, transport.setup_encryption

    def setup_encryption(session: requests.Session) -> None:
        session.trust_env = False
        if transport.auth_method == "ntlm":
            ntlm_preemptive.install(session)
        setup(session)

    def build_session() -> requests.Session:
        session = build()
        session.trust_env = False
        return session

    transport.setup_encryption = setup_encryption
    transport.build_session = build_session


class WinRMSession:
    """One host, one WinRS shell, opened lazily on the first command.

    The WS-Man messages are built by transport.winrs_messages and sent with winrm.Protocol.send_message
    (pywinrm's fault mapping; authentication and message encryption by the transport under it: ntlm_http.py or
    pywinrm's). Per host: the NTLM handshake (two HTTP requests: the NEGOTIATE goes in the first), Create, then
    per command Command + Receive(s), and Delete. A finished command's Signal terminate is sent only before the
    shell's next Command: the Delete that closes the shell terminates its commands and frees their resources
    anyway (MS-WSMV 3.1.4.4.1: "Any commands in progress SHOULD be immediately terminated and all resources for
    the Shell SHOULD be freed"), so the last command costs no Signal round trip.
    """

    def __init__(self, target: WinRMTarget) -> None:
        self.target = target
        self.host = target.host
        self._protocol: winrm.Protocol | None = None
        self._shell_id: str | None = None
        self._unsignalled: str | None = None  # a finished command not yet told to terminate
        if target.scheme == "http" and target.transport == "basic" and not target.allow_unencrypted:
            # DESIGN: Basic over plain HTTP sends the password in clear text; refused unless the
            # inventory says portfleet_allow_unencrypted: true for this host.
            raise TransportError(
                "protocol",
                f"{target.host}: Basic auth over plain HTTP would send the password unencrypted; "
                "use HTTPS (ansible_winrm_scheme: https), NTLM (ansible_winrm_transport: ntlm), "
                "or set portfleet_allow_unencrypted: true for this host",
            )
        if target.transport == "kerberos" and not kerberos.pykerberos_available():
            raise TransportError("protocol", f"{target.host}: Kerberos needs pykerberos, which is not installed: "
                                             f"{kerberos.EXTRA_HINT}")
        if target.transport == "certificate":
            self._check_certificate(target)
        if target.scheme == "https" and target.cert_validation and target.ca_trust_path:
            problem = tls_checks.ca_path_problem(target.ca_trust_path)
            if problem:  # the CLI refuses this before the run (exit 2); a library caller hears it here
                raise TransportError("tls", f"{target.host}: CA bundle {target.ca_trust_path}: {problem}; "
                                            "the host was not contacted")

    @staticmethod
    def _check_certificate(t: WinRMTarget) -> None:
        if t.scheme != "https":
            raise TransportError("protocol", f"{t.host}: certificate authentication works over HTTPS only: set "
                                             "ansible_winrm_scheme: https (port 5986)")
        for var, path in (("ansible_winrm_cert_pem", t.cert_pem), ("ansible_winrm_cert_key_pem", t.cert_key_pem)):
            if not path:
                raise TransportError("auth_failed", f"{t.host}: certificate authentication needs {var}")
            if not os.path.isfile(path) or not os.access(path, os.R_OK):
                raise TransportError("auth_failed", f"{t.host}: {var} {path}: no such readable file")

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> "WinRMSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self) -> None:
        t = self.target
        read_timeout = t.operation_timeout + 10  # pywinrm requires read > operation timeout
        self._protocol = protocol = winrm.Protocol(
            endpoint=t.endpoint,
            transport=t.transport,
            username=t.username,
            # NTLM: the LM:NT hash form pyspnego takes in the password's place, computed once (ntlm_hash.py).
            password=ntlm_password(t.password) if t.transport == "ntlm" else t.password,
            server_cert_validation="validate" if t.cert_validation else "ignore",
            # None: requests' default trust store; a path: that CA bundle. (pywinrm's default,
            # "legacy_requests", silently takes REQUESTS_CA_BUNDLE from the environment.)
            ca_trust_path=t.ca_trust_path or None,  # type: ignore[arg-type]
            proxy=t.proxy,
            read_timeout_sec=read_timeout,
            operation_timeout_sec=t.operation_timeout,
            # auto: sealed (NTLM or Kerberos) over HTTP, TLS alone over HTTPS, as Windows requires by default.
            message_encryption="auto",
            kerberos_delegation=t.kerberos_delegation,
            kerberos_hostname_override=t.kerberos_hostname_override,
            cert_pem=t.cert_pem,
            cert_key_pem=t.cert_key_pem,
        )
        if _builtin_http(t):
            protocol.transport = NtlmHttpTransport(  # type: ignore[assignment]
                address=t.address, port=t.port, path=t.path, username=t.username, password=ntlm_password(t.password),
                connect_timeout=t.connect_timeout, read_timeout=read_timeout, where=f"{t.host} ({t.endpoint})",
                https=t.scheme == "https", verify=t.cert_validation, ca_path=t.ca_trust_path or None)
        else:
            _tune_transport(protocol.transport)
        try:
            self._shell_id = connect_with_retries(
                lambda: messages.shell_id_of(self._send(messages.create_shell(t.operation_timeout, UTF8_CODEPAGE))),
                lambda exc: self._classify(exc, opening=True),
                t.connect_retries,
            )
        except TransportError:
            self._drop()
            raise

    def _send(self, message: str) -> bytes:
        assert self._protocol is not None
        return self._protocol.send_message(message)

    def close(self) -> None:
        if self._protocol is not None and self._shell_id is not None:
            try:
                # Delete ends the shell and every command in it (see the class doc): no Signal first.
                self._send(messages.delete_shell(self._shell_id, self.target.operation_timeout))
            except Exception:  # noqa: BLE001 - the host may be gone (rebooting); nothing to keep
                pass
        self._drop()

    def _drop(self) -> None:
        if self._protocol is not None:
            try:
                self._protocol.transport.close_session()
            except Exception:  # noqa: BLE001
                pass
        self._protocol = None
        self._shell_id = None
        self._unsignalled = None

    # -- commands ----------------------------------------------------------------------------
    def run(self, command: str) -> Result:
        if self._protocol is None:
            self._open()
        assert self._protocol is not None and self._shell_id is not None
        try:
            if self._unsignalled is not None:
                self._terminate(self._unsignalled)  # the previous command ended; release it before the next
            command_id = messages.command_id_of(
                self._send(messages.command(self._shell_id, command, self.target.operation_timeout)))
            stdout, stderr, code = self._receive_all(command_id)
            self._unsignalled = command_id
        except Exception as exc:  # noqa: BLE001 - classified below
            error = self._classify(exc, opening=False)
            if isinstance(exc, TransportError) and exc.kind == "timeout":
                self.close()  # our own deadline, on a working connection: delete the shell (MaxShellsPerUser)
            else:
                self._drop()
            raise error from None
        return Result(command=command, stdout=decode_output(stdout), stderr=decode_output(stderr), exit_code=code)

    def _terminate(self, command_id: str) -> None:
        assert self._shell_id is not None
        self._unsignalled = None
        try:
            self._send(messages.signal_terminate(self._shell_id, command_id, self.target.operation_timeout))
        except WinRMError:
            pass  # the command already ended; a failed Signal changes nothing

    def _receive_all(self, command_id: str) -> tuple[bytes, bytes, int]:
        """Receive until Done, but not past portfleet_command_timeout: each Receive asks the host to answer
        within what is left of it (its OperationTimeout; at least 1 s, WS-Man's unit here), so a hung command
        is terminated and reported about a second after its timeout, not up to --timeout later (pywinrm's
        get_command_output re-sends Receive after every TimedOut fault without end)."""
        assert self._shell_id is not None
        deadline = time.monotonic() + self.target.command_timeout
        out: list[bytes] = []
        err: list[bytes] = []
        while True:
            left = deadline - time.monotonic()
            wait = max(1, min(self.target.operation_timeout, math.ceil(left)))
            try:
                got = messages.received(self._send(messages.receive(self._shell_id, command_id, wait)))
            except WinRMOperationTimeoutError:
                got = None  # no output yet; still running
            if got is not None:
                out.append(got.stdout)
                err.append(got.stderr)
                if got.done:
                    return b"".join(out), b"".join(err), got.exit_code
            if time.monotonic() >= deadline:
                self._terminate(command_id)
                raise TransportError(
                    "timeout",
                    f"{self.target.host} ({self.target.endpoint}): command still running after "
                    f"{self.target.command_timeout:g}s (portfleet_command_timeout); terminated",
                )

    # -- errors ------------------------------------------------------------------------------
    def _classify(self, exc: BaseException, *, opening: bool) -> TransportError:
        t = self.target
        where = f"{t.host} ({t.endpoint})"
        if isinstance(exc, TransportError):
            return exc
        name = type(exc).__name__
        if name in ("KerberosExchangeError", "GSSError"):
            # pykerberos' GSS failure (major, minor) texts, wrapped by requests_kerberos; no secret in them.
            kind, what = kerberos.describe(str(exc), t.username, spn=t.spn, manual=t.kinit_manual)
            return TransportError(kind, f"{where}: Kerberos: {what}")
        if name == "MutualAuthenticationError":
            return TransportError("protocol", f"{where}: Kerberos: the host's answer did not prove it holds the key "
                                              f"of {t.spn} (mutual authentication failed)")
        if isinstance(exc, InvalidCredentialsError):
            if t.transport == "kerberos":
                return TransportError("auth_failed", f"{where}: the host refused the Kerberos ticket of {t.username!r} "
                                                     f"for {t.spn} (HTTP 401)")
            if t.transport == "certificate":
                return TransportError("auth_failed", f"{where}: the host refused the client certificate {t.cert_pem} "
                                                     "(HTTP 401): no certificate mapping matches its issuer and UPN, "
                                                     "or Service/Auth/Certificate is off on the host")
            return TransportError("auth_failed", f"{where}: credentials were rejected (HTTP 401) for user {t.username!r}")
        if isinstance(exc, requests.exceptions.SSLError) and t.transport == "certificate" and "alert" in str(exc).lower():
            return TransportError("auth_failed", f"{where}: the host refused the client certificate {t.cert_pem} in "
                                                 "the TLS handshake (not issued by a CA the host trusts?)")
        if isinstance(exc, requests.exceptions.SSLError):
            what = tls_checks.describe_certificate_failure(exc, address=t.address, ca_path=t.ca_trust_path)
            return TransportError("tls", f"{where}: {what}")
        if isinstance(exc, (messages.MessageError, SealedBodyError)):
            return TransportError("protocol", f"{where}: {exc}")
        if isinstance(exc, (requests.exceptions.ConnectTimeout,)):
            return TransportError("unreachable", f"{where}: connection timed out")
        if isinstance(exc, requests.exceptions.ConnectionError):
            text = str(exc)
            if not opening or "reset" in text.lower() or "aborted" in text.lower():
                if "refused" not in text.lower():
                    return TransportError("reset", f"{where}: connection dropped in the middle of a command")
            if "Name or service not known" in text or "getaddrinfo" in text:
                return TransportError("unreachable", f"{where}: host name does not resolve")
            return TransportError("unreachable", f"{where}: connection refused or no route")
        if isinstance(exc, (requests.exceptions.ReadTimeout, socket.timeout, WinRMOperationTimeoutError)):
            return TransportError("timeout", f"{where}: no answer within {t.operation_timeout + 10}s")
        if isinstance(exc, requests.exceptions.ChunkedEncodingError):
            return TransportError("reset", f"{where}: connection dropped in the middle of a command")
        if isinstance(exc, WinRMTransportError):
            code = getattr(exc, "code", None)
            return TransportError("protocol", f"{where}: WinRM service answered HTTP {code}")
        if isinstance(exc, WinRMError):
            # WSManFault text carries the server's message; it never holds our password.
            return TransportError("protocol", f"{where}: WinRM error: {str(exc)[:300]}")
        return TransportError("protocol", f"{where}: {type(exc).__name__}")
