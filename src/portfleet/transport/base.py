"""The transport interface: one Session per host per run, commands in, Results out.

A Session is a context manager holding one connection (one WinRM shell, one SSH connection) for the
whole run, so a host costs one TCP connection and one authentication however many commands it takes
(DESIGN "Rules that matter": per-call reconnects are the very churn that exhausts ports).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Protocol, TypeVar

T = TypeVar("T")

# Windows tools that ignore the UTF-8 code page a session asks for (WinRS codepage 65001, cmd.exe
# under OpenSSH) print in the console's OEM code page; cp437 holds the umlauts and accents of the
# Western European OEM pages (437/850) closely enough for structure-based parsing.
FALLBACK_ENCODING = "cp437"


@dataclass(frozen=True)
class Result:
    """What a command printed and how it ended, decoded to text with CRLF kept."""

    command: str
    stdout: str
    stderr: str
    exit_code: int

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class TransportError(Exception):
    """A host could not be reached or talked to. `kind` drives the per-host status.

    kind is one of: "unreachable" (connect refused/timed out, DNS), "auth_failed" (credentials
    refused), "tls" (certificate not trusted), "protocol" (the peer answered something we cannot
    use), "timeout" (an operation outlived its timeout), "reset" (connection dropped mid-command),
    "hostkey" (SSH: the host's key is unknown or changed in known_hosts; nothing was sent to it).
    Messages never carry secrets: they are built from host, port and the failure class only.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind

    @property
    def host_status(self) -> str:
        """The host's status in a report: unreachable, auth_failed, or error for the other kinds.

        An unknown or changed SSH host key counts as unreachable: the host is not contacted, as Ansible
        reports "UNREACHABLE! ... Host key verification failed."; the message says how to accept the key.
        """
        if self.kind == "hostkey":
            return "unreachable"
        return self.kind if self.kind in ("unreachable", "auth_failed") else "error"


def decode_output(data: bytes) -> str:
    """A command's output as text: UTF-8, else the OEM fallback."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode(FALLBACK_ENCODING, errors="replace")


def connect_with_retries(
    connect: Callable[[], T], classify: Callable[[BaseException], TransportError], retries: int
) -> T:
    """`connect()`, retried with backoff (0.5 s, 1 s, ...) on connection-level failures only.

    Only kind "unreachable" is retried: nothing has run on the host yet, so a retry can never repeat
    a write (DESIGN "Rules that matter"). Any other failure, or the last one, is raised classified.
    """
    delay = 0.5
    for attempt in range(retries + 1):
        try:
            return connect()
        except Exception as exc:  # noqa: BLE001 - classified by the transport
            error = classify(exc)
            if error.kind != "unreachable" or attempt == retries:
                raise error from None
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover


class Session(Protocol):
    """An open connection to one host."""

    host: str
    # SSH sessions also have `platform` ("windows" | "linux"): the inventory's portfleet_platform or
    # what the host answered to `uname -s` (portfleet.read_host.host_platform reads it).

    def run(self, command: str) -> Result:
        """Run one command line (cmd.exe /c semantics on Windows, sh -c on Linux)."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> "Session": ...

    def __exit__(self, *exc: object) -> None: ...
