"""The transport interface: one Session per host per run, commands in, Results out.

A Session is a context manager holding one connection (one WinRM shell, one SSH connection) for the
whole run, so a host costs one TCP connection and one authentication however many commands it takes
(DESIGN "Rules that matter": per-call reconnects are the very churn that exhausts ports).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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


class Session(Protocol):
    """An open connection to one host."""

    host: str
    # SSH sessions also have `platform` ("windows" | "linux"): the inventory's portfleet_platform or
    # what the host answered to `uname -s` (portfleet.probe.host_platform reads it).

    def run(self, command: str) -> Result:
        """Run one command line (cmd.exe /c semantics on Windows, sh -c on Linux)."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> "Session": ...

    def __exit__(self, *exc: object) -> None: ...
