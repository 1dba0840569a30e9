"""Which program name runs which simulated tool, and cmd.exe's internal commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from . import messages
from .base import Ctx, Output, split_args

if TYPE_CHECKING:
    from ..model import HostState
    from .shell import Shell

Handler = Callable[[Ctx, str, "Shell"], Output]

INTERNAL = {"ver", "set", "cd", "chdir", "exit", "cls", "title", "type", "echo", "rem"}


def internal(name: str, shell: "Shell", arg: str, stdin: str | None) -> Output:
    ctx = shell.ctx
    if name == "echo":
        # "echo text" prints everything after the one delimiter, trailing spaces included;
        # "echo." prints an empty line; bare "echo" reports the echo state.
        if not arg.strip() and arg[:1] in ("", " ", "\t"):
            return Output().out(messages.echo_is_on(ctx.locale)).exit(None)
        return Output().out(arg[1:] + "\r\n").exit(None)
    if name == "rem":
        return Output().exit(None)
    if name == "ver":
        return Output().out(messages.ver(ctx.host.os_version, ctx.locale)).exit(None)
    if name in ("cd", "chdir"):
        home = (
            rf"C:\Documents and Settings\{ctx.user}" if ctx.host.is_legacy else rf"C:\Users\{ctx.user}"
        )
        return Output().out(home + "\r\n").exit(None)
    if name in ("cls", "title"):
        return Output().exit(None)
    if name == "exit":
        args = split_args(arg)
        if args and args[0].lower() == "/b":
            args = args[1:]
        try:
            code = int(args[0]) if args else shell.errorlevel
        except ValueError:
            code = 0
        return Output().exit(code)
    if name == "set":
        if "=" in arg:
            var, value = arg.strip().split("=", 1)
            if var.startswith('"'):
                var = var[1:]
                value = value.rstrip('"')
            ctx.env[var] = value
            return Output().exit(None)
        from .shell import environment

        env = environment(ctx, shell.errorlevel)
        hidden = {"ERRORLEVEL", "DATE", "TIME", "CD", "RANDOM"}
        prefix = arg.strip().lower()
        rows = sorted((k, v) for k, v in env.items() if k not in hidden and k.lower().startswith(prefix))
        if not rows:
            return Output().out(f"Environment variable {arg.strip()} not defined\r\n").exit(1)
        return Output().out("".join(f"{k}={v}\r\n" for k, v in rows)).exit(None)
    if name == "type":
        target = arg.strip().strip('"').lower()
        if target in ctx.files:
            return Output().out(ctx.files[target]).exit(0)
        if target in ("nul", "nul:"):
            return Output().exit(0)
        return Output().err(messages.file_not_found(ctx.locale)).exit(1)
    raise KeyError(name)


def _hostname(ctx: Ctx, tail: str, shell: "Shell") -> Output:
    # hostname.exe prints the computer's host name and exits 0
    # (https://learn.microsoft.com/windows-server/administration/windows-commands/hostname).
    if tail.strip():
        return Output().err("sethostname: Use the Network Control Panel Applet to set hostname.\r\n").exit(1)
    return Output().out(ctx.host.name + "\r\n").exit(0)


def _whoami(ctx: Ctx, tail: str, shell: "Shell") -> Output:
    return Output().out(f"{ctx.host.name.lower()}\\{ctx.user.lower()}\r\n").exit(0)


def _cmd(ctx: Ctx, tail: str, shell: "Shell") -> Output:
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
            from .shell import Shell as _Shell

            inner = _Shell(ctx, shell.errorlevel)
            return inner.run_line(rest)
    # an interactive cmd under WinRS prints its banner and exits when stdin ends
    return Output().out(messages.ver(ctx.host.os_version, ctx.locale)).exit(0)


def lookup(program: str, host: "HostState") -> Handler | None:
    from . import net, netsh, netstat, powershell, reg, schtasks, shutdown, tasklist, wevtutil

    table: dict[str, Handler] = {
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
    if host.is_legacy:
        # Server 2003 has no wevtutil (Vista+) and no Windows PowerShell out of the box.
        table.pop("wevtutil")
        table.pop("powershell")
    return table.get(program)
