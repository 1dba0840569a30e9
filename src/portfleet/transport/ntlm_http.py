"""WinRM with NTLM on one http.client connection: the transport under winrm.Protocol for Windows' default listener
(HTTP 5985, Negotiate, AllowUnencrypted false: every message sealed) and for HTTPS listeners (5986: TLS carries the
messages, NTLM is bound to the host's certificate; transport/tls_client.py).

Why not pywinrm's own Transport here: it goes through requests and urllib3, whose Python per request
(Session.prepare_request, merge_setting's runtime-checked protocols, hooks, the cookie jar, the connection pool,
Retry objects) cost more controller CPU per host than everything else portfleet does for an audit (measured in
docs/benchmarks.md). On this path none of that machinery is used: one endpoint, one persistent connection that
NTLM authenticates, no proxy, no redirects. So this class speaks the same bytes with http.client:

1. POST (empty) with `Authorization: Negotiate <NTLM NEGOTIATE>`; the host answers 401 with its CHALLENGE
   (the NEGOTIATE goes in the first request as curl --ntlm and transport/ntlm_preemptive.py do: RFC 4559 allows
   it, HTTP.sys answers it);
2. POST (empty) with the AUTHENTICATE: 200, the connection is authenticated;
3. over HTTP every WS-Man message sealed with the session's keys (transport/sealed_body.py), the answer unsealed;
   over HTTPS the messages as they are (pywinrm's message_encryption "auto"), the AUTHENTICATE carrying the
   channel bindings of the host's certificate.

The same requests pywinrm + requests_ntlm send (headers, empty bodies, the LM:NT hash form of ntlm_hash.py,
pyspnego's NTLM client with the same options), so the host sees no difference. The contract towards winrm.Protocol
is pywinrm's Transport's: send_message returns the answer's plaintext; HTTP 401 raises InvalidCredentialsError;
another HTTP error raises WinRMTransportError("http", code, text), from which Protocol reads a SOAP fault
(WSManFaultError, WinRMOperationTimeoutError). Network and TLS failures are classified here (TransportError),
where it is known whether the connection had been made. Proxies, Kerberos, Basic and client certificates keep
pywinrm's Transport (transport/winrm.py chooses), as does any host with `portfleet_http_client: requests`.

The host's answers are untrusted: at most MAX_ANSWER bytes are read (http.client bounds header lines and count),
the sealed body is parsed by sealed_body.open_body, and a connection the host closed is never silently
re-opened (a new connection would be unauthenticated: NTLM binds the connection).
"""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Mapping, NoReturn

import spnego
from winrm.exceptions import InvalidCredentialsError, WinRMTransportError

from portfleet.transport import answer_deadline, sealed_body, tls_checks, tls_client
from portfleet.transport.base import TransportError

# pywinrm's default headers (winrm.transport.Transport.default_headers) and requests_ntlm's Connection, on every
# request.
_HEADERS = {"Content-Type": "application/soap+xml;charset=UTF-8", "User-Agent": "Python WinRM client",
            "Connection": "Keep-Alive"}
# A sealed answer is at most MaxEnvelopeSize (153,600 bytes asked) plus framing; an error page is small. The cap
# only keeps a hostile or broken host from filling the controller's memory.
MAX_ANSWER = 8 * 1024 * 1024
_MAX_COOKIES = 20  # a load balancer's affinity cookie or two; anything beyond is not kept


class NtlmHttpTransport:
    """One host's WinRM connection, authenticated with NTLM on first use; over HTTP every message is sealed."""

    def __init__(self, *, address: str, port: int, path: str, username: str, password: str,
                 connect_timeout: float, read_timeout: float, where: str, https: bool = False,
                 verify: bool = True, ca_path: str | None = None) -> None:
        self._address, self._port, self._path = address, port, path
        self._https, self._verify, self._ca_path = https, verify, ca_path
        self._bindings: spnego.channel_bindings.GssChannelBindings | None = None  # HTTPS: of the host's certificate
        self._username, self._password = username, password  # the LM:NT hash form; never in repr or errors
        self._connect_timeout, self._read_timeout = connect_timeout, read_timeout
        self._where = where  # "host (endpoint)", the prefix of every error
        self._connection: http.client.HTTPConnection | None = None
        self._context: spnego.ContextProxy | None = None
        self._cookies: dict[str, str] = {}

    def __repr__(self) -> str:  # keep the credentials out of logs and tracebacks
        return f"NtlmHttpTransport({self._where})"

    # -- pywinrm's Transport contract -----------------------------------------------------------
    def send_message(self, message: str | bytes) -> bytes:
        context = self._context or self._authenticate()
        plaintext = message.encode("utf-8") if isinstance(message, str) else message
        if self._https:  # TLS protects the message; the host answers in clear inside it
            answer = self._post(plaintext, {})
        else:
            wrapped = context.wrap_winrm(plaintext)
            answer = self._post(sealed_body.seal_body(plaintext, wrapped.header, wrapped.data),
                                {"Content-Type": sealed_body.CONTENT_TYPE})
        body = answer.body
        if not self._https and sealed_body.is_sealed(answer.content_type):
            body = sealed_body.open_body(body, context.unwrap_winrm)
        if 200 <= answer.status < 300:
            return body
        if answer.status == 401:
            raise InvalidCredentialsError("the specified credentials were rejected by the server")
        raise WinRMTransportError("http", answer.status, body.decode("utf-8", "replace"))

    def close_session(self) -> None:
        connection, self._connection, self._context = self._connection, None, None
        if connection is not None:
            connection.close()

    # -- NTLM -------------------------------------------------------------------------------------
    def _authenticate(self) -> spnego.ContextProxy:
        if self._connection is None:
            self._connect()  # over HTTPS the channel bindings need the host's certificate before the NEGOTIATE
        client = spnego.client(self._username, self._password, protocol="ntlm", hostname=self._address,
                               service="http", channel_bindings=self._bindings,
                               options=spnego.NegotiateOptions.use_ntlm)
        answer = self._post(b"", {"Authorization": _negotiate(client.step() or b"")})
        challenge = challenge_token(answer.authenticate)
        if answer.status != 401 or challenge is None:
            self._refuse(answer.status, "answered the NTLM NEGOTIATE without a CHALLENGE")
        try:
            authenticate = client.step(challenge)
        except Exception:  # noqa: BLE001 - pyspnego's parse errors of the host's (untrusted) CHALLENGE
            raise TransportError("protocol", f"{self._where}: the host's NTLM CHALLENGE could not be read") from None
        answer = self._post(b"", {"Authorization": _negotiate(authenticate or b"")})
        if not 200 <= answer.status < 300 or not client.complete:
            self._refuse(answer.status, "did not accept the NTLM AUTHENTICATE")
        self._context = client
        return client

    def _refuse(self, status: int, what: str) -> NoReturn:
        """A handshake answer that authenticates nothing, raised as pywinrm's Transport would raise it."""
        if status == 401:
            raise InvalidCredentialsError("the specified credentials were rejected by the server")
        if status >= 300:
            raise WinRMTransportError("http", status, "")
        raise TransportError("protocol", f"{self._where}: the WinRM service {what} (HTTP {status})")

    # -- HTTP -------------------------------------------------------------------------------------
    def _post(self, body: bytes, headers: Mapping[str, str]) -> _Answer:
        """One request on the host's one connection, its answer read whole (at most MAX_ANSWER bytes)."""
        connection = self._connection or self._connect()
        sent = dict(_HEADERS)
        sent.update(headers)
        if self._cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self._cookies.items())
        try:
            if connection.sock is None:  # the host closed it after its last answer (see _connect)
                raise http.client.NotConnected()
            connection.sock.settimeout(self._read_timeout)  # sending; the answer gets what is left (answer_deadline)
            connection.response_class = answer_deadline.deadline_response(time.monotonic() + self._read_timeout)
            connection.request("POST", self._path, body=body, headers=sent)
            response = connection.getresponse()
            data = response.read(MAX_ANSWER + 1)
        except socket.timeout:  # no answer, or not all of it, within the read timeout
            self.close_session()
            raise TransportError("timeout", f"{self._where}: no answer within {self._read_timeout:g}s") from None
        except (OSError, http.client.IncompleteRead, http.client.NotConnected):
            # OSError holds RemoteDisconnected (a ConnectionResetError); NotConnected: the host closed it before.
            self.close_session()
            raise TransportError("reset", f"{self._where}: connection dropped in the middle of a command") from None
        except http.client.HTTPException as exc:  # no HTTP status line, header lines too long or too many
            self.close_session()
            raise TransportError("protocol", f"{self._where}: the answer is not HTTP ({type(exc).__name__})") \
                from None
        if len(data) > MAX_ANSWER:
            self.close_session()
            raise TransportError("protocol", f"{self._where}: the answer is larger than {MAX_ANSWER // 2**20} MiB")
        self._keep_cookies(response.msg.get_all("Set-Cookie") or [])
        return _Answer(response.status, response.getheader("Content-Type") or "", data,
                       ", ".join(response.msg.get_all("WWW-Authenticate") or []))

    def _connect(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection
        if self._https:
            try:
                context = tls_client.client_context(self._verify, self._ca_path)
            except ssl.SSLError:
                raise TransportError("tls", f"{self._where}: the CA bundle {self._ca_path} holds no certificate "
                                            "OpenSSL can read") from None
            connection = http.client.HTTPSConnection(self._address, self._port, timeout=self._connect_timeout,
                                                     context=context)
        else:
            connection = http.client.HTTPConnection(self._address, self._port, timeout=self._connect_timeout)
        # NTLM authenticates this one connection: once the host closes it (Connection: close, idle timeout), the
        # next request raises NotConnected instead of http.client opening an unauthenticated one unnoticed.
        connection.auto_open = 0
        try:
            connection.connect()
        except socket.gaierror:
            raise TransportError("unreachable", f"{self._where}: host name does not resolve") from None
        except socket.timeout:
            raise TransportError("unreachable", f"{self._where}: connection timed out") from None
        except ssl.SSLError as exc:  # the certificate refused (which check: tls_checks), or no TLS at all
            connection.close()
            what = tls_checks.describe_certificate_failure(exc, address=self._address, ca_path=self._ca_path)
            raise TransportError("tls", f"{self._where}: {what}") from None
        except OSError:
            raise TransportError("unreachable", f"{self._where}: connection refused or no route") from None
        if self._https:  # (the read timeout is set per request, in _post)
            assert connection.sock is not None
            der = connection.sock.getpeercert(binary_form=True)  # type: ignore[attr-defined]
            digest = tls_client.certificate_hash(der) if der else None
            self._bindings = (spnego.channel_bindings.GssChannelBindings(
                application_data=b"tls-server-end-point:" + digest) if digest else None)
        self._connection = connection
        return connection

    def _keep_cookies(self, values: list[str]) -> None:
        """What requests' cookie jar would send back to this one endpoint: name=value of each Set-Cookie."""
        for value in values:
            name, sep, rest = value.split(";", 1)[0].partition("=")
            name = name.strip()
            if sep and name and len(value) <= 4096 and (name in self._cookies or len(self._cookies) < _MAX_COOKIES):
                self._cookies[name] = rest.strip()


@dataclass(frozen=True)
class _Answer:
    status: int
    content_type: str
    body: bytes
    authenticate: str  # the WWW-Authenticate headers, joined


def _negotiate(token: bytes) -> str:
    return "Negotiate " + base64.b64encode(token).decode("ascii")


def challenge_token(header: str) -> bytes | None:
    """The NTLM token in `WWW-Authenticate: Negotiate <base64>` (or NTLM <base64>), else None."""
    for part in header.split(","):
        word, _, value = part.strip().partition(" ")
        if word.lower() in ("negotiate", "ntlm") and value.strip():
            try:
                return base64.b64decode(value.strip(), validate=True)
            except ValueError:
                return None
    return None
