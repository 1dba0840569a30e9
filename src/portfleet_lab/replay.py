"""Capture files: what a real host answered, replayed by a lab host.

The format, portfleet-capture/1, is documented in docs/capture-format.md (fields, types, versions); this is
the lab's reader of it. `portfleet capture` writes it with the tool's own code (src/portfleet/capture.py):
the lab imports nothing of the tool, the document is the contract.

What the reader holds to (docs/capture-format.md "Versions"): it refuses a version it does not know and a
file that breaks the schema, each with a CaptureError naming the file and the field, and ignores fields it
does not know. A host backed by a capture answers an identical command line with the recorded entry (in
order, the last repeating) and anything else with cmd.exe's 9009 error.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cmd import messages

FORMAT_NAME = "portfleet-capture"
READS_VERSIONS = ("1",)  # the versions of docs/capture-format.md this reader implements
DEFAULT_CODEPAGE = 437
DOC = "docs/capture-format.md"


class CaptureError(ValueError):
    """A capture file this lab cannot replay; the message names the file and what is wrong."""


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class Capture:
    path: str
    hostname: str
    os_version: str | None
    codepage: int
    locale: str
    answers: dict[str, list[tuple[str, str, int]]]
    served: dict[str, int] = field(default_factory=dict)

    @property
    def oem_codepage(self) -> int:
        return self.codepage

    @classmethod
    def load(cls, path: Path) -> "Capture":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:  # unreadable, not UTF-8, not JSON
            raise CaptureError(f"{path}: cannot read capture file: {exc}") from exc
        except RecursionError:  # json nests arrays with recursion: "[[[[..." deep enough exhausts the stack
            raise CaptureError(f"{path}: cannot read capture file: nested too deeply") from None
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: Any, path: str = "<capture>") -> "Capture":
        check_version(data, path)
        meta = data.get("metadata", {})
        if not isinstance(meta, dict):
            raise CaptureError(f"{path}: metadata must be an object")
        hostname = _optional(meta, "hostname", str, "", f"{path}: metadata.")
        os_version = _optional(meta, "os_version", str, None, f"{path}: metadata.")
        locale = _optional(meta, "locale", str, "en-US", f"{path}: metadata.")
        codepage = _optional(meta, "codepage", int, DEFAULT_CODEPAGE, f"{path}: metadata.")
        encoding = _codec(codepage, path)
        entries = data.get("commands")
        if not isinstance(entries, list):
            raise CaptureError(f"{path}: commands must be an array (of command entries)")
        answers: dict[str, list[tuple[str, str, int]]] = {}
        for i, entry in enumerate(entries):
            where = f"{path}: commands[{i}]."
            if not isinstance(entry, dict):
                raise CaptureError(f"{path}: commands[{i}] must be an object")
            command = _required(entry, "command", str, where).strip()
            code = _required(entry, "exit_code", int, where)
            out = _stream(entry, "stdout", encoding, where)
            err = _stream(entry, "stderr", encoding, where)
            answers.setdefault(command, []).append((out, err, code))
        return cls(path, hostname, os_version, codepage, locale, answers)

    def answer(self, command_line: str) -> tuple[str, str, int]:
        key = command_line.strip()
        entries = self.answers.get(key)
        if not entries:
            first = key.split()[0] if key.split() else key
            return "", messages.not_recognized(first, self.locale), 9009
        n = self.served.get(key, 0)
        self.served[key] = n + 1
        return entries[min(n, len(entries) - 1)]


def check_version(data: Any, path: str) -> None:
    """A capture file of a version this lab reads, or a CaptureError that says which version it found."""
    fmt = data.get("format") if isinstance(data, dict) else None
    prefix = FORMAT_NAME + "/"
    if not isinstance(fmt, str) or not fmt.startswith(prefix):
        raise CaptureError(f'{path}: not a capture file: "format" must be "{prefix}N", got {_short(fmt)} ({DOC})')
    version = fmt[len(prefix):]
    if version not in READS_VERSIONS:
        reads = ", ".join(prefix + v for v in READS_VERSIONS)
        raise CaptureError(f"{path}: capture format version {_short(version)} is not one this lab reads "
                           f"(it reads {reads}); replay it with the portfleet release that wrote it ({DOC})")


def _is(value: object, kind: type) -> bool:
    # JSON true/false arrive as bool, a subclass of int: never an integer field's value
    return isinstance(value, kind) and not (kind is int and isinstance(value, bool))


def _type_name(kind: type) -> str:
    return {str: "a string", int: "an integer"}[kind]


def _required(obj: dict, key: str, kind: type, where: str) -> Any:
    if key not in obj:
        raise CaptureError(f"{where}{key} is missing")
    if not _is(obj[key], kind):
        raise CaptureError(f"{where}{key} must be {_type_name(kind)}, got {_short(obj[key])}")
    return obj[key]


def _optional(obj: dict, key: str, kind: type, default: Any, where: str) -> Any:
    if obj.get(key) is None:
        return default
    return _required(obj, key, kind, where)


def _codec(codepage: int, path: str) -> str:
    name = "utf-8" if codepage == 65001 else f"cp{codepage}"
    try:
        codecs.lookup(name)
    except LookupError:
        raise CaptureError(f"{path}: metadata.codepage {codepage} is not a code page this lab knows") from None
    return name


def _stream(entry: dict, name: str, encoding: str, where: str) -> str:
    if entry.get(f"{name}_b64") is not None:
        encoded = _required(entry, f"{name}_b64", str, where)
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise CaptureError(f"{where}{name}_b64 is not valid base64") from None
        return raw.decode(encoding, errors="replace")
    return _optional(entry, name, str, "", where)
