"""JSON: one object per run (schema portfleet.<kind>/1), written without any decoration."""

from __future__ import annotations

import json
import sys
from typing import IO, Any


def write_json(data: Any, out: IO[str] | None = None) -> None:
    out = out or sys.stdout
    json.dump(data, out, indent=2, sort_keys=False, default=str)
    out.write("\n")
