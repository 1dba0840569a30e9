"""Capture files: what a real host answered, replayed by a lab host.

Format (JSON, UTF-8), written by ``portfleet capture`` and read by ``Fleet.open(..., replay={name: path})``::

    {
      "format": "portfleet-capture/1",
      "metadata": {
        "hostname": "SRV-APP-07",              # as `hostname` printed it
        "os_version": "10.0.17763.6414",       # the number `ver` printed ("Microsoft Windows [Version ...]")
        "captured_at": "2026-11-20T09:14:03Z",  # ISO 8601, UTC
        "tool_version": "portfleet 0.1.0",
        "codepage": 437,                       # code page the WinRS shell used for the output bytes
        "locale": "en-US"                      # optional: display language of the host
      },
      "commands": [
        {"command": "ver", "stdout": "\\r\\nMicrosoft Windows [Version 10.0.17763.6414]\\r\\n",
         "stderr": "", "exit_code": 0},
        {"command": "netstat -anoq", "stdout_b64": "DQpBY3RpdmUg...", "stderr": "", "exit_code": 0}
      ]
    }

Rules:
- Per entry, each stream is given either as text (``stdout`` / ``stderr``: the decoded output, CRLF kept)
  or as raw bytes (``stdout_b64`` / ``stderr_b64``: base64 of exactly the bytes received, for output that
  is not valid in the capture's code page). Bytes are decoded with ``metadata.codepage`` (cp437 if absent)
  so that the lab, encoding in the same code page, sends the very same bytes back.
- ``command`` is the full command line as sent (WinRS command and arguments joined by spaces). A lab
  host answers an identical command line (only surrounding whitespace ignored; case matters) with that
  entry. When one command line was captured several times, the answers are given in capture order and the
  last one repeats.
- Any other command line gets cmd.exe's "'x' is not recognized as an internal or external command" error
  with exit code 9009 (nothing else is made up for a replayed host).
- ``metadata.hostname``/``os_version`` are informative; ``os_version`` also becomes the lab host's version.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path

from .cmd import messages

FORMAT = "portfleet-capture/1"


class CaptureError(ValueError):
    pass


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
        except (OSError, ValueError) as exc:
            raise CaptureError(f"{path}: cannot read capture file: {exc}") from exc
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: dict, path: str = "<capture>") -> "Capture":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise CaptureError(f"{path}: not a {FORMAT} file")
        meta = data.get("metadata") or {}
        codepage = int(meta.get("codepage") or 437)
        encoding = f"cp{codepage}" if codepage != 65001 else "utf-8"
        answers: dict[str, list[tuple[str, str, int]]] = {}
        for i, entry in enumerate(data.get("commands") or []):
            try:
                command = str(entry["command"]).strip()
                out = _stream(entry, "stdout", encoding)
                err = _stream(entry, "stderr", encoding)
                code = int(entry["exit_code"])
            except (KeyError, TypeError, ValueError) as exc:
                raise CaptureError(f"{path}: commands[{i}] is invalid: {exc}") from exc
            answers.setdefault(command, []).append((out, err, code))
        return cls(path, str(meta.get("hostname", "")), meta.get("os_version"), codepage,
                   str(meta.get("locale") or "en-US"), answers)

    def answer(self, command_line: str) -> tuple[str, str, int]:
        key = command_line.strip()
        entries = self.answers.get(key)
        if not entries:
            first = key.split()[0] if key.split() else key
            return "", messages.not_recognized(first, self.locale), 9009
        n = self.served.get(key, 0)
        self.served[key] = n + 1
        return entries[min(n, len(entries) - 1)]


def _stream(entry: dict, name: str, encoding: str) -> str:
    if f"{name}_b64" in entry:
        raw = base64.b64decode(entry[f"{name}_b64"], validate=True)
        return raw.decode(encoding, errors="replace")
    value = entry.get(name, "")
    if not isinstance(value, str):
        raise TypeError(f"{name} must be text")
    return value
