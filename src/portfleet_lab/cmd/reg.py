"""reg.exe: query, add, delete.

References:
- https://learn.microsoft.com/windows-server/administration/windows-commands/reg-query (and reg-add,
  reg-delete): switches, root abbreviations, exit codes 0 success / 1 failure.
- Output layout from captures: a blank line, the key as typed with the root spelled out
  ("HKEY_LOCAL_MACHINE\\system\\currentcontrolset\\control\\lsa" for "hklm\\system\\..."), then
  "    Name    REG_TYPE    data" rows, then a blank line; subkeys of a plain query follow one per line;
  REG_DWORD as 0x hex, REG_MULTI_SZ joined with a literal "\\0" (ired.team LSA / password-filter captures).
- Errors go to stderr (pg-fl.jp reg reference: "error messages are output to standard error"):
  "ERROR: The system was unable to find the specified registry key or value." and
  "ERROR: Invalid syntax.\\r\\nType \"REG QUERY /?\" for usage.", both exit 1.
- Windows XP / Server 2003 ship reg.exe 3.0, which prints a "! REG.EXE VERSION 3.0" banner before the key,
  separates name, type and data with TABs, names the default value "<NO NAME>" (Microsoft Learn "Working with
  registry entries", PowerShell-Docs, written on XP: "! REG.EXE VERSION 3.0 / (blank) / HKEY_LOCAL_MACHINE\\
  SOFTWARE\\Microsoft\\Windows\\CurrentVersion / DevicePath  REG_EXPAND_SZ   %SystemRoot%\\inf" with the TABs
  expanded; "<NO NAME>" in a captured XP listing in a public URI-handler test) and words its error
  "Error:  The system was unable to find the specified registry key or value" (two spaces, no period: the
  string table of reg.exe 3.0 "Console Registry Tool for Windows - version 3.0").
- An existing value without /f: "Value X exists, overwrite(Yes/No)? " and reg.exe waits for an answer on
  stdin (a job without input hangs there: redcanaryco/atomic-red-team PR #3017); answers come from a pipe
  or redirection when there is one.
"""

from __future__ import annotations

from .base import Ctx, Interpreter, Output, split_args
from .messages import lang
from ..model import ROOTS, RegValue

OPS = ("query", "add", "delete")


def _t(ctx: Ctx, key: str, **kw: str) -> str:
    de = lang(ctx.locale) == "de"
    texts = {
        "ok": "Der Vorgang wurde erfolgreich beendet." if de else "The operation completed successfully.",
        "notfound": "FEHLER: Der angegebene Registrierungsschl\u00fcssel bzw. Wert wurde nicht gefunden." if de
        else "ERROR: The system was unable to find the specified registry key or value.",
        "syntax": ('FEHLER: Ung\u00fcltige Syntax.\r\nGeben Sie "REG {op} /?" ein, um die Syntax anzuzeigen.' if de
                   else 'ERROR: Invalid syntax.\r\nType "REG {op} /?" for usage.'),
        "badkey": ('FEHLER: Ung\u00fcltiger Schl\u00fcsselname.\r\nGeben Sie "REG {op} /?" ein, um die Syntax anzuzeigen.'
                   if de else 'ERROR: Invalid key name.\r\nType "REG {op} /?" for usage.'),
        "overwrite": "Wert {name} ist vorhanden. \u00dcberschreiben (Ja/Nein)? " if de
        else "Value {name} exists, overwrite(Yes/No)? ",
        "delvalue": "Registrierungswert {name} l\u00f6schen (Ja/Nein)? " if de
        else "Delete the registry value {name} (Yes/No)? ",
        "delkey": "Registrierungsschl\u00fcssel {name} endg\u00fcltig l\u00f6schen (Ja/Nein)? " if de
        else "Permanently delete the registry key {name} (Yes/No)? ",
        "cancel": "Der Vorgang wurde vom Benutzer abgebrochen." if de else "The operation was canceled by the user.",
        "default": "(Standard)" if de else "(Default)",
        "end": "Suche beendet: {n} \u00dcbereinstimmung(en) gefunden." if de else "End of search: {n} match(es) found.",
    }
    if key == "notfound" and ctx.host.is_legacy:
        return "Error:  The system was unable to find the specified registry key or value"
    return texts[key].format(**kw)


def run(ctx: Ctx, tail: str, shell: Interpreter) -> Output:
    args = split_args(tail)
    if not args or args[0].lower() not in OPS:
        if args and args[0] in ("/?", "-?"):
            return Output().out(_USAGE).exit(0)
        return Output().err(_t(ctx, "syntax", op="").replace("REG  /?", "REG /?") + "\r\n").exit(1)
    op = args[0].lower()
    parsed = _parse(op, args[1:])
    if parsed is None:
        return _syntax(ctx, op)
    if parsed.get("help"):
        return Output().out(f"\r\nREG {op.upper()} /? (usage text not modelled)\r\n").exit(0)
    return {"query": _query, "add": _add, "delete": _delete}[op](ctx, parsed)


def _syntax(ctx: Ctx, op: str) -> Output:
    return Output().err(_t(ctx, "syntax", op=op.upper()) + "\r\n").exit(1)


_TAKES_ARG = {
    "query": {"/v", "/se", "/f", "/t"},
    "add": {"/v", "/t", "/s", "/d"},
    "delete": {"/v"},
}
_FLAGS = {
    "query": {"/ve", "/s", "/k", "/d", "/c", "/e", "/z", "/reg:32", "/reg:64"},
    "add": {"/ve", "/f", "/reg:32", "/reg:64"},
    "delete": {"/ve", "/va", "/f", "/reg:32", "/reg:64"},
}


def _parse(op: str, args: list[str]) -> dict | None:
    out: dict = {"positional": []}
    i = 0
    while i < len(args):
        a = args[i]
        low = a.lower()
        if low in ("/?", "-?"):
            out["help"] = True
            i += 1
            continue
        if low.startswith("/") or (low.startswith("-") and len(low) > 1):
            low = "/" + low[1:]
            if low in out:
                return None  # a switch given twice is a syntax error
            if low in _TAKES_ARG[op]:
                if i + 1 >= len(args):
                    return None
                out[low] = args[i + 1]
                i += 2
                continue
            if low in _FLAGS[op]:
                out[low] = True
                i += 1
                continue
            return None
        out["positional"].append(a)
        i += 1
    if len(out["positional"]) != 1:
        return None
    if "/v" in out and "/ve" in out:
        return None
    if op == "delete" and sum(k in out for k in ("/v", "/ve", "/va")) > 1:
        return None
    return out


def _resolve(ctx: Ctx, typed: str) -> tuple[str, str] | None:
    """(canonical path for lookups, display path as reg prints it) or None for an invalid key name."""
    text = typed.rstrip("\\")
    root, _, rest = text.partition("\\")
    full = ROOTS.get(root.upper())
    if full is None:
        return None
    display = full + ("\\" + rest if rest else "")
    return display, display


def _render(v: RegValue) -> str:
    if v.type in ("REG_DWORD", "REG_QWORD"):
        return f"0x{int(v.data):x}"
    if v.type == "REG_MULTI_SZ":
        return "\\0".join(v.data)
    if v.type in ("REG_BINARY", "REG_NONE"):
        return str(v.data).upper()
    return str(v.data)


def _row(ctx: Ctx, name: str, v: RegValue) -> str:
    if ctx.host.is_legacy:  # reg.exe 3.0
        return f"    {name or '<NO NAME>'}\t{v.type}\t{_render(v)}\r\n"
    return f"    {name or _t(ctx, 'default')}    {v.type}    {_render(v)}\r\n"


def _query(ctx: Ctx, p: dict) -> Output:
    out = _query_body(ctx, p)
    if ctx.host.is_legacy and out.code == 0 and out.stdout:
        return Output([(1, _REG3_BANNER + out.stdout)], 0)
    return out


_REG3_BANNER = "! REG.EXE VERSION 3.0\r\n"


def _query_body(ctx: Ctx, p: dict) -> Output:
    reg = ctx.host.registry
    resolved = _resolve(ctx, p["positional"][0])
    if resolved is None:
        return Output().err(_t(ctx, "badkey", op="QUERY") + "\r\n").exit(1)
    path, display = resolved
    if reg.find_key(path) is None:
        return Output().err(_t(ctx, "notfound") + "\r\n").exit(1)
    want_type = p.get("/t")
    if want_type is not None:
        want_type = want_type.upper()

    def selected(name: str, v: RegValue) -> bool:
        if "/v" in p and name.lower() != p["/v"].lower():
            return False
        if "/ve" in p and name != "":
            return False
        return want_type is None or v.type == want_type

    if p.get("/s"):
        lines: list[str] = []
        count = 0

        def walk(key: str, shown: str) -> None:
            nonlocal count
            rows = [_row(ctx, n, v) for n, v in reg.values(key).items() if selected(n, v)]
            filtering = "/v" in p or "/ve" in p or want_type is not None
            if rows or not filtering:
                lines.append("\r\n" + shown + "\r\n" + "".join(rows))
            count += len(rows)
            for sub in reg.subkeys(key):
                if not filtering:
                    count += 1
                walk(key + "\\" + sub, shown + "\\" + sub)

        walk(path, display)
        if count == 0 and ("/v" in p or "/ve" in p):
            return Output().err(_t(ctx, "notfound") + "\r\n").exit(1)
        return Output().out("".join(lines) + "\r\n" + _t(ctx, "end", n=str(count)) + "\r\n").exit(0)

    values = reg.values(path)
    if "/v" in p or "/ve" in p:
        rows = [_row(ctx, n, v) for n, v in values.items() if selected(n, v)]
        if not rows:
            return Output().err(_t(ctx, "notfound") + "\r\n").exit(1)
        return Output().out("\r\n" + display + "\r\n" + "".join(rows) + "\r\n").exit(0)
    rows = [_row(ctx, n, v) for n, v in values.items() if selected(n, v)]
    out = ""
    if rows:
        out += "\r\n" + display + "\r\n" + "".join(rows) + "\r\n"
    subs = reg.subkeys(path)
    if subs and want_type is None:
        if not rows:
            out += "\r\n"
        out += "".join(f"{display}\\{s}\r\n" for s in subs)
    return Output().out(out).exit(0)


def _parse_number(text: str, bits: int) -> int | None:
    t = text.strip()
    try:
        n = int(t[2:], 16) if t.lower().startswith("0x") else int(t, 10)
    except ValueError:
        return None
    if t.startswith("-") or n < 0 or n >= 1 << bits:
        return None
    return n


def _answer(ctx: Ctx, prompt: str) -> tuple[Output, bool | None]:
    """Ask a Yes/No question: (output so far, True/False) or (output, None) when blocked on stdin."""
    out = Output().out(prompt)
    if ctx.stdin is None:
        out.waiting_for_input = True
        return out.exit(1), None
    answer = ctx.stdin.splitlines()[0].strip().lower() if ctx.stdin.strip() else ""
    yes = {"y", "yes", "j", "ja"} if lang(ctx.locale) == "de" else {"y", "yes"}
    return out, answer in yes


def _add(ctx: Ctx, p: dict) -> Output:
    reg = ctx.host.registry
    resolved = _resolve(ctx, p["positional"][0])
    if resolved is None:
        return Output().err(_t(ctx, "badkey", op="ADD") + "\r\n").exit(1)
    path, _ = resolved
    if path.count("\\") == 0:
        return Output().err(_t(ctx, "badkey", op="ADD") + "\r\n").exit(1)
    if "/v" not in p and "/ve" not in p:
        if "/t" in p or "/d" in p or "/s" in p:
            name = ""
        else:
            reg.create_key(path)
            ctx.changed = True
            return Output().out(_t(ctx, "ok") + "\r\n").exit(0)
    name = "" if "/ve" in p else p.get("/v", "")
    vtype = p.get("/t", "REG_SZ").upper()
    data = p.get("/d", "")
    if vtype in ("REG_DWORD", "REG_DWORD_LITTLE_ENDIAN", "REG_QWORD"):
        bits = 64 if vtype == "REG_QWORD" else 32
        number = _parse_number(data or "0", bits)
        if number is None:
            return _syntax(ctx, "add")
        value = RegValue("REG_QWORD" if bits == 64 else "REG_DWORD", number)
    elif vtype == "REG_MULTI_SZ":
        sep = p.get("/s", "\\0")
        value = RegValue(vtype, [x for x in data.split(sep)] if data else [])
    elif vtype in ("REG_SZ", "REG_EXPAND_SZ"):
        value = RegValue(vtype, data)
    elif vtype in ("REG_BINARY", "REG_NONE"):
        if data and (len(data) % 2 or any(c not in "0123456789abcdefABCDEF" for c in data)):
            return _syntax(ctx, "add")
        value = RegValue(vtype, data.upper())
    else:
        return _syntax(ctx, "add")
    if "/s" in p and vtype != "REG_MULTI_SZ":
        return _syntax(ctx, "add")
    existing = reg.get(path, name) if reg.find_key(path) is not None else None
    if existing is not None and not p.get("/f"):
        out, yes = _answer(ctx, _t(ctx, "overwrite", name=existing[0] or _t(ctx, "default")))
        if yes is None:
            return out
        if not yes:
            return out.out(_t(ctx, "cancel") + "\r\n").exit(0)
        reg.set(path, name, value)
        ctx.changed = True
        return out.out(_t(ctx, "ok") + "\r\n").exit(0)
    reg.set(path, name, value)
    ctx.changed = True
    return Output().out(_t(ctx, "ok") + "\r\n").exit(0)


def _delete(ctx: Ctx, p: dict) -> Output:
    reg = ctx.host.registry
    resolved = _resolve(ctx, p["positional"][0])
    if resolved is None:
        return Output().err(_t(ctx, "badkey", op="DELETE") + "\r\n").exit(1)
    path, display = resolved
    if reg.find_key(path) is None:
        return Output().err(_t(ctx, "notfound") + "\r\n").exit(1)
    out = Output()
    if "/v" in p or "/ve" in p:
        name = "" if "/ve" in p else p["/v"]
        got = reg.get(path, name)
        if got is None:
            return Output().err(_t(ctx, "notfound") + "\r\n").exit(1)
        if not p.get("/f"):
            out, yes = _answer(ctx, _t(ctx, "delvalue", name=got[0] or _t(ctx, "default")))
            if yes is None:
                return out
            if not yes:
                return out.out(_t(ctx, "cancel") + "\r\n").exit(0)
        reg.delete(path, got[0])
    elif "/va" in p:
        if not p.get("/f"):
            out, yes = _answer(ctx, f"Delete all values under the registry key {display} (Yes/No)? ")
            if yes is None:
                return out
            if not yes:
                return out.out(_t(ctx, "cancel") + "\r\n").exit(0)
        for n in list(reg.values(path)):
            reg.delete(path, n)
    else:
        if path.count("\\") == 0:
            return Output().err(_t(ctx, "badkey", op="DELETE") + "\r\n").exit(1)
        if not p.get("/f"):
            out, yes = _answer(ctx, _t(ctx, "delkey", name=display))
            if yes is None:
                return out
            if not yes:
                return out.out(_t(ctx, "cancel") + "\r\n").exit(0)
        reg.delete_key(path)
    ctx.changed = True
    return out.out(_t(ctx, "ok") + "\r\n").exit(0)


_USAGE = (
    "\r\nREG Operation [Parameter List]\r\n\r\n"
    "  Operation  [ QUERY   | ADD    | DELETE  | COPY    |\r\n"
    "               SAVE    | LOAD   | UNLOAD  | RESTORE |\r\n"
    "               COMPARE | EXPORT | IMPORT  | FLAGS ]\r\n\r\n"
    "Return Code: (Except for REG COMPARE)\r\n\r\n"
    "  0 - Successful\r\n  1 - Failed\r\n\r\n"
    "For help on a specific operation type:\r\n\r\n  REG Operation /?\r\n"
)
