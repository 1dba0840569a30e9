"""Ansible's INI inventory format (the ``ini`` inventory plugin).

https://docs.ansible.com/ansible/latest/collections/ansible/builtin/ini_inventory.html
Lines before the first section are 'ungrouped' hosts; ``[g]`` lists hosts (``name[:port]`` with
ranges, then ``key=value`` words split like a shell, ``#`` starting a comment), ``[g:vars]`` one
``key=value`` per line (everything after '=' is the value), ``[g:children]`` group names. Lines
starting with ``#`` or ``;`` are comments. ``[g:vars]`` for a group never declared, or a child
group never declared, is an error, reported at the line that referred to it.

Values: the plugin passes every value, host line or :vars line, through ``ast.literal_eval``
(5986 -> int, True -> bool, "'x'" -> 'x'; anything else stays text, so ``true`` or ``FALSE`` stay
strings). The docs say :vars values are strings, but ansible-core's code (and so its behaviour)
literal_evals them too: https://github.com/ansible/ansible/issues/86229 -- we follow the code.
"""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from pathlib import Path
from typing import Any

from portfleet.inventory.builder import InventoryBuilder, Origin
from portfleet.inventory.errors import InventoryError
from portfleet.inventory.ranges import RangeError, expand_host_pattern

_COMMENT_MARKERS = ("#", ";")
_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")
SECTION_TYPES = ("hosts", "vars", "children")


# Fast paths of parse_value, same results as literal_eval without its cost (100,000 host lines):
# a name-like word (letters, digits, _ . - / : @ %) is never a literal -- literal_eval refuses names,
# attributes and operators on them -- unless it starts with True/False/None ('True-1j' is a complex
# number, 'None' is None); digits with two dots or more (an IPv4 address) are no number; plain
# digits without a leading zero are an int. Anything else (spaces, commas, quotes, '#') takes the
# slow path. tests/test_fuzz_inventory.py checks these against literal_eval.
_WORD = re.compile(r"(?!True|False|None)[^\W\d][\w.\-/:@%]*")
_DOTTED_DIGITS = re.compile(r"[0-9]+\.[0-9]+\.[0-9.]*")
_PLAIN_INT = re.compile(r"[1-9][0-9]{0,17}|0")
_LITERAL_NAMES = {"True": True, "False": False, "None": None}
# shlex.split is needed only for quotes and backslashes; without them it splits on ' \t\r\n' and a
# '#' starts a comment anywhere (inside a word too, as shlex with comments=True does).
_NEEDS_SHLEX = re.compile(r"[\'\"\\]")
_SHLEX_SPACE = re.compile(r"[ \t\r\n]+")


def split_line(line: str) -> list[str]:
    """shlex.split(line, comments=True), as Ansible's ini plugin splits a host line."""
    if _NEEDS_SHLEX.search(line) is None:
        return [token for token in _SHLEX_SPACE.split(line.split("#", 1)[0]) if token]
    return shlex.split(line, comments=True)


def parse_value(text: str) -> Any:
    """Ansible ini plugin's _parse_value: a Python literal if it is one, else the text."""
    if text in _LITERAL_NAMES:
        return _LITERAL_NAMES[text]
    if _WORD.fullmatch(text) or _DOTTED_DIGITS.fullmatch(text):
        return text
    if _PLAIN_INT.fullmatch(text):
        return int(text)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return text
    return _coerce(value)


def _coerce(value: Any) -> Any:
    # As the plugin: tuples/sets become lists, bytes text, complex and Ellipsis their text.
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_coerce(v) for v in value]
    if isinstance(value, dict):
        return {_coerce(k): _coerce(v) for k, v in value.items()}
    if value is ...:
        return "..."
    if isinstance(value, complex):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def read_lines(path: Path) -> list[str]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InventoryError(f"can't read the file: {exc.strerror or exc}", path) from None
    try:
        return data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError:
        pass
    # As Ansible: non-UTF-8 bytes are tolerated in comment lines only (issue #17593).
    lines = []
    for number, raw in enumerate(data.splitlines(), 1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            if raw.strip()[:1] in (b"#", b";"):
                lines.append("")
                continue
            raise InventoryError("the line is not UTF-8 text (save the file as UTF-8)", path, number) from None
    return lines


def parse_ini(path: Path, builder: InventoryBuilder, lines: list[str] | None = None) -> None:
    """Parse an INI inventory file (or its ``lines`` already read, e.g. decrypted) into ``builder``."""
    _IniParser(path, builder).parse(read_lines(path) if lines is None else lines)


class _IniParser:
    def __init__(self, path: Path, builder: InventoryBuilder) -> None:
        self.path, self.b = path, builder
        self.lineno = 0

    def error(self, message: str, line: int | None = None) -> InventoryError:
        return InventoryError(message, self.path, line or self.lineno)

    def origin(self) -> Origin:
        return Origin(self.path, self.lineno)

    def parse(self, lines: list[str]) -> None:
        # name -> (state, line, parents): a [g:vars] or a child named before [g] declares it.
        pending: dict[str, dict[str, Any]] = {}
        group, state = "ungrouped", "hosts"
        for self.lineno, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line or line[0] in _COMMENT_MARKERS:
                continue
            m = _SECTION.match(line)
            if m:
                group, state = m.group(1), m.group(2) or "hosts"
                if state not in SECTION_TYPES:
                    raise self.error(
                        f"section [{group}:{state}] has unknown type {state!r}: "
                        f"use [{group}], [{group}:vars] or [{group}:children]"
                    )
                if group not in self.b.groups:
                    if state == "vars" and group not in pending:
                        pending[group] = {"state": "vars", "line": self.lineno, "parents": []}
                    self.b.add_group(group, self.origin())
                if group in pending and state != "vars":
                    if pending[group]["state"] == "children":
                        self._resolve_children(group, pending)
                    else:
                        del pending[group]
                continue
            if line.startswith("[") and line.endswith("]"):
                shown = f" {line!r}" if "=" not in line and len(line) <= 80 else ""  # never a value
                raise self.error(
                    f"invalid section header{shown}: a group name has no spaces, ':' or ']' "
                    "(write [name], [name:vars] or [name:children])"
                )
            if state == "hosts":
                self.host_line(group, line)
            elif state == "vars":
                key, value = self.var_line(group, line)
                self.b.set_group_var(group, key, value, self.origin())
            else:
                self.child_line(group, line, pending)
        for name, decl in pending.items():
            if decl["state"] == "vars":
                raise self.error(
                    f"section [{name}:vars] is for a group that is never declared: "
                    f"add a [{name}] or [{name}:children] section, or fix the name",
                    decl["line"],
                )
            raise self.error(
                f"section [{decl['parents'][-1]}:children] names group {name!r}, which is never declared: "
                f"add a [{name}] section listing its hosts, or fix the name",
                decl["line"],
            )

    def _resolve_children(self, group: str, pending: dict[str, dict[str, Any]]) -> None:
        decl = pending.pop(group)
        for parent in decl["parents"]:
            self.b.add_child(parent, group, Origin(self.path, decl["line"]))

    def child_line(self, group: str, line: str, pending: dict[str, dict[str, Any]]) -> None:
        m = _GROUP_NAME.match(line) if "=" not in line else None
        if not m:
            # Not quoted back: the line may be a variable (with its password) put in the wrong section.
            what = "a key=value variable, which belongs in a [{0}:vars] section".format(group) if "=" in line else (
                "several words or a character a group name can't hold (space, ':' or ']')")
            raise self.error(f"expected one group name per line in [{group}:children], found {what}")
        child = m.group(1)
        if child not in self.b.groups:
            pending.setdefault(child, {"state": "children", "line": self.lineno, "parents": []})["parents"].append(group)
        else:
            self.b.add_child(group, child, self.origin())

    def var_line(self, group: str, line: str) -> tuple[str, Any]:
        if "=" not in line:
            # The line is not quoted back: it may be a password written without '='.
            raise self.error(f"expected key=value in [{group}:vars] (one variable per line)")
        key, value = (part.strip() for part in line.split("=", 1))
        if not key:
            raise self.error(f"missing variable name before '=' in [{group}:vars]")
        parsed = parse_value(value)
        if isinstance(parsed, str) and re.search(r"\s[#;]", parsed):
            self.b.warnings.append(
                f"{self.path}:{self.lineno}: the value of {key!r} contains ' #' or ' ;': in a [{group}:vars] "
                "section everything after '=' is the value, comments included (Ansible does the same)"
            )
        return key, parsed

    def host_line(self, group: str, line: str) -> None:
        try:
            tokens = split_line(line)
        except ValueError as exc:
            raise self.error(f"can't split the host line ({exc}): check the quotes") from None
        if not tokens:
            return
        pattern = tokens[0]
        if "=" in pattern:
            # Not quoted back: 'ansible_password=...' under [group] instead of [group:vars].
            raise self.error(
                f"the line starts with a key=value variable where a host name belongs: in [{group}] each line "
                f"is 'host [key=value ...]'; group variables go in a [{group}:vars] section"
            )
        if pattern == "---":
            raise self.error("'---' starts a YAML document: name the file .yml (or .yaml) to read it as YAML")
        if pattern.endswith(":"):
            raise self.error(
                f"host {pattern!r} ends with ':', which is reserved for a port (write name:PORT), "
                "or is this a YAML file? name it .yml"
            )
        try:
            names, port = expand_host_pattern(pattern)
        except RangeError as exc:
            raise self.error(str(exc)) from None
        variables: dict[str, Any] = {}
        for position, token in enumerate(tokens[1:], 2):
            if "=" not in token:
                # Not quoted back: a stray word here is often a password missing its 'key='.
                raise self.error(
                    f"word {position} after host {pattern!r} is not key=value: host variables are written "
                    'key=value, quote values with spaces (key="a b")'
                )
            key, value = token.split("=", 1)
            if not key:
                raise self.error(f"missing variable name before '=' after host {pattern!r}")
            variables[key] = parse_value(value)
        origin = self.origin()
        if len(names) > 1:
            self.b.charge_expansion(len(names), len(variables), origin)
        for name in names:
            self.b.add_host(name, group, origin, port)
            for key, value in variables.items():
                self.b.set_host_var(name, key, value, origin)
