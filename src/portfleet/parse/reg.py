"""`reg query` output -> values, by structure.

Layouts seen on real hosts (samples in tests/data/windows/):
- Vista and later: a blank line, the key path flush left, then one line per value indented by four
  spaces, fields separated by four spaces: ``    MaxUserPort    REG_DWORD    0xfffe``.
- XP / Server 2003 (reg.exe 3.0): a ``! REG.EXE VERSION 3.0`` banner first and TAB-separated fields.
The type token (``REG_DWORD``...) is never translated; the default value's name is
(``(Default)``, ``(Standard)``, ``(par défaut)``, ``<NO NAME>``), so names are kept as printed.
REG_MULTI_SZ strings are printed joined by a literal ``\\0``.
Error lines (``ERROR: ...``, ``FEHLER: ...``, ``Erreur : ...``) are reported by `error_lines`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from portfleet.parse.numbers import ascii_hex, ascii_int

RegData = int | str | list[str]

_HIVES = ("HKEY_LOCAL_MACHINE", "HKEY_CURRENT_USER", "HKEY_USERS", "HKEY_CLASSES_ROOT", "HKEY_CURRENT_CONFIG",
          "HKLM", "HKCU", "HKU", "HKCR", "HKCC")
# Host text is untrusted (DESIGN "Rules that matter"): each pattern here is anchored or starts on one
# fixed character, and no two of its quantifiers can take the same characters, so a line of 40,000
# spaces costs one pass over it, not 40,000.
# A value line is cut at its type field instead (`_value_fields`): a lazy name and lazy data around
# whitespace runs was quadratic in the line length. The type token (never translated) is a whole field:
# a blank before it, a blank or the line end after it. The search tries each blank once.
_TYPE_FIELD = re.compile(r"[ \t](REG_[A-Z_]+)(?![^ \t])")
# reg.exe prints its errors as "<LABEL>: <message>" (label translated, at most a couple of words);
# the message is the rest of the line, trimmed (`_error_message`).
_ERROR_HEAD = re.compile(r"\s*[^\W\d_][^\W\d_ ]*(?: [^\W\d_]+)?\s?:\s+")


@dataclass(frozen=True)
class RegValue:
    name: str
    type: str
    value: RegData
    key: str = ""


def is_key_line(line: str) -> bool:
    s = line.strip()
    head = s.split("\\", 1)[0].upper()
    return bool(s) and not line[:1].isspace() and head in _HIVES


def _value_fields(line: str) -> tuple[str, str, str] | None:
    """'    MaxUserPort    REG_DWORD    0xfffe' -> (name, type, data), or None if not a value line.

    The line is indented; the name is everything up to the first whitespace-separated REG_* token after
    it (names may hold spaces: "(par défaut)"); the data is the rest, trimmed of spaces and TABs."""
    if line[:1] not in (" ", "\t"):
        return None
    name_start = len(line) - len(line.lstrip(" \t"))
    if name_start == len(line) or line[name_start].isspace():  # blank, or e.g. a U+3000 indent
        return None
    # The search starts on the name's first character, so the type found is at least the 2nd field.
    m = _TYPE_FIELD.search(line, name_start)
    if m is None:
        return None
    return line[name_start:m.start()].rstrip(" \t"), m.group(1), line[m.end():].strip(" \t")


def is_value_line(line: str) -> bool:
    return _value_fields(line) is not None


def _error_message(line: str) -> str | None:
    """The message of a reg.exe error line ("ERROR: ...", "Erreur : ..."), else None."""
    m = _ERROR_HEAD.match(line)
    if not m:
        return None
    return line[m.end():].rstrip() or None


def _decode(reg_type: str, data: str) -> RegData:
    if reg_type in ("REG_DWORD", "REG_QWORD", "REG_DWORD_BIG_ENDIAN"):
        # reg.exe prints these as 0x-hex; a QWORD has at most 16 hex digits (20 decimal ones).
        text = data.strip()
        number = ascii_hex(text, 16) if text[:2] in ("0x", "0X") else ascii_int(text, 20)
        return data if number is None else number
    if reg_type == "REG_MULTI_SZ":
        return [part for part in data.split("\\0") if part]
    return data


def parse_reg_query(text: str | None) -> dict[str, RegValue]:
    """Every value line under any key header; later keys win on a repeated name (not expected)."""
    values: dict[str, RegValue] = {}
    key = ""
    for raw in (text or "").splitlines():
        line = raw.rstrip("\r\n")
        if is_key_line(line):
            key = line.strip()
            continue
        fields = _value_fields(line)
        if fields is None:
            continue
        name, reg_type, data = fields
        values[name] = RegValue(name, reg_type, _decode(reg_type, data), key)
    return values


def find_value(values: dict[str, RegValue], name: str) -> RegValue | None:
    """Registry names are case-insensitive."""
    found = values.get(name)
    if found is not None:
        return found
    lowered = name.lower()
    for value in values.values():
        if value.name.lower() == lowered:
            return value
    return None


def key_lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if is_key_line(line)]


def error_lines(text: str | None) -> list[str]:
    """Lines shaped like reg.exe's errors, whatever the language; the message part only."""
    out = []
    for line in (text or "").splitlines():
        if not line.strip() or is_key_line(line) or is_value_line(line):
            continue
        message = _error_message(line)
        if message is not None:
            out.append(message)
    return out


def only_errors(text: str | None) -> bool:
    """True when the output holds reg.exe error lines and nothing else (no key, no value, no noise)."""
    lines = [line for line in (text or "").splitlines() if line.strip() and not line.lstrip().startswith("! REG.EXE")]
    return bool(lines) and all(_error_message(line) is not None and not is_key_line(line) and not is_value_line(line)
                               for line in lines)
