"""schtasks /create (/sc once), /query [/tn] [/fo table|list|csv] [/nh] [/v], /delete, /run.

References: https://learn.microsoft.com/windows-server/administration/windows-commands/schtasks-create
(/sd in the locale's short date format, /st HH:mm, /f to replace without asking), schtasks-query,
schtasks-delete. Texts: 'SUCCESS: The scheduled task "X" has successfully been created.' (DESIGN.md),
'SUCCESS: The scheduled task "X" was successfully deleted.', 'ERROR: The system cannot find the file
specified.' for an unknown task (stderr, exit 1), "WARNING: Task may not run because /ST is earlier than
current time." for a past one-time start. A task never run shows "Last Run Time: 11/30/1999 12:00:00 AM"
and "Last Result: 267011" (0x41303 SCHED_S_TASK_HAS_NOT_RUN). Server 2003's schtasks wants /st HH:MM:SS and
has no /f for /create.
Times are host-local: the task fires at /sd /st in the host's time zone (Fleet.tick runs /tr through cmd).
Dates follow the connecting user's regional settings (lab.intl): /sd is read in the field order of sShortDate
("MM/DD/YYYY for MONTH-first formats, DD/MM/YYYY for DAY-first formats, YYYY/MM/DD for YEAR-first formats",
schtasks-create) with the short date's separator, and Next Run Time / Last Run Time / Start Date / Start Time
are printed with sShortDate and sTimeFormat ("1/31/2020 3:43:38 PM", "Start Date: 3/1/2019" in a public
en-US `schtasks /query /v` listing, pastebin.com/DdhJjPHE).
"""

from __future__ import annotations

from datetime import datetime, timezone

from .. import intl
from .base import Ctx, Interpreter, Output, split_args
from ..model import ScheduledTask

_NEVER = datetime(1999, 11, 30)  # "Last Run Time" of a task that never ran, in the user's formats


def _err(text: str, code: int = 1) -> Output:
    return Output().err(text + "\r\n").exit(code)


def _usage_err(sub: str, detail: str) -> Output:
    return _err(f"ERROR: {detail}\r\nType \"SCHTASKS /{sub} /?\" for usage.")


def _switches(args: list[str], takes: set[str], flags: set[str], sub: str) -> dict | Output:
    out: dict = {}
    i = 0
    while i < len(args):
        a = args[i].lower()
        if a[:1] == "-":
            a = "/" + a[1:]
        if a in takes:
            if i + 1 >= len(args):
                return _usage_err(sub, f"Missing argument for the option '{args[i]}'.")
            out[a] = args[i + 1]
            i += 2
        elif a in flags:
            out[a] = True
            i += 1
        else:
            return _usage_err(sub, f"Invalid argument/option - '{args[i]}'.")
    return out


def run(ctx: Ctx, tail: str, shell: Interpreter) -> Output:
    args = split_args(tail)
    if not args:
        return _query(ctx, {})
    sub = args[0].lower().lstrip("/-")
    rest = args[1:]
    if sub == "create":
        return _create(ctx, rest)
    if sub == "query":
        return _query_args(ctx, rest)
    if sub == "delete":
        return _delete(ctx, rest)
    if sub == "run":
        return _run(ctx, rest)
    return _err(f"ERROR: Invalid argument/option - '{args[0]}'.\r\nType \"SCHTASKS /?\" for usage.")


def _find(ctx: Ctx, name: str) -> ScheduledTask | None:
    key = name.lstrip("\\").lower()
    return next((t for t in ctx.host.tasks if t.name.lower() == key), None)


def _parse_when(ctx: Ctx, sd: str | None, st: str) -> tuple[datetime, str, str] | Output:
    legacy = ctx.host.is_legacy
    today = ctx.local()
    parts = st.split(":")
    try:
        if legacy:
            if len(parts) != 3:
                raise ValueError
            hh, mm, ss = (int(p) for p in parts)
        else:
            if len(parts) != 2:
                raise ValueError
            hh, mm, ss = int(parts[0]), int(parts[1]), 0
        if not (0 <= hh < 24 and 0 <= mm < 60 and 0 <= ss < 60):
            raise ValueError
    except ValueError:
        return _err("ERROR: Invalid Start Time.")
    order = intl.date_order(ctx.host)
    sep = intl.date_separator(ctx.host)
    if sd is None:
        day = today.date()
    else:
        try:
            fields = dict(zip(order, (int(p) for p in sd.split(sep))))
            if len(sd.split(sep)) != 3:
                raise ValueError(sd)
            day = datetime(fields["Y"], fields["M"], fields["D"]).date()
        except (ValueError, KeyError):
            shape = sep.join({"M": "mm", "D": "dd", "Y": "yyyy"}[f] for f in order)
            return _err(f'ERROR: Invalid Start Date (Date should be in "{shape}" format).')
    local = datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=ctx.tz)
    return local, local.date().isoformat(), f"{hh:02d}:{mm:02d}"


def _create(ctx: Ctx, args: list[str]) -> Output:
    legacy = ctx.host.is_legacy
    flags = {"/it", "/z", "/np", "/hresult"} | (set() if legacy else {"/f"})
    takes = {"/tn", "/tr", "/sc", "/sd", "/st", "/ru", "/rp", "/mo", "/d", "/m", "/i", "/ed", "/et", "/du", "/ri",
             "/rl", "/s", "/u", "/p", "/xml", "/delay"}
    sw = _switches(args, takes, flags, "Create")
    if isinstance(sw, Output):
        return sw
    for needed in ("/tn", "/tr", "/sc"):
        if needed not in sw:
            return _usage_err("Create", f"Invalid syntax. Mandatory option '{needed}' is missing.")
    schedule = sw["/sc"].upper()
    if schedule != "ONCE":
        return _usage_err("Create", f"Invalid value for /SC option: '{sw['/sc']}'.") if schedule not in (
            "MINUTE", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "ONSTART", "ONLOGON", "ONIDLE", "ONEVENT") else \
            _err("ERROR: Only /SC ONCE schedules are modelled by this lab host.")
    if "/st" not in sw:
        return _usage_err("Create", "Invalid syntax. /ST is mandatory for ONCE schedule type.")
    when = _parse_when(ctx, sw.get("/sd"), sw["/st"])
    if isinstance(when, Output):
        return when
    local, shown_date, shown_time = when
    name = sw["/tn"].lstrip("\\")
    out = Output()
    existing = _find(ctx, name)
    if existing is not None and not sw.get("/f"):
        out.out(f'WARNING: The task name "{name}" already exists. Do you want to replace it (Y/N)? ')
        if ctx.stdin is None:
            out.waiting_for_input = True
            return out.exit(1)
        if not ctx.stdin.strip().lower().startswith("y"):
            return out.out(f'SUCCESS: The scheduled task "{name}" was not created.\r\n').exit(0)
        out.out("\r\n")
    due = local.astimezone(timezone.utc).timestamp()
    if due < ctx.now:
        out.out("WARNING: Task may not run because /ST is earlier than current time.\r\n")
    task = ScheduledTask(name=name, command=sw["/tr"], run_as=sw.get("/ru", ctx.user), schedule="ONCE",
                         start_date=shown_date, start_time=shown_time, due=due if due >= ctx.now else None,
                         created=ctx.now, author=f"{ctx.host.name.upper()}\\{ctx.user}")
    ctx.host.tasks = [t for t in ctx.host.tasks if t.name.lower() != name.lower()] + [task]
    ctx.changed = True
    if legacy and task.run_as.lower() in ("system", "nt authority\\system", ""):
        # Server 2003's schtasks announces the account it uses for /ru System and capitalises "Scheduled"
        # (the Windows Server 2003 schtasks reference, "To run a task with system permissions", kept in
        # https://learn.microsoft.com/windows-server/administration/windows-commands/schtasks-create).
        out.out('INFO: The task will be created under user name ("NT AUTHORITY\\SYSTEM").\r\n')
        return out.out(f'SUCCESS: The Scheduled task "{name}" has successfully been created.\r\n').exit(0)
    return out.out(f'SUCCESS: The scheduled task "{name}" has successfully been created.\r\n').exit(0)


def _query_args(ctx: Ctx, args: list[str]) -> Output:
    sw = _switches(args, {"/tn", "/fo", "/s", "/u", "/p"}, {"/nh", "/v", "/xml", "/hresult"}, "Query")
    if isinstance(sw, Output):
        return sw
    return _query(ctx, sw)


def _next_run(ctx: Ctx, t: ScheduledTask) -> str:
    return "N/A" if t.due is None else intl.short_datetime(ctx.host, ctx.local(t.due))


def _start_date(ctx: Ctx, t: ScheduledTask) -> str:
    try:  # stored as an ISO date; tasks saved by older labs hold the /sd text as given
        return intl.short_date(ctx.host, datetime.fromisoformat(t.start_date))
    except ValueError:
        return t.start_date


def _query(ctx: Ctx, sw: dict) -> Output:
    fmt = str(sw.get("/fo", "table")).lower()
    if fmt not in ("table", "list", "csv"):
        return _usage_err("Query", f"Invalid value '{sw['/fo']}' for /FO option.")
    if sw.get("/nh") and fmt == "list":
        return _usage_err("Query", "/NH switch cannot be used with LIST format.")
    tasks = list(ctx.host.tasks)
    if "/tn" in sw:
        t = _find(ctx, sw["/tn"])
        if t is None:
            return _err("ERROR: The system cannot find the file specified.")
        tasks = [t]
    verbose = bool(sw.get("/v"))
    host = ctx.host.name.upper()
    records = []
    for t in tasks:
        rec = [("HostName", host), ("TaskName", "\\" + t.name), ("Next Run Time", _next_run(ctx, t)),
               ("Status", "Ready"), ("Logon Mode", "Interactive/Background")]
        if verbose:
            last = intl.short_datetime(ctx.host, _NEVER if t.last_run is None else ctx.local(t.last_run))
            rec += [("Last Run Time", last), ("Last Result", str(t.last_result)), ("Author", t.author),
                    ("Task To Run", t.command), ("Start In", "N/A"), ("Comment", "N/A"),
                    ("Scheduled Task State", "Enabled"), ("Idle Time", "Disabled"),
                    ("Power Management", "Stop On Battery Mode, No Start On Batteries"),
                    ("Run As User", t.run_as), ("Delete Task If Not Rescheduled", "Disabled"),
                    ("Stop Task If Runs X Hours and X Mins", "72:00:00"),
                    ("Schedule", "Scheduling data is not available in this format."),
                    ("Schedule Type", "One Time Only"), ("Start Time", _start_time(ctx, t.start_time)),
                    ("Start Date", _start_date(ctx, t)), ("End Date", "N/A"), ("Days", "N/A"), ("Months", "N/A"),
                    ("Repeat: Every", "Disabled"), ("Repeat: Until: Time", "Disabled"),
                    ("Repeat: Until: Duration", "Disabled"), ("Repeat: Stop If Still Running", "Disabled")]
        records.append(rec)
    if fmt == "csv":
        cols = [k for k, _ in records[0]] if records else ["TaskName", "Next Run Time", "Status"]
        if not verbose:
            cols = ["TaskName", "Next Run Time", "Status"]
        lines = [] if sw.get("/nh") else [",".join(f'"{c}"' for c in cols)]
        for rec in records:
            d = dict(rec)
            lines.append(",".join(f'"{d[c]}"' for c in cols))
        return Output().out("".join(line + "\r\n" for line in lines)).exit(0)
    if fmt == "list":
        out = "\r\nFolder: \\\r\n" if not verbose else "\r\nFolder: \\\r\n"
        width = 38 if verbose else 15
        blocks = []
        for rec in records:
            if not verbose:
                rec = rec[:5]
            blocks.append("".join(f"{k + ':':<{width}}{v}\r\n" for k, v in rec))
        if not records:
            return Output().out("INFO: There are no scheduled tasks presently available at your access level.\r\n"
                                ).exit(0)
        return Output().out(out + "\r\n".join(blocks) + "\r\n").exit(0)
    if verbose:
        return _query(ctx, {**sw, "/fo": "list", "/nh": False})  # the wide /v table is rendered as its list
    if not records:
        return Output().out("INFO: There are no scheduled tasks presently available at your access level.\r\n").exit(0)
    out = ["\r\nFolder: \\\r\n"]
    if not sw.get("/nh"):
        out.append(f"{'TaskName':<40} {'Next Run Time':<22} {'Status':<15}\r\n")
        out.append(f"{'=' * 40} {'=' * 22} {'=' * 15}\r\n")
    for rec in records:
        d = dict(rec)
        out.append(f"{d['TaskName'].lstrip(chr(92)):<40} {d['Next Run Time']:<22} {d['Status']:<15}\r\n")
    return Output().out("".join(out)).exit(0)


def _start_time(ctx: Ctx, hhmm: str) -> str:
    hh, mm = (int(p) for p in hhmm.split(":")[:2])
    return intl.long_time(ctx.host, datetime(2000, 1, 1, hh, mm))


def _delete(ctx: Ctx, args: list[str]) -> Output:
    sw = _switches(args, {"/tn", "/s", "/u", "/p"}, {"/f", "/hresult"}, "Delete")
    if isinstance(sw, Output):
        return sw
    if "/tn" not in sw:
        return _usage_err("Delete", "Invalid syntax. Mandatory option '/tn' is missing.")
    t = _find(ctx, sw["/tn"])
    if t is None:
        return _err("ERROR: The system cannot find the file specified.")
    out = Output()
    if not sw.get("/f"):
        out.out(f'WARNING: Are you sure you want to remove the task "{t.name}" (Y/N)? ')
        if ctx.stdin is None:
            out.waiting_for_input = True
            return out.exit(1)
        if not ctx.stdin.strip().lower().startswith("y"):
            return out.out(f'INFO: The scheduled task "{t.name}" was not deleted.\r\n').exit(0)
        out.out("\r\n")
    ctx.host.tasks = [x for x in ctx.host.tasks if x is not t]
    ctx.changed = True
    return out.out(f'SUCCESS: The scheduled task "{t.name}" was successfully deleted.\r\n').exit(0)


def _run(ctx: Ctx, args: list[str]) -> Output:
    sw = _switches(args, {"/tn", "/s", "/u", "/p"}, {"/i", "/hresult"}, "Run")
    if isinstance(sw, Output):
        return sw
    if "/tn" not in sw:
        return _usage_err("Run", "Invalid syntax. Mandatory option '/tn' is missing.")
    t = _find(ctx, sw["/tn"])
    if t is None:
        return _err("ERROR: The system cannot find the file specified.")
    t.due = ctx.now  # the next Fleet.tick runs it
    ctx.changed = True
    return Output().out(f'SUCCESS: Attempted to run the scheduled task "{t.name}".\r\n').exit(0)
