"""wevtutil qe System [/q:XPATH] [/c:N] [/rd:true|false] [/f:text|xml|renderedxml].

References:
- https://learn.microsoft.com/windows-server/administration/windows-commands/wevtutil (qe options, /rd:true
  newest first, /c maximum count, default format XML).
- /f:text layout: "Event[N]:" then two-space-indented "Log Name", "Source", "Date", "Event ID", "Task", "Level",
  "Opcode", "Keyword", "User", "User Name", "Computer", "Description:" and the message on the next line; a
  blank line between events. Labels stay English on localized Windows, values such as Level are translated
  (zh-CN "Level: 信息", ru-RU "Level: Сведения" in the captures below). What changed across builds:
  - up to Windows 10 1909 / Server 2019: "Event[N]:" and Date in LOCAL time with milliseconds, no zone:
    "Date: 2016-12-22T05:29:02.512" on Server 2016 (6009 text "10.00. 14393"), "2020-12-14T17:09:08.940" on the
    TryHackMe "Windows Event Logs" Server VM, "2019-05-26T10:21:11.251" on a zh-CN Windows 10 (public notes).
  - from Windows 10 2004 (19041): Date in UTC with 100 ns digits and "Z": "2024-01-25T18:02:54.0220000Z"
    (sergueik/springboot_study basic-jna-eventlog), "2026-09-12T11:31:02.3140000Z" next to a
    ntdll 10.0.19041.6456 fault; the header keeps its colon.
  - from Server 2022 / Windows 11 (20348, 22000): the same UTC date, and the header loses its colon and an
    empty Description value keeps the space after its colon: tests/data/windows/wevtutil-security-ws2022.txt
    (20348.405, JeftaDirksen/BlockIP#1), "Event[0]" / "Date: 2022-11-16T14:54:13.2270000Z" on a Windows 11
    in HTB Academy's "Windows Event Logs" module.
- XPath 1.0 subset of the event log query language (https://learn.microsoft.com/windows/win32/wes/
  consuming-events#xpath-10-limitations): System/EventID, Level, EventRecordID comparisons, Provider[@Name=..],
  TimeCreated[timediff(@SystemTime) <= ms], TimeCreated[@SystemTime >= '...'], and / or / parentheses.
- Errors: "Failed to read events. The specified query is invalid." (ERROR_EVT_INVALID_QUERY 15001) and
  "... The specified channel could not be found." (15007), on stderr with the code as exit status.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Callable

from .base import Ctx, Interpreter, Output, split_args
from .messages import lang
from ..model import Event

_LEVELS = {"en": {1: "Critical", 2: "Error", 3: "Warning", 4: "Information"},
           "de": {1: "Kritisch", 2: "Fehler", 3: "Warnung", 4: "Informationen"}}
_PROVIDER_GUIDS = {
    "Microsoft-Windows-Kernel-General": "{A68CA8B7-004F-D7B6-A698-07E2DE0F1F5D}",
}
_EVENTLOG_QUALIFIERS = {"EventLog": 32768, "User32": 32768, "Tcpip": 0}


class QueryError(Exception):
    pass


def run(ctx: Ctx, tail: str, shell: Interpreter) -> Output:
    args = split_args(tail)
    if not args:
        return Output().out(_USAGE).exit(0)
    cmd = args[0].lower()
    if cmd not in ("qe", "query-events"):
        if cmd in ("el", "enum-logs"):
            return Output().out("Application\r\nSecurity\r\nSetup\r\nSystem\r\n").exit(0)
        return Output().err(f"Unknown command {args[0]}.\r\n").exit(87)
    if len(args) < 2:
        return Output().err("Failed to read events. The parameter is incorrect.\r\n").exit(87)
    log = args[1]
    opts: dict[str, str] = {}
    names = {"q": "q", "query": "q", "c": "c", "count": "c", "rd": "rd", "reversedirection": "rd", "f": "f",
             "format": "f", "e": "e", "element": "e", "lf": "lf", "logfile": "lf", "l": "l", "locale": "l",
             "uni": "uni", "unicode": "uni", "sq": "sq", "structuredquery": "sq", "bm": "bm", "sbm": "sbm"}
    for a in args[2:]:
        m = re.match(r"^[/-]([A-Za-z]+)(?::(.*))?$", a, re.S)
        if not m or m.group(1).lower() not in names:
            return Output().err(f"Invalid option {a}.\r\n").exit(87)
        opts[names[m.group(1).lower()]] = m.group(2) or ""
    if log.lower() != "system":
        return Output().err("Failed to read events. The specified channel could not be found.\r\n").exit(15007)
    try:
        pred = compile_query(opts.get("q", "*"), ctx.now)
    except QueryError:
        return Output().err("Failed to read events. The specified query is invalid.\r\n").exit(15001)
    reverse = opts.get("rd", "false").lower() in ("true", "1")
    fmt = opts.get("f", "xml").lower()
    if fmt not in ("xml", "text", "renderedxml"):
        return Output().err("Failed to read events. The parameter is incorrect.\r\n").exit(87)
    count: int | None = None
    if "c" in opts:
        if not opts["c"].isdigit():
            return Output().err("Failed to read events. The parameter is incorrect.\r\n").exit(87)
        count = int(opts["c"])
    events = [e for e in ctx.host.events if pred(e)]
    if reverse:
        events.reverse()
    if count is not None:
        events = events[:count]
    if fmt == "text":
        return Output().out("".join(_text(ctx, i, e) for i, e in enumerate(events))).exit(0)
    return Output().out("".join(_xml(ctx, e, rendered=fmt == "renderedxml") for e in events)
                        + ("\r\n" if events else "")).exit(0)


UTC_DATE_BUILD = 19041  # Windows 10 2004: Date printed in UTC with "Z"
NO_COLON_BUILD = 20348  # Server 2022 / Windows 11: "Event[N]" header without a colon


def _date(ctx: Ctx, ts: float) -> str:
    if ctx.host.build >= UTC_DATE_BUILD:
        dt = datetime.fromtimestamp(ts, tz=timezone.utc)
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}0Z"
    dt = ctx.local(ts)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}"


def _computer(ctx: Ctx) -> str:
    return f"{ctx.host.name}.{ctx.host.domain}" if ctx.host.domain else ctx.host.name


def _text(ctx: Ctx, i: int, e: Event) -> str:
    levels = _LEVELS.get(lang(ctx.locale), _LEVELS["en"])
    new_layout = ctx.host.build >= NO_COLON_BUILD
    return (
        f"Event[{i}]{'' if new_layout else ':'}\r\n"
        f"  Log Name: System\r\n"
        f"  Source: {e.provider}\r\n"
        f"  Date: {_date(ctx, e.time)}\r\n"
        f"  Event ID: {e.event_id}\r\n"
        f"  Task: {e.task}\r\n"
        f"  Level: {levels.get(e.level, str(e.level))}\r\n"
        f"  Opcode: {e.opcode}\r\n"
        f"  Keyword: {e.keyword}\r\n"
        f"  User: {e.user_sid}\r\n"
        f"  User Name: {e.user_name}\r\n"
        f"  Computer: {_computer(ctx)}\r\n"
        f"  Description:{' ' if new_layout else ''}\r\n{e.message}\r\n\r\n"
    )


def _system_time(ts: float) -> str:
    dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}" + "0Z"


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&apos;")


def _xml(ctx: Ctx, e: Event, *, rendered: bool) -> str:
    guid = _PROVIDER_GUIDS.get(e.provider)
    provider = f"<Provider Name='{e.provider}' Guid='{guid}'/>" if guid else \
        f"<Provider Name='{e.provider}'/>"
    qual = _EVENTLOG_QUALIFIERS.get(e.provider)
    event_id = f"<EventID Qualifiers='{qual}'>{e.event_id}</EventID>" if qual is not None and not guid else \
        f"<EventID>{e.event_id}</EventID>"
    security = f"<Security UserID='{e.user_sid}'/>" if e.user_sid != "N/A" else "<Security/>"
    xml = (
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>" + provider + event_id
        + f"<Version>0</Version><Level>{e.level}</Level><Task>0</Task><Opcode>0</Opcode>"
        + "<Keywords>0x80000000000000</Keywords>"
        + f"<TimeCreated SystemTime='{_system_time(e.time)}'/><EventRecordID>{e.record_id}</EventRecordID>"
        + "<Correlation/><Execution ProcessID='4' ThreadID='8'/><Channel>System</Channel>"
        + f"<Computer>{_computer(ctx)}</Computer>{security}</System><EventData></EventData>"
    )
    if rendered:
        levels = _LEVELS.get(lang(ctx.locale), _LEVELS["en"])
        xml += (f"<RenderingInfo Culture='{ctx.locale.lower()}'><Message>{_esc(e.message)}</Message>"
                f"<Level>{levels.get(e.level, '')}</Level><Task></Task><Opcode>{e.opcode}</Opcode>"
                f"<Channel>System</Channel><Provider></Provider><Keywords><Keyword>{e.keyword}</Keyword></Keywords>"
                "</RenderingInfo>")
    return xml + "</Event>"


# ------------------------------------------------------------------ the XPath subset

_TOKEN = re.compile(r"\s*(?:(\d+)|('[^']*'|\"[^\"]*\")|(<=|>=|!=|=|<|>)|([\[\]()@*/])|([A-Za-z_][\w\-]*))")


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise QueryError(text)
        out.append(next(g for g in m.groups() if g is not None))
        pos = m.end()
    return out


Pred = Callable[[Event], bool]


def compile_query(query: str, now: float) -> Pred:
    """Compile "*[System[...]]" / "Event/System[...]" / "*" into a predicate over events."""
    q = query.strip()
    if q in ("*", ""):
        return lambda e: True
    toks = _tokens(q)
    p = _Parser(toks, now)
    pred = p.top()
    if p.i != len(toks):
        raise QueryError(query)
    return pred


class _Parser:
    def __init__(self, toks: list[str], now: float) -> None:
        self.t = toks
        self.i = 0
        self.now = now

    def peek(self) -> str | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def take(self, want: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (want is not None and tok.lower() != want.lower()):
            raise QueryError(f"expected {want}")
        self.i += 1
        return tok

    def top(self) -> Pred:
        # "*" or "Event" [ "/" "System" ] [ "[" expr "]" ]
        head = self.take()
        if head not in ("*", "Event"):
            raise QueryError(head)
        if self.peek() == "/":
            self.take("/")
            self.take("System")
            self.take("[")
            inner = self.expr()
            self.take("]")
            return inner
        self.take("[")
        self.take("System")
        if self.peek() == "]":
            self.take("]")
            return lambda e: True
        self.take("[")
        inner = self.expr()
        self.take("]")
        self.take("]")
        return inner

    def expr(self) -> Pred:
        left = self.conj()
        while self.peek() is not None and self.peek().lower() == "or":
            self.take()
            right = self.conj()
            left = (lambda a, b: lambda e: a(e) or b(e))(left, right)
        return left

    def conj(self) -> Pred:
        left = self.atom()
        while self.peek() is not None and self.peek().lower() == "and":
            self.take()
            right = self.atom()
            left = (lambda a, b: lambda e: a(e) and b(e))(left, right)
        return left

    def atom(self) -> Pred:
        tok = self.peek()
        if tok == "(":
            self.take("(")
            inner = self.expr()
            self.take(")")
            return inner
        name = self.take()
        if name == "Provider":
            self.take("[")
            self.take("@")
            attr = self.take()
            if attr not in ("Name", "EventSourceName"):
                raise QueryError(attr)
            self.take("=")
            value = self._string()
            self.take("]")
            return lambda e: e.provider == value or (value == "EventLog" and e.provider == "EventLog")
        if name == "TimeCreated":
            self.take("[")
            if self.peek() == "timediff":
                self.take("timediff")
                self.take("(")
                self.take("@")
                self.take("SystemTime")
                self.take(")")
                op = self._op()
                ms = self._number()
                self.take("]")
                now = self.now
                return lambda e: _cmp((now - e.time) * 1000.0, op, ms)
            self.take("@")
            self.take("SystemTime")
            op = self._op()
            stamp = self._string()
            self.take("]")
            try:
                when = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
            except ValueError as exc:
                raise QueryError(stamp) from exc
            return lambda e: _cmp(e.time, op, when)
        fields = {"EventID": lambda e: e.event_id, "Level": lambda e: e.level,
                  "EventRecordID": lambda e: e.record_id, "Task": lambda e: 0, "Opcode": lambda e: 0}
        if name not in fields:
            raise QueryError(name)
        op = self._op()
        value = self._number()
        getter = fields[name]
        return lambda e: _cmp(getter(e), op, value)

    def _op(self) -> str:
        tok = self.take()
        if tok not in ("=", "!=", "<", "<=", ">", ">="):
            raise QueryError(tok)
        return tok

    def _string(self) -> str:
        tok = self.take()
        if len(tok) < 2 or tok[0] not in "'\"" or tok[-1] != tok[0]:
            raise QueryError(tok)
        return tok[1:-1]

    def _number(self) -> float:
        tok = self.take()
        if not tok.isdigit():
            raise QueryError(tok)
        return int(tok)


def _cmp(a: float, op: str, b: float) -> bool:
    if op == "=":
        return a == b
    if op == "!=":
        return a != b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    raise QueryError(op)


_USAGE = (
    "Windows Events Command Line Utility.\r\n\r\n"
    "Enables you to retrieve information about event logs and publishers, install\r\n"
    "and uninstall event manifests, run queries, and export, archive, and clear logs.\r\n\r\n"
    "Usage:\r\n\r\nYou can use either the short (for example, ep /uni) or long (for example,\r\n"
    "enum-publishers /unicode) version of the command and option names. Commands,\r\n"
    "options and option values are not case-sensitive.\r\n\r\n"
)
