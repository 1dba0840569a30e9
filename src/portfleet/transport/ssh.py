"""SSH transport on fabric's `Connection`: one connection and one authentication per host per run.

Every command is one `exec` channel on that connection (as `ssh host CMD` would open), so a host costs
one TCP connection however many commands a run sends (DESIGN "Rules that matter"). Linux hosts run
the command through the login shell (`sh -c` semantics); Windows hosts with OpenSSH run it as
`cmd.exe /c <command>` when cmd.exe is the default shell, Windows OpenSSH's default (Win32-OpenSSH
issue #1768: "sshd.exe executes C:\\windows\\system32\\cmd.exe /c <command>"), so the Windows
templates go over unchanged.

Host keys are checked against a known_hosts file by default (OpenSSH's StrictHostKeyChecking=yes): an
unknown or changed key is refused with TransportError kind "hostkey" saying which host, which key
and fingerprint, which file, and how to accept it. `ansible_ssh_host_key_checking: false` (or
`ansible_host_key_checking`) turns the check off for a host, as in Ansible; `portfleet_known_hosts`
names the file (default ~/.ssh/known_hosts). portfleet never writes to known_hosts.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import select
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import fabric
import paramiko
from paramiko.ssh_exception import (
    AuthenticationException,
    BadHostKeyException,
    NoValidConnectionsError,
    PasswordRequiredException,
    SSHException,
)

from portfleet.transport.base import Result, TransportError, connect_with_retries, decode_output

DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
READ_CHUNK = 65536
# Windows OpenSSH hands cmd.exe's output through in the console code page (OEM, e.g. 437/850) unless
# the host switched to UTF-8: decoded as the WinRM transport does (transport.base.decode_output).
# What `uname -s` answers on the platforms portfleet manages; cmd.exe answers 9009 ("'uname' is not
# recognized as an internal or external command"), which means Windows.
UNAME_PLATFORMS = {"linux": "linux"}

# paramiko logs socket errors itself; portfleet reports them classified (TransportError), so its
# records must not reach stderr through logging's last-resort handler.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint: base64 of the SHA-256 of the key blob, without padding."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def known_hosts_name(address: str, port: int) -> str:
    """The name a known_hosts line carries for this endpoint (OpenSSH writes [addr]:port off port 22)."""
    return address if port == 22 else f"[{address}]:{port}"


@dataclass(frozen=True)
class SSHTarget:
    """Where and how to reach one host; the password lives only here, never in repr()."""

    host: str
    address: str
    port: int = 22
    username: str = ""
    password: str | None = None
    key_filename: str | None = None
    known_hosts: str = DEFAULT_KNOWN_HOSTS
    host_key_checking: bool = True
    connect_timeout: float = 10.0
    operation_timeout: float = 60.0
    connect_retries: int = 2
    platform: str | None = None  # portfleet_platform; None: ask the host (`uname -s`)

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        auth = "key" if self.key_filename else ("password" if self.password else "agent/default keys")
        return (f"SSHTarget(host={self.host!r}, endpoint={self.endpoint!r}, username={self.username!r}, "
                f"auth={auth!r}, host_key_checking={self.host_key_checking!r})")

    __str__ = __repr__

    @property
    def endpoint(self) -> str:
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"ssh://{address}:{self.port}"

    @property
    def known_hosts_path(self) -> Path:
        return Path(self.known_hosts).expanduser()


class _HostKeyRefused(Exception):
    """Raised by the missing-host-key policy: the key is not in known_hosts (message is final)."""


class _RejectUnknown(paramiko.MissingHostKeyPolicy):
    """StrictHostKeyChecking=yes: never accept (nor save) a key the known_hosts file lacks."""

    def __init__(self, target: SSHTarget) -> None:
        self.target = target

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        t = self.target
        path = t.known_hosts_path
        where = f"{path}" if path.is_file() else f"{path} (no such file)"
        raise _HostKeyRefused(
            f"{t.host} ({t.address}:{t.port}): unknown host key {key.get_name()} {fingerprint(key)}: "
            f"{hostname} is not in {where}. Check the fingerprint with the host's owner, then accept it: "
            f"ssh-keyscan -p {t.port} -t {_keyscan_type(key)} {t.address} >> {path} "
            f"(or set ansible_ssh_host_key_checking: false for this host)"
        )


class _AcceptUnchecked(paramiko.MissingHostKeyPolicy):
    """ansible_ssh_host_key_checking: false: accept any key, remember nothing."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        return None


def _keyscan_type(key: paramiko.PKey) -> str:
    name = key.get_name()
    return {"ssh-ed25519": "ed25519", "ssh-rsa": "rsa"}.get(name, "ecdsa" if name.startswith("ecdsa") else name)


class SSHSession:
    """One host, one SSH connection, opened on the first command; closed by close() / the with block."""

    def __init__(self, target: SSHTarget) -> None:
        self.target = target
        self.host = target.host
        self._conn: fabric.Connection | None = None
        self._platform = target.platform

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> "SSHSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connection(self) -> fabric.Connection:
        t = self.target
        connect_kwargs: dict = {
            "banner_timeout": t.connect_timeout,
            "auth_timeout": t.connect_timeout,
        }
        explicit = bool(t.key_filename or t.password)
        if t.key_filename:
            connect_kwargs["key_filename"] = [str(Path(t.key_filename).expanduser())]
        if t.password:
            connect_kwargs["password"] = t.password
        # With credentials in the inventory, use only those: an agent or ~/.ssh/id_* of the operator
        # must not log in instead of (and hide the failure of) the configured key.
        connect_kwargs["look_for_keys"] = not explicit
        connect_kwargs["allow_agent"] = not explicit
        # lazy + an empty SSHConfig: no ~/.ssh/config, /etc/ssh/ssh_config or invoke/fabric config
        # files steer the connection; the inventory is the one source of truth, as for WinRM hosts.
        config = fabric.Config(lazy=True, ssh_config=paramiko.SSHConfig())
        conn = fabric.Connection(
            host=t.address, port=t.port, user=t.username or None, config=config,
            connect_timeout=max(1, int(round(t.connect_timeout))), connect_kwargs=connect_kwargs,
        )
        client = conn.client
        if t.host_key_checking:
            path = t.known_hosts_path
            if path.is_file():
                try:
                    client.get_host_keys().load(str(path))
                except (OSError, SSHException) as exc:
                    raise TransportError("hostkey", f"{t.host}: cannot read known_hosts file {path}: {exc}") from None
            client.set_missing_host_key_policy(_RejectUnknown(t))
        else:
            client.set_missing_host_key_policy(_AcceptUnchecked())
        return conn

    def _open(self) -> fabric.Connection:
        def connect() -> fabric.Connection:
            conn = self._connection()  # an unreadable known_hosts: TransportError "hostkey", not retried
            try:
                conn.open()
            except Exception:
                _quiet_close(conn)
                raise
            return conn

        self._conn = connect_with_retries(connect, lambda exc: self._classify(exc, opening=True),
                                          self.target.connect_retries)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            _quiet_close(self._conn)
        self._conn = None

    # -- platform ----------------------------------------------------------------------------
    @property
    def platform(self) -> str:
        """portfleet_platform, else what the host says: `uname -s` (Linux) or cmd.exe's 9009 (Windows)."""
        if self._platform is None:
            answer = self.run("uname -s")
            if answer.exit_code != 0:
                self._platform = "windows"
            else:
                name = answer.stdout.strip().splitlines()[0].strip() if answer.stdout.strip() else ""
                platform = UNAME_PLATFORMS.get(name.lower())
                if platform is None:
                    raise TransportError(
                        "protocol",
                        f"{self.host}: `uname -s` says {name or '(nothing)'!r}; portfleet manages Linux and Windows "
                        "hosts: set portfleet_platform: linux or windows if this is one of them",
                    )
                self._platform = platform
        return self._platform

    # -- commands ----------------------------------------------------------------------------
    def run(self, command: str) -> Result:
        conn = self._conn or self._open()
        t = self.target
        try:
            channel = conn.create_session()
            try:
                channel.exec_command(command)
                # No input is ever sent: a program that prompts reads end-of-file instead of waiting.
                channel.shutdown_write()
                stdout, stderr, code = _collect(channel, t.operation_timeout)
            finally:
                channel.close()
        except TransportError:
            self.close()
            raise
        except Exception as exc:  # noqa: BLE001 - classified below
            error = self._classify(exc, opening=False)
            self.close()
            raise error from None
        if code < 0:
            # The channel closed without an exit status: the connection or the command was killed.
            self.close()
            raise TransportError("reset", f"{t.host} ({t.endpoint}): the command ended without an exit status "
                                          "(connection dropped or the command was killed)")
        return Result(command=command, stdout=decode_output(stdout), stderr=decode_output(stderr), exit_code=code)

    # -- errors ------------------------------------------------------------------------------
    def _classify(self, exc: BaseException, *, opening: bool) -> TransportError:
        t = self.target
        where = f"{t.host} ({t.endpoint})"
        if isinstance(exc, TransportError):
            return exc
        if isinstance(exc, _HostKeyRefused):
            return TransportError("hostkey", str(exc))
        if isinstance(exc, BadHostKeyException):
            name = known_hosts_name(t.address, t.port)
            got, expected = exc.key, exc.expected_key
            return TransportError(
                "hostkey",
                f"{where}: host key CHANGED: the host presents {got.get_name()} {fingerprint(got)}, but "
                f"{t.known_hosts_path} holds {expected.get_name()} {fingerprint(expected)} for {name}. Someone may "
                f"be intercepting the connection, or the host was reinstalled. If the change is expected, remove "
                f"the old key (ssh-keygen -R '{name}' -f {t.known_hosts_path}) and accept the new one "
                f"(ssh-keyscan -p {t.port} -t {_keyscan_type(got)} {t.address} >> {t.known_hosts_path})",
            )
        if isinstance(exc, PasswordRequiredException):
            return TransportError("auth_failed", f"{where}: the private key {t.key_filename} is encrypted; "
                                                 "use an unencrypted key for portfleet")
        if isinstance(exc, AuthenticationException):
            how = f"key {t.key_filename}" if t.key_filename else ("password" if t.password else "agent/default keys")
            return TransportError("auth_failed", f"{where}: authentication failed for user {t.username!r} ({how})")
        if isinstance(exc, FileNotFoundError) and opening:
            return TransportError("auth_failed", f"{where}: private key file {t.key_filename} not found")
        if isinstance(exc, NoValidConnectionsError):
            return TransportError("unreachable", f"{where}: connection refused or no route")
        if isinstance(exc, socket.gaierror):
            return TransportError("unreachable", f"{where}: host name does not resolve")
        if isinstance(exc, (socket.timeout, TimeoutError)):
            if opening:
                return TransportError("unreachable", f"{where}: no connection within {t.connect_timeout:g}s")
            return TransportError("timeout", f"{where}: no answer within {t.operation_timeout:g}s")
        if isinstance(exc, (ConnectionResetError, BrokenPipeError, EOFError)):
            return TransportError("reset" if not opening else "unreachable", f"{where}: connection dropped")
        if isinstance(exc, OSError) and opening:
            return TransportError("unreachable", f"{where}: {exc.strerror or type(exc).__name__}")
        if isinstance(exc, SSHException):
            text = str(exc)
            if opening and ("banner" in text.lower() or "closed" in text.lower()):
                return TransportError("unreachable", f"{where}: the SSH service closed the connection ({text[:120]})")
            if not opening:
                return TransportError("reset", f"{where}: connection dropped in the middle of a command ({text[:120]})")
            return TransportError("protocol", f"{where}: SSH error: {text[:200]}")
        return TransportError("protocol", f"{where}: {type(exc).__name__}")


def _collect(channel: paramiko.Channel, timeout: float) -> tuple[bytes, bytes, int]:
    """Read stdout and stderr to their end and the exit status, within `timeout` seconds.

    Read here rather than through invoke's Runner: invoke decodes each 1,000-byte chunk on its own,
    so a UTF-8 character split across two chunks turns into U+FFFD, and it knows no OEM fallback.
    """
    out, err = bytearray(), bytearray()
    deadline = time.monotonic() + timeout
    # poll, not select: a run over many hosts may hold file descriptors past select's 1024 limit.
    poller = select.poll()
    poller.register(channel.fileno(), select.POLLIN)
    while True:
        if channel.recv_ready():
            out += channel.recv(READ_CHUNK)
            continue
        if channel.recv_stderr_ready():
            err += channel.recv_stderr(READ_CHUNK)
            continue
        finished = channel.exit_status_ready() or channel.closed
        if finished and (channel.eof_received or channel.closed):
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("command timed out")
        if channel.eof_received:
            # All output is in; the exit status (or the close) follows.
            channel.status_event.wait(remaining)
        else:
            # The channel's pipe wakes on stdout or stderr data, end-of-file and close.
            poller.poll(remaining * 1000)
    # -1: closed without an exit status (paramiko's initial value)
    return bytes(out), bytes(err), channel.exit_status


def _quiet_close(conn: fabric.Connection) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - the host may be gone; nothing to keep
        pass
