"""cmd.exe's internal commands: echo, rem, ver, cd/chdir, cls, title, exit, set, type.

They are part of cmd.exe itself, not programs on the PATH: `where echo` finds nothing and PowerShell
cannot run them (https://learn.microsoft.com/windows-server/administration/windows-commands/windows-commands).
"""

from __future__ import annotations

from . import messages
from .base import Ctx, Output, split_args
from .environment import environment

NAMES = frozenset({"ver", "set", "cd", "chdir", "exit", "cls", "title", "type", "echo", "rem"})


def run(name: str, ctx: Ctx, arg: str, errorlevel: int) -> Output:
    """Run internal command `name` with its argument text; errorlevel is the shell's current ERRORLEVEL."""
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
            code = int(args[0]) if args else errorlevel
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
        env = environment(ctx, errorlevel)
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
