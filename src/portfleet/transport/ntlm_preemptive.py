"""NTLM over plain HTTP with the NEGOTIATE message in the first request: one round trip less per host.

requests_ntlm waits for a 401 before it starts NTLM, so pywinrm's first request (setup_encryption's empty POST)
is answered "401 WWW-Authenticate: Negotiate" only to learn what both sides knew: three requests before the
shell's Create, where two do. RFC 4559 lets a client send its first token without a prior challenge (curl --ntlm
and requests_kerberos' force_preemptive, which pywinrm uses for Kerberos, do); HTTP.sys answers with the
CHALLENGE at once. The AUTHENTICATE message, the session keys and the sealing are pyspnego's, exactly as
requests_ntlm makes them; only the first round trip goes.

Plain HTTP only: over HTTPS the AUTHENTICATE message carries channel bindings of the server's certificate, known
after the TLS handshake (requests_ntlm takes them from the 401 response), so HTTPS keeps requests_ntlm's flow.
A server that answers the NEGOTIATE with no challenge gets requests_ntlm's own handling of that 401.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlparse

import requests
import spnego
from requests_ntlm import HttpNtlmAuth
from requests_ntlm.requests_ntlm import ShimSessionSecurity

from portfleet.transport.ntlm_http import challenge_token

SCHEME = "Negotiate"  # what a WinRM listener offers (WWW-Authenticate: Negotiate); the token inside is NTLM


class PreemptiveNtlmAuth(HttpNtlmAuth):
    def __init__(self, username: str | None, password: str | None, send_cbt: bool = True) -> None:
        super().__init__(username, password, send_cbt=send_cbt)
        self._pending: Any = None  # the client context between NEGOTIATE and CHALLENGE

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r = super().__call__(r)
        if self.session_security is None and self._pending is None and str(r.url).startswith("http://"):
            client = spnego.client(self.username, self.password, protocol="ntlm",
                                   hostname=urlparse(str(r.url)).hostname, service="http",
                                   options=spnego.NegotiateOptions.use_ntlm)
            r.headers["Authorization"] = f"{SCHEME} {base64.b64encode(client.step() or b'').decode()}"
            self._pending = client
        return r

    def response_hook(self, r: requests.Response, **kwargs: Any) -> requests.Response:
        client, self._pending = self._pending, None
        if client is None or r.status_code != 401:
            return super().response_hook(r, **kwargs)
        challenge = challenge_token(r.headers.get("www-authenticate", ""))
        if challenge is None:
            return r  # NEGOTIATE refused outright (NTLM off by policy): the 401 stands, as with requests_ntlm
        r.content  # release the connection: NTLM authenticates it, the AUTHENTICATE goes on the same one
        r.raw.release_conn()
        request = r.request.copy()
        if r.headers.get("set-cookie"):
            request.headers["Cookie"] = r.headers["set-cookie"]
        request.headers["Authorization"] = f"{SCHEME} {base64.b64encode(client.step(challenge) or b'').decode()}"
        final = r.connection.send(request, **kwargs)  # type: ignore[attr-defined]
        final.history.append(r)
        self.session_security = ShimSessionSecurity(client)
        return final


def install(session: requests.Session) -> None:
    """Replace pywinrm's HttpNtlmAuth on `session` (plain HTTP endpoints; the same credentials and CBT flag)."""
    current = session.auth
    if isinstance(current, HttpNtlmAuth) and not isinstance(current, PreemptiveNtlmAuth):
        session.auth = PreemptiveNtlmAuth(current.username, current.password, send_cbt=current.send_cbt)
