"""`tasklist /fo csv /nh` output -> processes by PID.

One quoted CSV row per process: image name, PID, session name, session number, memory
("System Idle Process","0","Services","0","8 K"). The column order is fixed; what is localized is
the memory text: thousands separators differ ("67,968 K" en-US, "812.345 K" de-DE, "236 812 Ko"
fr-FR with a no-break or narrow no-break space, which a console code page may print as "?") and so
does the unit word ("K", "Ko"). The memory is read as its digits. An image name may hold commas,
hence a real CSV reader. Filter notices ("INFO: No tasks are running ...", translated) are not
rows and are skipped, as is the header when /nh was forgotten (its PID column is not a number).
"""

from __future__ import annotations

import csv
import re
from typing import NamedTuple

_DIGITS = re.compile(r"\d")


class Process(NamedTuple):
    name: str
    pid: int
    session: str  # session name ("Services", "Console", "RDP-Tcp#3")
    mem_kb: int | None  # working set in KB; None when tasklist printed "N/A"
    session_id: int | None = None


def parse_mem_kb(text: str) -> int | None:
    """'67,968 K' / '812.345 K' / '236\u00a0812 Ko' -> 67968 / 812345 / 236812; None without digits."""
    digits = "".join(_DIGITS.findall(text))
    return int(digits) if digits else None


def parse_tasklist_csv(text: str | None) -> dict[int, Process]:
    """{pid: Process}; a PID seen twice keeps its first row (tasklist prints each once)."""
    lines = [line.strip() for line in (text or "").splitlines() if line.lstrip().startswith('"')]
    out: dict[int, Process] = {}
    for row in csv.reader(lines):
        if len(row) < 5:
            continue
        name, pid_text, session, session_id, mem = row[0], row[1].strip(), row[2], row[3].strip(), row[4]
        if not pid_text.isdigit() or not name:
            continue
        pid = int(pid_text)
        if pid in out:
            continue
        out[pid] = Process(
            name=name,
            pid=pid,
            session=session,
            mem_kb=parse_mem_kb(mem),
            session_id=int(session_id) if session_id.isdigit() else None,
        )
    return out
