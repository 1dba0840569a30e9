"""What every simulated tool gets (Ctx, the Interpreter running it) and gives back (Output), plus Windows argv
splitting.

The Interpreter is handed to each tool so that no tool imports the shell: the shell imports the table of
tools (tools.py), and a tool that runs other programs (cmd /c, powershell) asks the interpreter for them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable, Protocol
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from ..clock import LabClock
    from ..model import HostState

STDOUT, STDERR = 1, 2


@dataclass
class Output:
    """Output of one command as ordered chunks, so that `2>&1` keeps the order Windows would write in."""

    chunks: list[tuple[int, str]] = field(default_factory=list)
    code: int | None = 0  # None: an internal command that leaves ERRORLEVEL as it was (echo, rem, ver)
    waiting_for_input: bool = False  # the program blocks reading stdin (a prompt with nothing to answer)

    def out(self, text: str) -> "Output":
        if text:
            self.chunks.append((STDOUT, text))
        return self

    def err(self, text: str) -> "Output":
        if text:
            self.chunks.append((STDERR, text))
        return self

    def exit(self, code: int | None) -> "Output":
        self.code = code
        return self

    @property
    def stdout(self) -> str:
        return "".join(t for s, t in self.chunks if s == STDOUT)

    @property
    def stderr(self) -> str:
        return "".join(t for s, t in self.chunks if s == STDERR)


@dataclass
class Ctx:
    """One command line's view of the host."""

    host: "HostState"
    clock: "LabClock"
    now: float  # real epoch at the start of the command line
    env: dict[str, str] = field(default_factory=dict)  # extra/overridden environment (set VAR=...)
    stdin: str | None = None  # text piped or redirected in; None = WinRS stdin with nothing sent
    files: dict[str, str] = field(default_factory=dict)  # what `> file` wrote during this line
    changed: bool = False  # a tool modified persistent state
    user: str = "Administrator"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.host.timezone)

    def local(self, ts: float | None = None) -> datetime:
        """Host-local wall time of a real instant."""
        return datetime.fromtimestamp(self.now if ts is None else ts, tz=timezone.utc).astimezone(self.tz)

    @property
    def locale(self) -> str:
        return self.host.locale


class Interpreter(Protocol):
    """The cmd.exe a tool runs under, as far as a tool may use it."""

    errorlevel: int

    def program(self, name: str) -> "Handler | None":
        """The tool a program name (lower case, no extension) runs on this host; None: not installed."""
        ...

    def run_nested(self, line: str) -> Output:
        """`cmd /c LINE`: a child cmd.exe on the same host that starts with this one's ERRORLEVEL."""
        ...


# One simulated program: (the command line's view of the host, the argument tail as typed, the interpreter).
Handler = Callable[[Ctx, str, Interpreter], Output]


def split_args(text: str) -> list[str]:
    """Split a command tail the way the Microsoft C runtime builds argv (CommandLineToArgvW rules).

    https://learn.microsoft.com/cpp/c-language/parsing-c-command-line-arguments : 2n backslashes before a
    quote give n backslashes and toggle quoting, 2n+1 give n backslashes and a literal quote; inside a
    quoted run "" is a literal quote.
    """
    args: list[str] = []
    cur: list[str] = []
    in_arg = False
    quoted = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            j = i
            while j < n and text[j] == "\\":
                j += 1
            count = j - i
            if j < n and text[j] == '"':
                cur.append("\\" * (count // 2))
                if count % 2:
                    cur.append('"')
                    i = j + 1
                else:
                    i = j
                in_arg = True
                continue
            cur.append("\\" * count)
            in_arg = True
            i = j
            continue
        if c == '"':
            if quoted and i + 1 < n and text[i + 1] == '"':
                cur.append('"')
                i += 2
                continue
            quoted = not quoted
            in_arg = True
            i += 1
            continue
        if c in " \t" and not quoted:
            if in_arg:
                args.append("".join(cur))
                cur, in_arg = [], False
            i += 1
            continue
        cur.append(c)
        in_arg = True
        i += 1
    if in_arg:
        args.append("".join(cur))
    return args
