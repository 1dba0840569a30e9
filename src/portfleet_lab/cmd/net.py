"""net statistics workstation|server: "Statistics since <local date/time>" (the service start, shortly after
boot), which is how one reads a Windows Server 2003 host's boot time without wevtutil.

References: https://learn.microsoft.com/windows-server/administration/windows-commands/net-statistics and
KB 555737-style advice "net statistics server | find "Statistics since"" for the uptime of old Windows.
The date and time are the user's short date and long time formats (sShortDate, sTimeFormat: see lab.intl):
"1/1/2021 6:08:25 PM" on en-US, "22.05.2017 14:47:53" with German regional settings (captures in
tests/data/windows/net-statistics-workstation-*.txt); a `reg add` to sShortDate changes what it prints.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .. import intl, wintz
from .base import Ctx, Interpreter, Output, split_args
from .messages import lang

_SYNTAX = (
    "The syntax of this command is:\r\n\r\nNET\r\n"
    "    [ ACCOUNTS | COMPUTER | CONFIG | CONTINUE | FILE | GROUP | HELP |\r\n"
    "      HELPMSG | LOCALGROUP | PAUSE | SESSION | SHARE | START |\r\n"
    "      STATISTICS | STOP | TIME | USE | USER | VIEW ]\r\n\r\n"
)


def _local_now_bias(ctx: Ctx, ts: float) -> datetime:
    """The service start converted to local time with the bias in effect NOW (ActiveTimeBias), not the one of
    that date: the conversion FileTimeToLocalFileTime does ("uses the current settings for the time zone and
    daylight saving time ... even if the time you are converting is in standard time",
    https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-filetimetolocalfiletime). A start before
    a DST change therefore prints an hour off, and start + ActiveTimeBias is always the UTC instant."""
    bias = ctx.host.registry.dword(wintz.TIME_ZONE_INFORMATION, "ActiveTimeBias")
    if bias is None:
        return ctx.local(ts).replace(tzinfo=None)
    bias = bias - (1 << 32) if bias >= 1 << 31 else bias
    return datetime.fromtimestamp(ts, tz=timezone.utc).replace(tzinfo=None) - timedelta(minutes=bias)


def run(ctx: Ctx, tail: str, shell: Interpreter) -> Output:
    args = [a.lower() for a in split_args(tail)]
    if not args or not "statistics".startswith(args[0]) or len(args[0]) < 4:
        if args and args[0] in ("helpmsg", "help"):
            return Output().out(_SYNTAX).exit(0)
        return Output().err(_SYNTAX).exit(1)
    if len(args) < 2:
        return Output().out(
            "Statistics are available for the following running services:\r\n\r\n"
            "   Server\r\n   Workstation\r\n\r\nThe command completed successfully.\r\n\r\n"
        ).exit(0)
    which = args[1]
    de = lang(ctx.locale) == "de"
    computer = ctx.host.name.upper()
    uptime = max(0.0, ctx.now - ctx.host.boot_time)
    if which in ("workstation", "work", "wksta", "redirector"):
        since = _local_now_bias(ctx, ctx.host.boot_time + 21.0)
        title = (f"Arbeitsstationsstatistik f\u00fcr \\\\{computer}" if de
                 else f"Workstation Statistics for \\\\{computer}")
        rows = [("Bytes received", int(uptime * 5300)), ("Server Message Blocks (SMBs) received", int(uptime * 9)),
                ("Bytes transmitted", int(uptime * 2100)), ("Server Message Blocks (SMBs) transmitted", int(uptime * 9)),
                ("Read operations", int(uptime * 2)), ("Write operations", int(uptime / 3)),
                ("Raw reads denied", 0), ("Raw writes denied", 0), ("Network errors", 0),
                ("Connections made", int(uptime / 600)), ("Reconnections made", 0), ("Server disconnects", 0),
                ("Sessions started", int(uptime / 900)), ("Hung sessions", 0), ("Failed sessions", 0),
                ("Failed operations", 0), ("Use count", int(uptime / 300)), ("Failed use count", 0)]
        body = "".join(f"  {name:<45}{value}\r\n" + ("\r\n" if name in ("Server Message Blocks (SMBs) transmitted",
                                                                             "Network errors") else "")
                       for name, value in rows)
    elif which in ("server", "srv"):
        since = _local_now_bias(ctx, ctx.host.boot_time + 24.0)
        title = f"Serverstatistik f\u00fcr \\\\{computer}" if de else f"Server Statistics for \\\\{computer}"
        rows = [("Sessions accepted", int(uptime / 3600) + 1), ("Sessions timed-out", 0), ("Sessions errored-out", 0),
                ("Kilobytes sent", int(uptime * 2)), ("Kilobytes received", int(uptime)),
                ("Mean response time (msec)", 0), ("System errors", 0), ("Permission violations", 0),
                ("Password violations", 0), ("Files accessed", int(uptime / 10)), ("Communication devices accessed", 0),
                ("Print jobs spooled", 0), ("Times buffers exhausted", None),
                ("  Big buffers", 0), ("  Request buffers", 0)]
        body = ""
        for name, value in rows:
            body += f"{name}\r\n" if value is None else f"{name:<35}{value}\r\n"
            if name in ("Sessions errored-out", "Kilobytes received", "Mean response time (msec)",
                        "Password violations", "Print jobs spooled"):
                body += "\r\n"
    else:
        return Output().err(
            "The service has not been started.\r\n\r\nMore help is available by typing NET HELPMSG 2184.\r\n\r\n"
        ).exit(2)
    since_label = "Statistik seit" if de else "Statistics since"
    done = "Der Befehl wurde erfolgreich ausgef\u00fchrt." if de else "The command completed successfully."
    text = f"{title}\r\n\r\n\r\n{since_label} {intl.short_datetime(ctx.host, since)}\r\n\r\n\r\n{body}\r\n{done}\r\n\r\n"
    return Output().out(text).exit(0)
