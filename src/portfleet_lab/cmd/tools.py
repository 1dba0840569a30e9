"""Which program name runs which simulated tool on a host, plus the three small programs (hostname, whoami, cmd).

Tools never import the shell: each gets the Interpreter running it (base.Interpreter), and cmd /c runs its
line through that interpreter. So the import graph stays shell -> tools -> each tool -> base.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import messages, net, netsh, netstat, powershell, reg, schtasks, shutdown, tasklist, wevtutil
from .base import Ctx, Handler, Interpreter, Output

if TYPE_CHECKING:
    from ..model import HostState


def _hostname(ctx: Ctx, tail: str, shell: Interpreter) -> Output:
    # hostname.exe prints the computer's host name and exits 0
    # (https://learn.microsoft.com/windows-server/administration/windows-commands/hostname).
    if tail.strip():
        return Output().err("sethostname: Use the Network Control Panel Applet to set hostname.\r\n").exit(1)
    return Output().out(ctx.host.name + "\r\n").exit(0)


def _whoami(ctx: Ctx, tail: str, shell: Interpreter) -> Output:
    return Output().out(f"{ctx.host.name.lower()}\\{ctx.user.lower()}\r\n").exit(0)


def _cmd(ctx: Ctx, tail: str, shell: Interpreter) -> Output:
    """cmd [/s] [/q] [/d] /c|/k line (https://learn.microsoft.com/windows-server/administration/windows-commands/cmd).

    Quote handling of /c: if the line starts with a quote, the first and the last quote are removed
    (the documented fallback rule of `cmd /?`).
    """
    rest = tail.lstrip()
    while rest[:1] == "/":
        switch = rest[:2].lower()
        rest = rest[2:].lstrip()
        if switch in ("/c", "/k"):
            if rest.startswith('"'):
                last = rest.rfind('"')
                rest = rest[1:last] + rest[last + 1 :] if last > 0 else rest[1:]
            return shell.run_nested(rest)
    # an interactive cmd under WinRS prints its banner and exits when stdin ends
    return Output().out(messages.ver(ctx.host.os_version, ctx.locale)).exit(0)


_PROGRAMS: dict[str, Handler] = {
    "hostname": _hostname,
    "whoami": _whoami,
    "cmd": _cmd,
    "reg": reg.run,
    "netsh": netsh.run,
    "netstat": netstat.run,
    "tasklist": tasklist.run,
    "shutdown": shutdown.run,
    "schtasks": schtasks.run,
    "net": net.run,
    "net1": net.run,
    "powershell": powershell.run,
    "wevtutil": wevtutil.run,
}
# Server 2003 has no wevtutil (Vista+) and no Windows PowerShell out of the box.
_NOT_ON_LEGACY = frozenset({"wevtutil", "powershell"})


def lookup(program: str, host: "HostState") -> Handler | None:
    """The tool `program` (lower case, no extension) runs on this host; None: not installed there."""
    if host.is_legacy and program in _NOT_ON_LEGACY:
        return None
    return _PROGRAMS.get(program)
