"""The lab's WinRM endpoints: per host, a listener on (address, 5985) and with HTTPS (address, 5986), the
request path of `POST /wsman` (HTTP -> auth -> message encryption -> WS-Man -> WinRS), tick timers that take
hosts down and up for reboots, and fault enforcement.

Faults (portfleet_lab.fleet.Faults), as a client sees them:
- unreachable: no listener, so connection refused; open connections are aborted.
- wrong_password: the host does not accept the lab password: 401 (pywinrm: InvalidCredentialsError). Checked
  when a client authenticates: a connection NTLM-authenticated before the fault keeps working, as on Windows
  after a password change.
- slow_seconds: a command's output becomes available only that many real seconds after Command; a Receive
  waiting longer than its OperationTimeout gets the TimedOut fault and pywinrm re-sends it.
- reset_mid_command: the TCP connection is aborted (RST) when a command's output is requested (Receive);
  the command itself has run.
- http_500: every POST /wsman is answered HTTP 500.
A host that is down (rebooting) has no listener, like an unreachable one.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from portfleet_lab import encryption, identify, wsman
from portfleet_lab.auth import Authenticator, ConnectionAuth, HostIdentity
from portfleet_lab.http import Connection, Listener, Request, Response
from portfleet_lab.tls import LabTls
from portfleet_lab.winrs import ResetConnection, ShellService

HTTP_PORT = 5985
HTTPS_PORT = 5986
TICK_MAX_INTERVAL = 0.2
IDLE_SWEEP_INTERVAL = 60.0
SOAP_CONTENT_TYPE = "application/soap+xml;charset=UTF-8"


@dataclass
class HostEndpoint:
    host: Any  # portfleet_lab.fleet.LabHost
    shells: ShellService
    listeners: list[Listener] = field(default_factory=list)
    spn: str | None = None  # "HTTP@<fqdn>" when the lab runs a KDC
    last_logon: dict[str, Any] | None = None  # who authenticated last, how (control channel, tests)
    tls_binding: bytes | None = None  # the HTTPS listener's channel binding data (auth.py: CbtHardeningLevel)

    def identity(self) -> HostIdentity:
        return HostIdentity(self.host.name, self.spn, bool(self.host.faults.wrong_password), self.tls_binding)

    @property
    def listening(self) -> bool:
        return any(listener.listening for listener in self.listeners)

    @property
    def connections(self) -> int:
        return sum(len(listener.connections) for listener in self.listeners)


class LabServer:
    def __init__(
        self,
        fleet: Any,
        authenticator: Authenticator,
        *,
        tls: LabTls | None = None,
        allow_unencrypted: bool = False,
        latency: float = 0.0,
        http_port: int = HTTP_PORT,
        https_port: int = HTTPS_PORT,
        spns: dict[str, str] | None = None,
    ) -> None:
        self.fleet = fleet
        self.auth = authenticator
        self.tls = tls
        self.allow_unencrypted = allow_unencrypted
        self.latency = max(0.0, latency)
        self.http_port = http_port
        self.https_port = https_port
        self.endpoints: dict[str, HostEndpoint] = {
            h.name: HostEndpoint(h, ShellService(h), spn=(spns or {}).get(h.name)) for h in fleet.hosts
        }
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    # --- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the listeners of every host that is up and reachable, then start the tick timers."""
        for endpoint in self.endpoints.values():
            await self.sync(endpoint.host.name, strict=True)
        self._tasks.append(asyncio.create_task(self._tick_loop(), name="lab-tick"))
        self._tasks.append(asyncio.create_task(self._idle_sweep_loop(), name="lab-idle-sweep"))

    async def close(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        for endpoint in self.endpoints.values():
            self._close_listeners(endpoint)

    def ports(self) -> list[int]:
        return [self.http_port] + ([self.https_port] if self.tls else [])

    async def sync(self, name: str, *, strict: bool = False) -> None:
        """Make the host's listeners match its state: listen iff up and not unreachable."""
        endpoint = self.endpoints[name]
        host = endpoint.host
        if not host.is_up:
            endpoint.shells.clear()  # the WinRM service restarts with the machine
        should_listen = host.is_up and not host.faults.unreachable
        if should_listen and not endpoint.listening:
            try:
                await self._open_listeners(endpoint)
            except OSError as exc:
                self._close_listeners(endpoint)
                reason = os.strerror(exc.errno) if exc.errno else str(exc)
                if strict:
                    raise OSError(exc.errno, f"cannot listen on {host.address}: {reason}") from exc
                print(f"lab: cannot listen on {host.address}: {reason}", file=sys.stderr, flush=True)
        elif not should_listen and endpoint.listening:
            self._close_listeners(endpoint)

    async def _open_listeners(self, endpoint: HostEndpoint) -> None:
        host = endpoint.host

        async def handler(request: Request, conn: Connection) -> Response:
            return await self.handle(endpoint, request, conn)

        http = Listener(handler)
        await http.start(host.address, self.http_port)
        endpoint.listeners = [http]
        if self.tls is not None:
            https = Listener(handler)
            context = self.tls.server_context(host.name, host.address, self.auth.config.certificate)
            endpoint.tls_binding = self.tls.channel_binding(host.name, host.address)
            await https.start(host.address, self.https_port, context)
            endpoint.listeners.append(https)

    @staticmethod
    def _close_listeners(endpoint: HostEndpoint) -> None:
        for listener in endpoint.listeners:
            listener.close(abort_connections=True)
        endpoint.listeners = []

    async def _tick_loop(self) -> None:
        while not self._stopping:
            try:
                events = self.fleet.tick()
            except Exception as exc:  # a model bug must not take the whole lab down
                print(f"lab: tick failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
                events = []
            for _kind, host in events:
                await self.sync(host.name)
            wait = self.fleet.seconds_to_next_event()
            wait = TICK_MAX_INTERVAL if wait is None else min(max(wait, 0.005), TICK_MAX_INTERVAL)
            await asyncio.sleep(wait)

    async def _idle_sweep_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(IDLE_SWEEP_INTERVAL)
            now = time.monotonic()
            for endpoint in self.endpoints.values():
                endpoint.shells.expire_idle(now)

    # --- requests ----------------------------------------------------------------------------------

    async def handle(self, endpoint: HostEndpoint, request: Request, conn: Connection) -> Response:
        if self.latency:
            await asyncio.sleep(self.latency)
        host = endpoint.host
        if request.path.lower() != "/wsman":
            return Response(404)  # HTTP.sys: no URL reservation there
        if request.method != "POST":
            return Response(405, [("Allow", "POST")])
        if host.faults.http_500:
            return Response(500)
        if identify.wants_unauthenticated(request.headers.get(identify.UNAUTHENTICATED_HEADER)) and identify.is_identify(
            request.body
        ):
            # `winrm id -a:none`, Test-WSMan: answered without credentials, the OS version hidden.
            return Response(200, [("Content-Type", SOAP_CONTENT_TYPE)], identify.identify_response())
        state: ConnectionAuth = conn.state.setdefault("auth", ConnectionAuth())
        outcome = self.auth.authenticate(
            request.headers.get("Authorization"), state, host=endpoint.identity(), tls=conn.tls,
            peer_cert=conn.peer_certificate() if conn.tls else None,
        )
        if outcome.user is None:
            return Response(outcome.status, outcome.headers)
        if request.headers.get("Authorization"):
            endpoint.last_logon = {"user": outcome.user, "protocol": state.protocol or outcome.scheme,
                                   "delegated": state.delegated, "tls": conn.tls, "channel_bound": state.bound}
        headers = list(outcome.headers)
        sealer = state.sealer if outcome.scheme == "negotiate" else None
        body = request.body
        encrypted = encryption.is_encrypted(request.headers.get("Content-Type"))
        if encrypted:
            if sealer is None:
                return Response(400, headers)
            try:
                body = encryption.unwrap_message(body, sealer.unwrap_winrm)  # type: ignore[attr-defined]
            except encryption.EncryptionError:
                return Response(400, headers)
        elif body and not conn.tls and not self.allow_unencrypted:
            # AllowUnencrypted=false: an authenticated but unsealed SOAP body over HTTP is refused with 500
            # (https://github.com/diyan/pywinrm/issues/129: "raise error 500 and event log show message that
            # server receive unencrypted message").
            return Response(500, headers)
        if not body:
            # pywinrm sends an empty POST to establish the NTLM context before sealing (setup_encryption).
            return Response(200, headers)
        if identify.is_identify(body):
            payload = identify.identify_response(identify.product_version(getattr(host.state, "os_version", None)))
            if encrypted and sealer is not None:
                headers.append(("Content-Type", encryption.CONTENT_TYPE))
                return Response(200, headers, encryption.wrap_message(payload, sealer))  # type: ignore[arg-type]
            return Response(200, headers + [("Content-Type", SOAP_CONTENT_TYPE)], payload)
        message_id = ""
        try:
            req = wsman.parse_request(body)
            message_id = req.message_id
            address = req.to or f"{'https' if conn.tls else 'http'}://{host.address}:{conn.local[1]}/wsman"
            payload = await endpoint.shells.handle(req, user=outcome.user, client_ip=conn.peer_ip, address=address)
            status = 200
        except ResetConnection:
            return Response(0, reset=True)
        except wsman.WsmanFault as fault:
            payload = wsman.fault_response(message_id, fault, machine=str(conn.local[0] or host.address))
            status = fault.http_status
        except Exception:  # a model bug: answer like a failing plugin, keep serving, show the traceback
            traceback.print_exc(file=sys.stderr)
            fault = wsman.fault_internal_error()
            payload = wsman.fault_response(message_id, fault, machine=str(conn.local[0] or host.address))
            status = fault.http_status
        if conn.closed:
            return Response(0, reset=True)  # the host went down while the request waited
        if encrypted and sealer is not None:
            payload = encryption.wrap_message(payload, sealer)  # type: ignore[arg-type]
            headers.append(("Content-Type", encryption.CONTENT_TYPE))
        else:
            headers.append(("Content-Type", SOAP_CONTENT_TYPE))
        return Response(status, headers, payload)

    # --- introspection for the control channel -----------------------------------------------------

    def endpoint_info(self, name: str) -> dict[str, Any]:
        endpoint = self.endpoints[name]
        return {
            "name": name,
            "address": endpoint.host.address,
            "ports": self.ports(),
            "listening": endpoint.listening,
            "connections": endpoint.connections,
            "shells": len(endpoint.shells.shells),
            "commands": sum(len(s.commands) for s in endpoint.shells.shells.values()),
            "spn": endpoint.spn,
            "last_logon": endpoint.last_logon,
        }
