"""shutdown /r|/s [/t N] [/c "comment"] [/f] [/d ...], shutdown /a.

References: https://learn.microsoft.com/windows-server/administration/windows-commands/shutdown ("/t <xxx>
... valid range is 0-315360000 (10 years), with a default of 30"; "/c <comment> ... maximum of 512
characters"; /t greater than 0 implies /f). Windows XP/Server 2003 accept /t 0-600 only.
Errors are the system messages with their code in parentheses, on stderr, exit code = the code:
"Unable to abort the system shutdown because no shutdown was in progress.(1116)" (DESIGN.md),
"A system shutdown has already been scheduled.(1190)", "The parameter is incorrect.(87)".
Issuing a restart writes USER32 event 1074 at once; the restart itself happens when the timer fires
(Fleet.tick), the comment being shown to logged-on users, not printed.
"""

from __future__ import annotations

from .base import Ctx, Interpreter, Output, split_args
from .messages import lang
from .. import events
from ..model import PendingShutdown

_MSG = {
    "en": {87: "The parameter is incorrect.", 1116: "Unable to abort the system shutdown because no shutdown was "
           "in progress.", 1190: "A system shutdown has already been scheduled.", 53: "The network path was not found."},
    "de": {87: "Falscher Parameter.", 1116: "Das Herunterfahren des Systems kann nicht abgebrochen werden, da kein "
           "Herunterfahren des Systems durchgef\u00fchrt wird.", 1190: "Das Herunterfahren des Systems wurde bereits "
           "geplant.", 53: "Der Netzwerkpfad wurde nicht gefunden."},
}


def _fail(ctx: Ctx, code: int) -> Output:
    texts = _MSG.get(lang(ctx.locale), _MSG["en"])
    return Output().err(f"{texts[code]}({code})\r\n").exit(code)


_USAGE = (
    "Usage: shutdown [/i | /l | /s | /sg | /r | /g | /a | /p | /h | /e | /o] [/hybrid] [/soft] [/fw] [/f]\r\n"
    "    [/m \\\\computer][/t xxx][/d [p|u:]xx:yy [/c \"comment\"]]\r\n\r\n"
    "    No args    Display help. This is the same as typing /?.\r\n"
    "    /?         Display help. This is the same as not typing any options.\r\n"
    "    /r         Full shutdown and restart the computer.\r\n"
    "    /s         Shutdown the computer.\r\n"
    "    /a         Abort a system shutdown.\r\n"
    "               This can only be used during the time-out period.\r\n"
    "    /t xxx     Set the time-out period before shutdown to xxx seconds.\r\n"
    "               The valid range is 0-315360000 (10 years), with a default of 30.\r\n"
    "    /c \"comment\" Comment on the reason for the restart or shutdown.\r\n"
    "               Maximum of 512 characters allowed.\r\n"
    "    /f         Force running applications to close without forewarning users.\r\n"
)


def run(ctx: Ctx, tail: str, shell: Interpreter) -> Output:
    host = ctx.host
    args = split_args(tail)
    if not args or args[0] in ("/?", "-?"):
        return Output().out(_USAGE).exit(0)
    action: str | None = None
    timeout: int | None = None
    comment = ""
    i = 0
    while i < len(args):
        a = args[i].lower().replace("-", "/", 1) if args[i][:1] == "-" else args[i].lower()
        if a in ("/r", "/s", "/a", "/p", "/g", "/sg", "/l", "/h"):
            if action is not None:
                return _fail(ctx, 87)
            action = a
        elif a == "/t":
            if i + 1 >= len(args) or not args[i + 1].isdigit():
                return _fail(ctx, 87)
            timeout = int(args[i + 1])
            i += 1
        elif a == "/c":
            if i + 1 >= len(args):
                return _fail(ctx, 87)
            comment = args[i + 1]
            i += 1
        elif a == "/d":
            if i + 1 >= len(args):
                return _fail(ctx, 87)
            i += 1
        elif a == "/m":
            if i + 1 >= len(args):
                return _fail(ctx, 87)
            target = args[i + 1].lstrip("\\").lower()
            if target not in (host.name.lower(), "localhost", "127.0.0.1", host.tcp.local_ip):
                return _fail(ctx, 53)
            i += 1
        elif a in ("/f", "/hybrid", "/soft", "/fw", "/o", "/e", "/i"):
            pass
        else:
            return _fail(ctx, 87)
        i += 1
    limit = 600 if host.is_legacy else 315360000
    if timeout is not None and timeout > limit:
        return _fail(ctx, 87)
    if len(comment) > 512:
        return _fail(ctx, 87)
    if action == "/a":
        if host.shutdown is None:
            return _fail(ctx, 1116)
        host.shutdown = None
        ctx.changed = True
        return Output().exit(0)
    if action in ("/r", "/g", "/s", "/sg", "/p"):
        if host.shutdown is not None:
            return _fail(ctx, 1190)
        delay = 30 if timeout is None else timeout
        if action == "/p":
            delay = 0
        kind = "restart" if action in ("/r", "/g") else "power off"
        host.shutdown = PendingShutdown(kind=kind, issued_at=ctx.now, fire_at=ctx.now + ctx.clock.real_seconds(delay),
                                        timeout=delay, comment=comment)
        events.restart_initiated(host, ctx.now, kind=kind, comment=comment, user=ctx.user)
        ctx.changed = True
        return Output().exit(0)
    if action in ("/l", "/h"):
        return Output().exit(0)  # sign-out / hibernate of the WinRS session: nothing visible to model
    return Output().out(_USAGE).exit(0)
