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

PID_DIGITS = 10  # a PID (and a session number) is a DWORD: at most 4294967295
MEM_DIGITS = 15  # a working set in KB: 15 digits is about 900 PB
# A row is an image name (MAX_PATH, 260), a session name and three short numbers: a line past this
# is no tasklist row. The bound also keeps every field under the csv module's field size limit
# (131,072 characters), past which csv.reader raises instead of returning a row.
MAX_ROW_CHARS = 4096
_ASCII_DIGITS = re.compile(r"[0-9]")


class Process(NamedTuple):
    name: str
    pid: int
    session: str  # session name ("Services", "Console", "RDP-Tcp#3")
    mem_kb: int | None  # working set in KB; None when tasklist printed "N/A"
    session_id: int | None = None


def parse_mem_kb(text: str) -> int | None:
    """'67,968 K' / '812.345 K' / '236\u00a0812 Ko' -> 67968 / 812345 / 236812; None without digits
    (or with more than MEM_DIGITS of them). Only ASCII digits count: tasklist prints no others."""
    digits = "".join(_ASCII_DIGITS.findall(text))  # ASCII 0-9 only, by the pattern
    return int(digits) if 0 < len(digits) <= MEM_DIGITS else None


def _rows(lines: list[str]) -> list[list[str]]:
    """One CSV row per line. One reader over all lines is fast, but a stray quote makes it pull the
    following lines into one field (and past csv's field size limit it raises): then each line is
    read on its own."""
    try:
        rows = list(csv.reader(lines))
        if len(rows) == len(lines):
            return rows
    except csv.Error:
        pass
    out = []
    for line in lines:
        try:
            out.append(next(csv.reader([line]), []))
        except csv.Error:  # Python 3.10's csv refuses a NUL ("line contains NUL")
            continue
    return out


def parse_tasklist_csv(text: str | None) -> dict[int, Process]:
    """{pid: Process}; a PID seen twice keeps its first row (tasklist prints each once)."""
    lines = [line.strip() for line in (text or "").splitlines() if line.lstrip().startswith('"')]
    out: dict[int, Process] = {}
    for row in _rows([line for line in lines if len(line) <= MAX_ROW_CHARS]):
        if len(row) < 5:
            continue
        name, pid_text, session, session_id, mem = row[0], row[1].strip(), row[2], row[3].strip(), row[4]
        # parse.numbers.ascii_int, inlined for PID and session (this runs once per process of the host)
        if not (len(pid_text) <= PID_DIGITS and pid_text.isdigit() and pid_text.isascii()) or not name:
            continue
        pid = int(pid_text)
        if pid in out:
            continue
        sid = int(session_id) if len(session_id) <= PID_DIGITS and session_id.isdigit() and session_id.isascii() else None
        out[pid] = Process(name, pid, session, parse_mem_kb(mem), sid)
    return out
