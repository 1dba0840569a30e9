"""Capture: record what a real host answers to everything portfleet reads, for the lab to replay.

A RecordingSession wraps the real session and keeps each command line with its raw outputs and
exit code; the capture then runs the very code paths audit and diagnose run (read_host, collect), so
the recorded command lines are exactly the ones a replaying lab host will be asked. Writes are never
sent: a capture changes nothing on the host.

Format: portfleet-capture/1, documented in docs/capture-format.md (fields, types, versions). The lab reads
it with its own code (portfleet_lab/replay.py); a change to what is written here follows that document's
versioning rule, and tests/test_capture_format.py checks what is written against the document.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from portfleet import __version__
from portfleet.diagnose.collect import collect
from portfleet.render import Renderer
from portfleet.transport.base import Result, Session
from portfleet.transport.winrm import UTF8_CODEPAGE

FORMAT = "portfleet-capture/1"


@dataclass
class RecordingSession:
    """A Session that forwards to another and records every exchange."""

    inner: Session
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def host(self) -> str:
        return self.inner.host

    def run(self, command: str) -> Result:
        result = self.inner.run(command)
        self.records.append(
            {"command": command, "stdout": result.stdout, "stderr": result.stderr, "exit_code": result.exit_code}
        )
        return result

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> "RecordingSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def capture_host(session: Session, renderer: Renderer, host: Any, *, days: int = 7) -> dict[str, Any]:
    recorder = RecordingSession(session)
    hostname = recorder.run("hostname").stdout.strip()
    got = collect(recorder, renderer, host, days=days)  # the audit read + the diagnose read
    return {
        "format": FORMAT,
        "metadata": {
            "hostname": hostname,
            "os_version": got.facts.os_version,
            "captured_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tool_version": f"portfleet {__version__}",
            # portfleet asks the WinRS shell for UTF-8 output; the text below is what it decoded.
            "codepage": UTF8_CODEPAGE,
            "inventory_name": host.name,
        },
        "commands": recorder.records,
    }


def write_capture(data: dict[str, Any], path: Path) -> None:
    """Atomically: a half-written capture would replay wrong answers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
