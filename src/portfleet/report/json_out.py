"""JSON: one object per run (schema portfleet.<kind>/1), written without any decoration."""

from __future__ import annotations

import json
import sys
from typing import IO, Any


def write_json(data: Any, out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    # One write: json.dump writes each token separately, and with PYTHONUNBUFFERED (or a pipe flushed
    # per write) that is one system call per token (60,000 for an audit of 200 hosts).
    out.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
