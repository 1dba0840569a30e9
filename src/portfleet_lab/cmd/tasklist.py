"""tasklist [/fo table|list|csv] [/nh] [/fi "IMAGENAME eq x" | "PID eq n"].

References: https://learn.microsoft.com/windows-server/administration/windows-commands/tasklist ; the CSV shape
"System Idle Process","0","Services","0","8 K" (DESIGN.md); memory printed with the locale's digit grouping
and unit ("1.234 K" on de-DE, "1 234 Ko" on fr-FR); German headers "Abbildname","PID","Sitzungsname",
"Sitz.-Nr.","Speichernutzung". A filter matching nothing prints "INFO: No tasks are running which match the
specified criteria." (exit 0). The listing includes the processes of the running command itself (the WinRS
host, cmd.exe, conhost.exe, tasklist.exe), as a real remote tasklist does.
Before Vista there is no session 0 isolation: services and the console share session 0, which tasklist names
"Console" ("System Idle Process","0","Console","0" ... "winlogon.exe","1212","Console","0" in an XP-era
`tasklist /FO CSV /NH` sample quoted in a public Ruby process helper); "Services" is the Vista+ name.
"""

from __future__ import annotations

import random

from .base import Ctx, Interpreter, Output, split_args
from .messages import group_thousands, lang
from ..model import Process

_HEAD = {
    "en": ("Image Name", "PID", "Session Name", "Session#", "Mem Usage"),
    "de": ("Abbildname", "PID", "Sitzungsname", "Sitz.-Nr.", "Speichernutzung"),
    "fr": ("Nom de l\u2019image", "PID", "Nom de la session", "Num\u00e9ro de s", "Utilisation"),
}


def _mem(kb: int, locale: str) -> str:
    unit = "Ko" if lang(locale) == "fr" else "K"
    return f"{group_thousands(kb, locale)} {unit}"


def _session_procs(ctx: Ctx) -> list[Process]:
    """The command's own process chain under WinRS."""
    rng = random.Random(int(ctx.now * 1000))
    used = {p.pid for p in ctx.host.processes}
    names = ["winrshost.exe", "cmd.exe", "conhost.exe", "tasklist.exe"]
    if ctx.host.is_legacy:
        names = ["winrshost.exe", "cmd.exe", "tasklist.exe"]
    out = []
    for name, mem in zip(names, (6200, 3100, 11800, 7900)):
        while True:
            pid = rng.randrange(1000, 12000, 4)
            if pid not in used:
                used.add(pid)
                break
        out.append(Process(pid, name, int(mem * rng.uniform(0.9, 1.1))))
    if ctx.host.is_legacy:
        # Server 2003 has a WMI provider host rather than conhost and keeps services in session 0
        out.append(Process(rng.randrange(12000, 14000, 4), "wmiprvse.exe", 5400))
    return out


def _error(text: str) -> Output:
    return Output().err(text).exit(1)


def run(ctx: Ctx, tail: str, shell: Interpreter) -> Output:
    args = split_args(tail)
    fmt = "table"
    header = True
    filters: list[tuple[str, str, str]] = []
    i = 0
    while i < len(args):
        a = args[i].lower()
        if a in ("/fo", "-fo") and i + 1 < len(args):
            fmt = args[i + 1].lower()
            if fmt not in ("table", "list", "csv"):
                return _error(f'ERROR: Invalid value \'{args[i + 1]}\' for \'/fo\' option.\r\n'
                              'Type "TASKLIST /?" for usage.\r\n')
            i += 2
            continue
        if a in ("/nh", "-nh"):
            header = False
            i += 1
            continue
        if a in ("/fi", "-fi") and i + 1 < len(args):
            parts = args[i + 1].split(None, 2)
            if len(parts) != 3 or parts[1].lower() not in ("eq", "ne"):
                return _error('ERROR: The search filter cannot be recognized.\r\n')
            filters.append((parts[0].lower(), parts[1].lower(), parts[2]))
            i += 2
            continue
        return _error(f"ERROR: Invalid argument/option - '{args[i]}'.\r\nType \"TASKLIST /?\" for usage.\r\n")
    if not header and fmt == "list":
        return _error("ERROR: /NH switch cannot be used with LIST format.\r\nType \"TASKLIST /?\" for usage.\r\n")
    procs = list(ctx.host.processes) + _session_procs(ctx)
    for field, op, value in filters:
        if field == "imagename":
            match = lambda p, v=value: p.name.lower() == v.lower()  # noqa: E731
        elif field == "pid" and value.isdigit():
            match = lambda p, v=value: p.pid == int(v)  # noqa: E731
        else:
            return _error("ERROR: The search filter cannot be recognized.\r\n")
        procs = [p for p in procs if match(p) == (op == "eq")]
    if not procs:
        return Output().out("INFO: No tasks are running which match the specified criteria.\r\n").exit(0)
    heads = _HEAD.get(lang(ctx.locale), _HEAD["en"])
    loc = ctx.locale
    if ctx.host.is_legacy:
        procs = [Process(p.pid, p.name, p.mem_kb, "Console" if p.session == 0 else p.session_name, p.session)
                 for p in procs]
    if fmt == "csv":
        lines = [",".join(f'"{h}"' for h in heads)] if header else []
        lines += [f'"{p.name}","{p.pid}","{p.session_name}","{p.session}","{_mem(p.mem_kb, loc)}"' for p in procs]
        return Output().out("".join(line + "\r\n" for line in lines)).exit(0)
    if fmt == "list":
        width = max(len(h) for h in heads) + 2
        blocks = []
        for p in procs:
            vals = (p.name, str(p.pid), p.session_name, str(p.session), _mem(p.mem_kb, loc))
            blocks.append("".join(f"{h + ':':<{width}}{v}\r\n" for h, v in zip(heads, vals)))
        return Output().out("\r\n" + "\r\n".join(blocks)).exit(0)
    widths = (25, 8, 16, 11, 12)
    widths = tuple(max(w, len(h)) for w, h in zip(widths, heads))
    out = ["\r\n"]
    if header:
        out.append(f"{heads[0]:<{widths[0]}} {heads[1]:>{widths[1]}} {heads[2]:<{widths[2]}} "
                   f"{heads[3]:>{widths[3]}} {heads[4]:>{widths[4]}}\r\n")
        out.append(" ".join("=" * w for w in widths) + "\r\n")
    for p in procs:
        out.append(f"{p.name[:widths[0]]:<{widths[0]}} {p.pid:>{widths[1]}} {p.session_name:<{widths[2]}} "
                   f"{p.session:>{widths[3]}} {_mem(p.mem_kb, loc):>{widths[4]}}\r\n")
    return Output().out("".join(out)).exit(0)
