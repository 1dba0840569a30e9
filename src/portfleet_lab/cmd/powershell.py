"""powershell.exe -EncodedCommand <base64 UTF-16LE> (what pywinrm's Session.run_ps sends), -Command, -File-less.

Modelled: scripts whose statements (one per line or `;`) are native command lines (reg, netsh, netstat, ...),
`& "path\\tool.exe" args`, `exit N` / `exit $LASTEXITCODE`, `$LASTEXITCODE`, `$?`, and Write-Output/echo/
Write-Host with literal arguments. Anything else is treated as a command PowerShell cannot find.

References:
- about_PowerShell_exe (https://learn.microsoft.com/powershell/module/microsoft.powershell.core/about/
  about_powershell_exe): -EncodedCommand takes base64 of a UTF-16LE string; parameter names may be abbreviated
  (-enc, -ec, -nop, -noni); with -Command the exit code is 0 if the last statement succeeded ($?), else 1,
  unless `exit N` is used.
- With -EncodedCommand the error stream is serialized as CLIXML on stderr: "#< CLIXML\\r\\n<Objs ...>" holding
  the "Preparing modules for first use." progress records and one <S S="Error"> per rendered line, CRLF
  written as _x000D__x000A_, lines wrapped at the 120-column host width. Shape and texts are taken from the
  real capture in pywinrm's test suite (test_decode_clixml_error: "fake : The term 'fake' is not recognized
  as the name of a cmdlet, function, script file, or operable program. Check " / "the spelling of the name,
  or if a path was included, verify that the path is correct and try again." / "At line:1 char:1" /
  "+ fake cmdlet" / "+ ~~~~" / CategoryInfo / FullyQualifiedErrorId / " ").
"""

from __future__ import annotations

import base64
import binascii
import re

from .base import Ctx, Interpreter, Output, split_args
from .environment import environment

_PARAMS = [  # (name, shortest accepted prefix), as powershell.exe 5.1 matches them
    ("encodedcommand", "e"), ("ec", "ec"), ("executionpolicy", "ex"), ("command", "c"), ("noprofile", "nop"),
    ("noninteractive", "noni"), ("nologo", "nol"), ("noexit", "noe"), ("file", "f"), ("inputformat", "i"),
    ("outputformat", "o"), ("windowstyle", "w"), ("version", "v"), ("sta", "s"), ("mta", "mta"),
    ("configurationname", "config"), ("psconsolefile", "psc"),
]
_TAKES_VALUE = {"encodedcommand", "ec", "executionpolicy", "inputformat", "outputformat", "windowstyle", "version",
                "configurationname", "psconsolefile", "file"}

_CLIXML_HEAD = '#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
_PROGRESS = (
    '<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T>'
    '<T>System.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for first use.'
    '</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR></MS></Obj>'
    '<Obj S="progress" RefId="1"><TNRef RefId="0" /><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing '
    'modules for first use.</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR>'
    '</MS></Obj>'
)
_WIDTH = 120


def _param(word: str) -> str | None:
    w = word.lower().lstrip("-/")
    for name, shortest in _PARAMS:
        if name.startswith(w) and len(w) >= len(shortest):
            return name
    return None


def run(ctx: Ctx, tail: str, shell: Interpreter) -> Output:
    args = split_args(tail)
    script: str | None = None
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-":
            if ctx.stdin is None:
                return Output(waiting_for_input=True).exit(1)
            script = ctx.stdin
            break
        if a[:1] not in ("-", "/"):
            script = " ".join(args[i:])  # the rest is the command text
            break
        name = _param(a)
        if name is None:
            script = " ".join(args[i:])  # powershell.exe takes an unknown parameter as the start of -Command
            break
        if name in ("encodedcommand", "ec"):
            if i + 1 >= len(args):
                return Output().err("Cannot process the command because of a missing parameter. "
                                    "A command must follow -EncodedCommand.\r\n").exit(-196608)
            try:
                script = base64.b64decode(args[i + 1], validate=True).decode("utf-16-le")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return Output().err("Cannot process the command because the value specified with -EncodedCommand "
                                    "is not properly encoded. The value must be Base64 encoded.\r\n").exit(-196608)
            return _run_script(ctx, shell, script, clixml=True)
        if name == "command":
            script = " ".join(args[i + 1:])
            break
        if name == "file":
            return Output().err(f"The argument '{args[i + 1] if i + 1 < len(args) else ''}' to the -File parameter "
                                "does not exist. Provide the path to an existing '.ps1' file as an argument to "
                                "the -File parameter.\r\n").exit(-196608)
        i += 2 if name in _TAKES_VALUE else 1
    if script is None:
        # interactive PowerShell under WinRS: prints its banner and waits on stdin
        out = Output().out("Windows PowerShell\r\nCopyright (C) Microsoft Corporation. All rights reserved.\r\n\r\n")
        out.waiting_for_input = ctx.stdin is None
        return out.exit(0 if ctx.stdin is not None else 1)
    return _run_script(ctx, shell, script, clixml=False)


def _statements(script: str) -> list[tuple[int, int, str, str]]:
    """(line number, column, statement text, whole source line) for each statement; ';' and newlines split."""
    out = []
    for lineno, line in enumerate(script.replace("\r\n", "\n").split("\n"), start=1):
        start = 0
        quote = None
        for pos, ch in enumerate(line + ";"):
            if quote:
                if ch == quote:
                    quote = None
                continue
            if ch in "'\"":
                quote = ch
            elif ch == "#" and not line[start:pos].strip():
                break  # a comment to the end of the line
            elif ch == ";":
                text = line[start:pos]
                if text.strip():
                    col = start + (len(text) - len(text.lstrip())) + 1
                    out.append((lineno, col, text.strip(), line))
                start = pos + 1
    return out


def _expand(ctx: Ctx, text: str, lastexit: int) -> str:
    def env(m: re.Match) -> str:
        values = {k.lower(): v for k, v in environment(ctx, lastexit).items()}
        return values.get(m.group(1).lower(), "")

    text = re.sub(r"\$env:([A-Za-z_][\w]*)", env, text)
    return text.replace("$LASTEXITCODE", str(lastexit))


def _literals(ctx: Ctx, text: str, lastexit: int) -> list[str]:
    out = []
    for m in re.finditer(r"'((?:[^']|'')*)'|\"((?:[^\"`]|`.)*)\"|(\S+)", text):
        if m.group(1) is not None:
            out.append(m.group(1).replace("''", "'"))
        elif m.group(2) is not None:
            out.append(_expand(ctx, m.group(2), lastexit))
        else:
            out.append(_expand(ctx, m.group(3), lastexit))
    return out


def _run_script(ctx: Ctx, shell: Interpreter, script: str, *, clixml: bool) -> Output:
    out = Output()
    errors: list[str] = []
    lastexit = 0
    success = True
    for lineno, col, stmt, source in _statements(script):
        head, _, rest = stmt.partition(" ")
        low = head.lower()
        if low == "exit":
            value = rest.strip()
            if not value:
                code = 0
            elif value.lower() == "$lastexitcode":
                code = lastexit
            else:
                try:
                    code = int(value)
                except ValueError:
                    code = 0
            return _finish(out, errors, code, clixml)
        if low == "$lastexitcode" and not rest.strip():
            out.out(f"{lastexit}\r\n")
            success = True
            continue
        if low == "$?" and not rest.strip():
            out.out(("True" if success else "False") + "\r\n")
            continue
        if low in ("write-output", "echo", "write"):
            for value in _literals(ctx, rest, lastexit):
                out.out(value + "\r\n")
            success = True
            continue
        if low == "write-host":
            out.out(" ".join(_literals(ctx, rest, lastexit)) + "\r\n")
            success = True
            continue
        if low == "&":
            head, _, rest = rest.strip().partition(" ")
            head = head.strip("'\"")
        program = head.strip("'\"").replace("/", "\\").rsplit("\\", 1)[-1].lower()
        if program.endswith(".exe"):
            program = program[:-4]
        # cmd.exe's internal commands (echo, set, ...) are not programs: PowerShell cannot find them either
        handler = shell.program(program) if program != "powershell" else None
        if handler is None:
            errors.append(_not_found(head, lineno, col, source))
            success = False
            continue
        result = handler(ctx, _expand(ctx, rest, lastexit), shell)
        stdout = result.stdout
        if stdout and not stdout.endswith("\n"):
            stdout += "\r\n"  # PowerShell emits native output line by line
        out.out(stdout)
        out.err(result.stderr)
        if result.waiting_for_input:
            out.waiting_for_input = True
            return out.exit(1)
        lastexit = result.code if result.code is not None else 0
        success = lastexit == 0
    return _finish(out, errors, 0 if success else 1, clixml)


def _finish(out: Output, errors: list[str], code: int, clixml: bool) -> Output:
    if errors:
        if clixml:
            out.err(_CLIXML_HEAD + _PROGRESS + "".join(errors) + "</Objs>")
        else:
            out.err("".join(_plain(e) for e in errors))
    return out.exit(code)


def _wrap(text: str) -> list[str]:
    """Greedy word wrap to the host width: words keep their trailing space, lines stay under 120 columns."""
    lines, cur = [], ""
    for word in re.findall(r"\S+\s*", text):
        if cur and len(cur) + len(word) > _WIDTH - 1:
            lines.append(cur)
            cur = ""
        cur += word
    if cur:
        lines.append(cur)
    return lines


def _xml_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _not_found(name: str, lineno: int, col: int, source: str) -> str:
    message = (f"{name} : The term '{name}' is not recognized as the name of a cmdlet, function, script file, or "
               "operable program. Check the spelling of the name, or if a path was included, verify that the path "
               "is correct and try again.")
    lines = _wrap(message) + [
        f"At line:{lineno} char:{col}",
        f"+ {source}",
        "+ " + " " * (col - 1) + "~" * len(name),
        f"    + CategoryInfo          : ObjectNotFound: ({name}:String) [], CommandNotFoundException",
        "    + FullyQualifiedErrorId : CommandNotFoundException",
        " ",
    ]
    return "".join(f'<S S="Error">{_xml_escape(line)}_x000D__x000A_</S>' for line in lines)


def _plain(error_xml: str) -> str:
    """The same error record as a console host prints it (plain text, for -Command without CLIXML)."""
    parts = re.findall(r'<S S="Error">(.*?)_x000D__x000A_</S>', error_xml)
    text = "\r\n".join(p.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") for p in parts)
    return text + "\r\n"
