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

RegData = int | str | list[str]

_VALUE_LINE = re.compile(r"^[ \t]+(?P<name>\S.*?)[ \t]+(?P<type>REG_[A-Z_]+)(?:[ \t]+(?P<data>.*?))?[ \t]*$")
_HIVES = ("HKEY_LOCAL_MACHINE", "HKEY_CURRENT_USER", "HKEY_USERS", "HKEY_CLASSES_ROOT", "HKEY_CURRENT_CONFIG",
          "HKLM", "HKCU", "HKU", "HKCR", "HKCC")
# reg.exe prints its errors as "<LABEL>: <message>" (label translated, at most a couple of words).
_ERROR_LINE = re.compile(r"^\s*(?P<label>[^\W\d_][^\W\d_ ]*(?: [^\W\d_]+)?)\s?:\s+(?P<message>\S.*?)\s*$")


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


def _decode(reg_type: str, data: str) -> RegData:
    if reg_type in ("REG_DWORD", "REG_QWORD", "REG_DWORD_BIG_ENDIAN"):
        text = data.strip()
        try:
            return int(text, 16) if text.lower().startswith("0x") else int(text)
        except ValueError:
            return data
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
        m = _VALUE_LINE.match(line)
        if not m:
            continue
        reg_type = m.group("type")
        values[m.group("name")] = RegValue(m.group("name"), reg_type, _decode(reg_type, m.group("data") or ""), key)
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
        if not line.strip() or is_key_line(line) or _VALUE_LINE.match(line):
            continue
        m = _ERROR_LINE.match(line)
        if m:
            out.append(m.group("message"))
    return out


def only_errors(text: str | None) -> bool:
    """True when the output holds reg.exe error lines and nothing else (no key, no value, no noise)."""
    lines = [line for line in (text or "").splitlines() if line.strip() and not line.lstrip().startswith("! REG.EXE")]
    return bool(lines) and all(_ERROR_LINE.match(line) and not is_key_line(line) and not _VALUE_LINE.match(line)
                               for line in lines)
