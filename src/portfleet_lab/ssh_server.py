"""The lab's Windows hosts over SSH: a paramiko server per host address in front of `LabHost.execute`,
answering as Windows OpenSSH does with cmd.exe as its default shell.

What a client sees, mirrored from Win32-OpenSSH:
- An `exec` request runs `cmd.exe /c <command>` (Win32-OpenSSH issue #1768: "ssh user@ip <command> ...
  sshd.exe executes (C:\\windows\\system32\\cmd.exe /c <command>)"), so the same interpreter as the
  WinRS shell answers: stdout and stderr on their own streams, cmd's exit code as the exit status.
- Output is in the console code page of the host (its OEM page, e.g. 437 or 850) unless the host
  switched to UTF-8: "It all depends on chcp setting on cmd.exe" (same issue).
- Password authentication with the lab's user and password; interactive shells are not offered.
- No input arrives (portfleet closes stdin): a program that prompts reads end-of-file.

Faults (portfleet_lab.fleet.Faults) as they show over SSH: a host that is down (rebooting) or
`unreachable` has no listener (connection refused) and its connections are dropped; `wrong_password`
refuses the password; `slow_seconds` delays a command's output; `reset_mid_command` drops the
connection after the command ran and before its output is sent. `http_500` has no SSH counterpart.

One host key per lab, kept in the state directory (ssh_host_ed25519_key, mode 0600); the known_hosts
file a client needs is written next to the SSH inventory (`ssh_inventory_document`, `known_hosts_text`).
"""

from __future__ import annotations

import copy
import hmac
import logging
import os
import selectors
import socket
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portfleet_lab.winrs import codec_for

SSH_PORT = 2222  # 22 needs root; every host has its own loopback address, so one port serves all
HOST_KEY_FILE = "ssh_host_ed25519_key"
SYNC_INTERVAL = 0.2  # how soon a host going down or a fault change closes or opens its listener
CLOSE_GRACE = 30.0  # seconds a finished command's channel waits for the client to close it

# A client dropping its connection makes paramiko log "Socket exception: Connection reset by peer":
# routine for a lab whose clients close abruptly, so it is kept off the lab's stderr.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


def load_host_key(state_dir: Path) -> paramiko.PKey:
    """The lab's host key: made once (Ed25519, OpenSSH format, mode 0600), then reused across restarts."""
    path = Path(state_dir) / HOST_KEY_FILE
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        os.replace(tmp, path)
    return paramiko.Ed25519Key.from_private_key_file(str(path))


def known_hosts_text(fleet: Any, port: int, key: paramiko.PKey) -> str:
    """One known_hosts line per host, in OpenSSH's "[address]:port" form for ports other than 22."""
    lines = []
    for host in fleet.hosts:
        name = host.address if port == 22 else f"[{host.address}]:{port}"
        lines.append(f"{name} {key.get_name()} {key.get_base64()}")
    return "\n".join(lines) + "\n"


def ssh_inventory_document(winrm_document: dict[str, Any], *, port: int, known_hosts: Path) -> dict[str, Any]:
    """The WinRM inventory's hosts and groups, reached over SSH instead (ansible_connection: ssh)."""
    doc = copy.deepcopy(winrm_document)
    windows = doc["all"]["children"]["windows"]

    def retarget(hosts: dict[str, Any]) -> None:
        for entry in hosts.values():
            entry["ansible_port"] = port

    retarget(windows.get("hosts", {}))
    for child in windows.get("children", {}).values():
        retarget(child.get("hosts", {}))
    old = windows["vars"]
    windows["vars"] = {
        "ansible_user": old["ansible_user"],
        "ansible_password": old["ansible_password"],
        "ansible_connection": "ssh",
        "portfleet_platform": "windows",
        "portfleet_known_hosts": str(known_hosts),
    }
    return doc


class _Interface(paramiko.ServerInterface):
    """The sshd of one lab host for one connection."""

    def __init__(self, server: "LabSshServer", host: Any, transport: paramiko.Transport) -> None:
        self.server = server
        self.host = host
        self.transport = transport

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_auth_password(self, username: str, password: str) -> int:
        fleet = self.server.fleet
        if self.host.faults.wrong_password:
            return paramiko.AUTH_FAILED
        user_ok = username.lower() == fleet.username.lower()  # Windows user names are case-insensitive
        pass_ok = hmac.compare_digest(password.encode("utf-8"), fleet.password.encode("utf-8"))
        return paramiko.AUTH_SUCCESSFUL if user_ok and pass_ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        line = command.decode("utf-8", errors="replace")
        threading.Thread(target=self.server._run, args=(self.host, self.transport, channel, line),
                         name=f"lab-ssh-exec-{self.host.name}", daemon=True).start()
        return True


class LabSshServer:
    """SSH listeners on (host address, port) for every lab host that is up and reachable."""

    def __init__(self, fleet: Any, host_key: paramiko.PKey, *, port: int = SSH_PORT) -> None:
        self.fleet = fleet
        self.host_key = host_key
        self.port = port
        self._listeners: dict[str, socket.socket] = {}
        self._transports: dict[str, set[paramiko.Transport]] = {h.name: set() for h in fleet.hosts}
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Listen for every host that is up (raises OSError naming the address on failure)."""
        for host in self.fleet.hosts:
            self._sync(host, strict=True)
        self._thread = threading.Thread(target=self._loop, name="lab-ssh", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for host in self.fleet.hosts:
            self._close_host(host)
        self._selector.close()

    # --- listeners ---------------------------------------------------------------------------------
    def _sync(self, host: Any, *, strict: bool = False) -> None:
        should = host.is_up and not host.faults.unreachable
        listening = host.name in self._listeners
        if should and not listening:
            try:
                sock = socket.create_server((host.address, self.port), backlog=64, reuse_port=False)
            except OSError as exc:
                if strict:
                    raise OSError(exc.errno, f"cannot listen on {host.address}:{self.port} (ssh): {exc.strerror}") from exc
                print(f"lab: cannot listen on {host.address}:{self.port} (ssh): {exc.strerror}", file=sys.stderr, flush=True)
                return
            sock.setblocking(False)
            self._listeners[host.name] = sock
            self._selector.register(sock, selectors.EVENT_READ, host)
        elif not should and listening:
            self._close_host(host)

    def _close_host(self, host: Any) -> None:
        """No listener (connection refused) and every open connection dropped, as a machine going down."""
        sock = self._listeners.pop(host.name, None)
        if sock is not None:
            try:
                self._selector.unregister(sock)
            except (KeyError, ValueError):
                pass
            sock.close()
        with self._lock:
            transports = list(self._transports.get(host.name, ()))
            self._transports.get(host.name, set()).clear()
        for transport in transports:
            transport.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                for key, _ in self._selector.select(SYNC_INTERVAL):
                    self._accept(key.fileobj, key.data)
                for host in self.fleet.hosts:
                    self._sync(host)
                with self._lock:  # forget connections the clients closed
                    for transports in self._transports.values():
                        transports.difference_update([t for t in transports if not t.is_active()])
            except Exception:  # a bug must not take the listeners down silently
                traceback.print_exc(file=sys.stderr)

    def _accept(self, sock: Any, host: Any) -> None:
        try:
            conn, _ = sock.accept()
        except (BlockingIOError, OSError):
            return
        conn.setblocking(True)
        transport = paramiko.Transport(conn)
        transport.add_server_key(self.host_key)
        with self._lock:
            self._transports.setdefault(host.name, set()).add(transport)
        # With an event, start_server returns at once; the transport's own thread negotiates.
        transport.start_server(event=threading.Event(), server=_Interface(self, host, transport))

    # --- commands ----------------------------------------------------------------------------------
    def _run(self, host: Any, transport: paramiko.Transport, channel: paramiko.Channel, line: str) -> None:
        try:
            result = host.execute(line)
            if host.faults.slow_seconds:
                self._stop.wait(host.faults.slow_seconds)
            if host.faults.reset_mid_command:
                transport.close()  # the command has run; its output never leaves the host
                return
            codec = codec_for(host.oem_codepage)
            if result.stdout:
                channel.sendall(result.stdout.encode(codec, errors="replace"))
            if result.stderr:
                channel.sendall_stderr(result.stderr.encode(codec, errors="replace"))
            channel.shutdown_write()  # end of output (EOF) ...
            # ... then the exit status, as OpenSSH sends them. A prompt that read end-of-file
            # (waiting_for_input) leaves the exit code a terminated program would.
            channel.send_exit_status(result.exit_code)
            # The client closes the channel once it has both. Closing it from here first could
            # overtake the transport thread's reply to the exec request (this thread starts before
            # that reply is sent), and a client still waiting for the reply reads "channel closed".
            channel.status_event.wait(CLOSE_GRACE)
        except Exception:  # noqa: BLE001 - a model bug: drop this command, keep serving
            if transport.is_active():
                traceback.print_exc(file=sys.stderr)
        finally:
            channel.close()
            with self._lock:
                if not transport.is_active():
                    self._transports.get(host.name, set()).discard(transport)
