"""cmd.exe /c: one command line -> parsed, expanded, run, streams and exit code.

Behaviours mirrored (https://learn.microsoft.com/windows-server/administration/windows-commands/cmd and
the cmd.exe parser analysis at https://stackoverflow.com/questions/4094699 "How does the Windows Command
Interpreter (CMD.EXE) parse scripts?"):
- %VAR% is expanded once, for the whole line, before it is split into commands ("phase 1"), so
  `x & echo %ERRORLEVEL%` prints the value from before the line ran; on the command line (not in a
  batch file) an undefined %VAR% stays as typed.
- ^ escapes the next character outside quotes; inside "..." the operators & | < > ( ) are literal.
- Operators, loosest first: `&` (always run next), `||` (run on failure), `&&` (run on success), `|`.
- Redirections `[n]>file`, `[n]>>file`, `[n]>&m`, `<file`, applied left to right (`>nul 2>&1`).
- cmd /c returns the ERRORLEVEL left by the last command; echo/rem/ver do not change ERRORLEVEL.
- An unknown command: "'x' is not recognized as an internal or external command,\\r\\noperable program or
  batch file." on stderr, ERRORLEVEL 9009.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import intl, wintz
from . import internal, messages, tools
from .base import STDERR, STDOUT, Ctx, Handler, Output
from .environment import environment

# ---------------------------------------------------------------- expansion


def expand(text: str, env: dict[str, str]) -> str:
    """Phase-1 %VAR% expansion, command-line rules (undefined variables stay as typed)."""
    lowered = {k.lower(): v for k, v in env.items()}
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        j = text.find("%", i + 1)
        if j < 0:
            out.append(text[i:])
            break
        name = text[i + 1 : j]
        value = _lookup(name, lowered)
        if value is None:
            out.append("%")  # keep the first %, the closing one may open another variable
            i += 1
        else:
            out.append(value)
            i = j + 1
    return "".join(out)


def _lookup(name: str, env: dict[str, str]) -> str | None:
    if not name:
        return None
    if ":~" in name:  # %VAR:~start,len% substring
        base, spec = name.split(":~", 1)
        value = env.get(base.lower())
        if value is None:
            return None
        try:
            parts = [int(p) for p in spec.split(",")]
        except ValueError:
            return None
        start = parts[0]
        sub = value[start:] if start >= 0 else value[len(value) + start :]
        if len(parts) > 1:
            ln = parts[1]
            sub = sub[:ln] if ln >= 0 else sub[:ln]
        return sub
    return env.get(name.lower())


# ---------------------------------------------------------------- lexer / parser


@dataclass
class Redirect:
    fd: int  # 0 stdin, 1 stdout, 2 stderr
    mode: str  # ">", ">>", ">&", "<"
    target: str


@dataclass
class Simple:
    text: str  # the command as typed (carets removed, quotes kept)
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class Group:
    body: "Node"
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class Binary:
    op: str  # "&", "||", "&&", "|"
    left: "Node"
    right: "Node"


Node = Simple | Group | Binary


class CmdSyntaxError(Exception):
    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.token = token


def _lex(line: str) -> list[tuple[str, object]]:
    """Tokens: ("text", str) runs of command text, ("op", str) operators, ("redir", Redirect)."""
    toks: list[tuple[str, object]] = []
    buf: list[str] = []
    quoted = False
    depth = 0
    i, n = 0, len(line)

    def flush() -> None:
        if buf:
            toks.append(("text", "".join(buf)))
            buf.clear()

    def at_command_start() -> bool:
        return not "".join(buf).strip() and (not toks or toks[-1][0] == "op")

    while i < n:
        c = line[i]
        if quoted:
            buf.append(c)
            if c == '"':
                quoted = False
            i += 1
            continue
        if c == '"':
            quoted = True
            buf.append(c)
            i += 1
            continue
        if c == "^":
            if i + 1 < n:
                buf.append("\x00" + line[i + 1])  # escaped: literal, never an operator
                i += 2
            else:
                i += 1
            continue
        if c in "&|":
            flush()
            if line.startswith(c * 2, i):
                toks.append(("op", c * 2))
                i += 2
            else:
                toks.append(("op", c))
                i += 1
            continue
        if c == "(" and at_command_start():
            flush()
            toks.append(("op", "("))
            depth += 1
            i += 1
            continue
        if c == ")" and depth > 0:
            flush()
            toks.append(("op", ")"))
            depth -= 1
            i += 1
            continue
        if c in "<>":
            fd = 0 if c == "<" else 1
            prev = "".join(buf)
            if c == ">" and prev and prev[-1].isdigit() and (len(prev) == 1 or prev[-2] in " \t"):
                fd = int(prev[-1])
                buf.pop()
            mode = c
            i += 1
            if c == ">" and i < n and line[i] == ">":
                mode = ">>"
                i += 1
            if i < n and line[i] == "&":
                mode = ">&" if c == ">" else "<&"
                i += 1
            while i < n and line[i] in " \t":
                i += 1
            j = i
            q = False
            while j < n and (q or line[j] not in " \t&|<>()"):
                if line[j] == '"':
                    q = not q
                j += 1
            target = line[i:j].replace('"', "")
            if not target:
                raise CmdSyntaxError("newline" if j >= n else line[j])
            flush()
            toks.append(("redir", Redirect(fd, mode, target)))
            i = j
            continue
        buf.append(c)
        i += 1
    flush()
    return toks


def _unescape(text: str) -> str:
    return text.replace("\x00", "")


class _Parser:
    def __init__(self, toks: list[tuple[str, object]]) -> None:
        self.toks = toks
        self.pos = 0

    def peek(self) -> tuple[str, object] | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def parse(self) -> Node | None:
        node = self.parse_list()
        if self.peek() is not None:
            raise CmdSyntaxError(str(self.peek()[1]))
        return node

    def parse_list(self) -> Node | None:
        left = self.parse_or()
        while (t := self.peek()) and t == ("op", "&"):
            self.pos += 1
            if left is None:
                raise CmdSyntaxError("&")
            right = self.parse_or()
            if right is None:  # "a &" at the end is allowed by cmd
                return left
            left = Binary("&", left, right)
        return left

    def _chain(self, op: str, sub) -> Node | None:
        left = sub()
        while (t := self.peek()) and t == ("op", op):
            self.pos += 1
            if left is None:
                raise CmdSyntaxError(op)
            right = sub()
            if right is None:
                raise CmdSyntaxError(op)
            left = Binary(op, left, right)
        return left

    def parse_or(self) -> Node | None:
        return self._chain("||", self.parse_and)

    def parse_and(self) -> Node | None:
        return self._chain("&&", self.parse_pipe)

    def parse_pipe(self) -> Node | None:
        return self._chain("|", self.parse_command)

    def parse_command(self) -> Node | None:
        t = self.peek()
        if t == ("op", "("):
            self.pos += 1
            body = self.parse_list()
            if self.peek() != ("op", ")"):
                raise CmdSyntaxError("newline")
            self.pos += 1
            redirects: list[Redirect] = []
            while (nt := self.peek()) and nt[0] in ("text", "redir"):
                if nt[0] == "text" and str(nt[1]).strip():
                    # text after ")" that is not an operator or a redirection is a syntax error in cmd
                    raise CmdSyntaxError(_unescape(str(nt[1]).split()[0]))
                if nt[0] == "redir":
                    redirects.append(nt[1])  # type: ignore[arg-type]
                self.pos += 1
            if body is None:
                raise CmdSyntaxError(")")
            return Group(body, redirects)
        text_parts: list[str] = []
        redirects: list[Redirect] = []
        while (t := self.peek()) and t[0] in ("text", "redir"):
            self.pos += 1
            if t[0] == "text":
                text_parts.append(str(t[1]))
            else:
                redirects.append(t[1])  # type: ignore[arg-type]
        text = " ".join(p.strip() for p in text_parts if p.strip()) if len(text_parts) > 1 else "".join(text_parts)
        if not text.strip() and not redirects:
            return None
        return Simple(text, redirects)


def parse(line: str) -> Node | None:
    return _Parser(_lex(line)).parse()


# ---------------------------------------------------------------- execution


class Shell:
    """Runs one parsed command line; holds ERRORLEVEL between its commands. Each tool gets it as its
    base.Interpreter (program lookup, cmd /c)."""

    def __init__(self, ctx: Ctx, errorlevel: int = 0) -> None:
        self.ctx = ctx
        self.errorlevel = errorlevel

    def program(self, name: str) -> Handler | None:
        return tools.lookup(name, self.ctx.host)

    def run_nested(self, line: str) -> Output:
        return Shell(self.ctx, self.errorlevel).run_line(line)

    def run_line(self, line: str) -> Output:
        # cmd /c stops reading its command line at the first line feed
        line = line.split("\n", 1)[0].rstrip("\r")
        env = environment(self.ctx, self.errorlevel)
        line = expand(line, env)
        try:
            node = parse(line)
        except CmdSyntaxError as exc:
            # "& was unexpected at this time." (cmd /c syntax errors leave ERRORLEVEL 255)
            self.errorlevel = 255
            return Output().err(messages.unexpected(exc.token, self.ctx.locale)).exit(255)
        if node is None:
            return Output().exit(self.errorlevel)
        out = self.run(node, self.ctx.stdin)
        return Output(out.chunks, self.errorlevel, out.waiting_for_input)

    def run(self, node: Node, stdin: str | None) -> Output:
        if isinstance(node, Binary):
            if node.op == "|":
                left = self.run(node.left, stdin)
                right = self.run(node.right, left.stdout)
                return Output([c for c in left.chunks if c[0] == STDERR] + right.chunks, right.code,
                              left.waiting_for_input or right.waiting_for_input)
            left = self.run(node.left, stdin)
            if left.waiting_for_input:  # a blocked program never returns: nothing after it runs
                return left
            success = left.code is None or left.code == 0
            if node.op == "&" or (node.op == "&&" and success) or (node.op == "||" and not success):
                right = self.run(node.right, stdin)
                return Output(left.chunks + right.chunks, right.code, right.waiting_for_input)
            return left
        if isinstance(node, Group):
            stdin2 = self._stdin_for(node.redirects, stdin)
            if isinstance(stdin2, Output):
                return stdin2
            return self._redirect(self.run(node.body, stdin2), node.redirects)
        stdin2 = self._stdin_for(node.redirects, stdin)
        if isinstance(stdin2, Output):
            self.errorlevel = 1
            return stdin2
        out = self.simple(node.text, stdin2)
        if out.code is not None:
            self.errorlevel = out.code
        return self._redirect(out, node.redirects)

    def _stdin_for(self, redirects: list[Redirect], stdin: str | None) -> str | None | Output:
        for r in redirects:
            if r.fd == 0 and r.mode == "<":
                if r.target.lower() in ("nul", "nul:"):
                    stdin = ""
                elif r.target.lower() in self.ctx.files:
                    stdin = self.ctx.files[r.target.lower()]
                else:
                    return Output().err(messages.file_not_found(self.ctx.locale)).exit(1)
        return stdin

    def _redirect(self, out: Output, redirects: list[Redirect]) -> Output:
        if not redirects:
            return out
        # where each handle ends up: "out", "err", "nul" or "file:<name>"
        where = {1: "out", 2: "err"}
        for r in redirects:
            if r.fd == 0 or r.mode.startswith("<"):
                continue
            if r.mode == ">&":
                try:
                    where[r.fd] = where.get(int(r.target), "nul")
                except ValueError:
                    pass
                continue
            target = r.target.lower()
            if target in ("nul", "nul:"):
                where[r.fd] = "nul"
            elif target in ("con", "con:"):
                where[r.fd] = "out" if r.fd == 1 else "err"
            else:
                if r.mode == ">":
                    self.ctx.files[target] = ""
                where[r.fd] = "file:" + target
        chunks: list[tuple[int, str]] = []
        for stream, text in out.chunks:
            dest = where.get(stream, "nul")
            if dest == "out":
                chunks.append((STDOUT, text))
            elif dest == "err":
                chunks.append((STDERR, text))
            elif dest.startswith("file:"):
                name = dest[5:]
                self.ctx.files[name] = self.ctx.files.get(name, "") + text
        return Output(chunks, out.code, out.waiting_for_input)

    # -- one command
    def simple(self, text: str, stdin: str | None) -> Output:
        body = text.lstrip(" \t;,=")
        if body.startswith("@"):
            body = body[1:].lstrip()
        if not body:
            return Output().exit(None)
        low = _unescape(body).lower()
        # Internal commands split their name at delimiters, e.g. "echo." "echo/" (SS64 "ECHO.").
        for name in ("echo", "rem"):
            if low.startswith(name) and (len(low) == len(name) or low[len(name)] in " \t.:/\\(=,;+[]"):
                arg = _unescape(body[len(name) :])
                return internal.run(name, self.ctx, arg, self.errorlevel)
        first, tail = _first_token(body)
        program = _program_name(_unescape(first))
        ctx = self.ctx
        ctx.stdin = stdin
        tail = _unescape(tail)
        if program in internal.NAMES:
            return internal.run(program, ctx, tail, self.errorlevel)
        handler = self.program(program)
        if handler is None:
            return Output().err(messages.not_recognized(_unescape(first), ctx.locale)).exit(9009)
        return handler(ctx, tail, self)


def _first_token(body: str) -> tuple[str, str]:
    """Program token (quotes kept) and the rest of the command (leading delimiter removed)."""
    quoted = False
    i = 0
    while i < len(body):
        c = body[i]
        if c == '"':
            quoted = not quoted
        elif not quoted and c in " \t":
            break
        elif not quoted and c == "/" and i > 0 and "\\" not in body[:i] and ":" not in body[:i]:
            break  # "ver/?" "shutdown/a": cmd splits the name at "/" for internal-looking names
        i += 1
    return body[:i], body[i:].lstrip(" \t") if i < len(body) and body[i] in " \t" else body[i:]


def _program_name(token: str) -> str:
    name = token.replace('"', "")
    name = name.replace("/", "\\").rsplit("\\", 1)[-1].lower()
    for ext in (".exe", ".com"):
        if name.endswith(ext):
            name = name[: -len(ext)]
    return name


def run_line(ctx: Ctx, line: str, errorlevel: int = 0) -> Output:
    """Entry point: run one cmd /c line. Output texts are CRLF already.

    Before it runs, the registry is brought to what Windows would show at ctx.now: ActiveTimeBias follows the
    daylight saving time of the host's zone, and the user's International key exists (hosts saved by an older
    lab lack both)."""
    if wintz.refresh(ctx.host, ctx.now) | intl.ensure(ctx.host):
        ctx.changed = True
    return Shell(ctx, errorlevel).run_line(line)


__all__ = ["run_line", "parse", "expand", "Shell"]
