"""The command lines `portfleet reboot` sends, rendered from templates/windows/reboot/*.cmd.j2.

Windows answers these tools with exit codes the controller acts on (system error codes,
https://learn.microsoft.com/windows/win32/debug/system-error-codes--1000-1299-):
  1115 ERROR_SHUTDOWN_IN_PROGRESS   "A system shutdown is in progress."
  1116 ERROR_NO_SHUTDOWN_IN_PROGRESS "Unable to abort the system shutdown because no shutdown was in progress."
  1190 ERROR_SHUTDOWN_IS_SCHEDULED  "A system shutdown has already been scheduled."
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Mapping

from portfleet.render import Renderer

__all__ = [
    "SHUTDOWN_IN_PROGRESS",
    "NO_SHUTDOWN_IN_PROGRESS",
    "SHUTDOWN_ALREADY_SCHEDULED",
    "TASK_NAME",
    "abort_command",
    "safe_comment",
    "schtasks_date",
    "shutdown_command",
    "task_create_command",
    "task_delete_command",
    "task_query_command",
]

SHUTDOWN_IN_PROGRESS = 1115
NO_SHUTDOWN_IN_PROGRESS = 1116
SHUTDOWN_ALREADY_SCHEDULED = 1190
TASK_NAME = "portfleet-reboot"
MAX_DELAY = 315_360_000  # shutdown /t: "The valid range is 0-315360000 (10 years)"
# shutdown /c takes at most 512 characters (127 on XP / 2003); schtasks /tr at most 261: stay short.
MAX_COMMENT = 120

# Only characters that mean nothing to cmd.exe, even outside quotes (the comment sits inside \"...\"
# in a schtasks /tr argument, where cmd.exe sees it unquoted): no & | < > ^ % ! " ( ).
_UNSAFE = re.compile(r"[^A-Za-z0-9 .,:;_/+#=@\-]")


def safe_comment(text: str) -> str:
    """The comment reduced to characters that are inert for cmd.exe and schtasks, and shortened."""
    cleaned = re.sub(r"\s+", " ", _UNSAFE.sub(" ", text)).strip()
    if len(cleaned) > MAX_COMMENT:
        cleaned = cleaned[: MAX_COMMENT - 3].rstrip() + "..."
    return cleaned


def _vars(host_vars: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(host_vars or {})


def shutdown_command(renderer: Renderer, host_vars: Mapping[str, Any] | None, delay: int, comment: str) -> str:
    if not 0 <= int(delay) <= MAX_DELAY:
        raise ValueError(f"shutdown delay {delay}s is outside 0..{MAX_DELAY} (shutdown /t)")
    return renderer.render(
        "windows/reboot/shutdown.cmd.j2", delay=int(delay), comment=safe_comment(comment), vars=_vars(host_vars)
    )


def abort_command(renderer: Renderer, host_vars: Mapping[str, Any] | None) -> str:
    return renderer.render("windows/reboot/abort.cmd.j2", vars=_vars(host_vars))


def task_create_command(
    renderer: Renderer,
    host_vars: Mapping[str, Any] | None,
    *,
    start_date: str,
    start_time: str,
    run: str,
    legacy: bool = False,
) -> str:
    return renderer.render(
        "windows/reboot/schtasks_create.cmd.j2",
        task=TASK_NAME,
        start_date=start_date,
        start_time=start_time,
        run=run,
        legacy=legacy,
        vars=_vars(host_vars),
    )


def task_query_command(renderer: Renderer, host_vars: Mapping[str, Any] | None) -> str:
    return renderer.render("windows/reboot/schtasks_query.cmd.j2", task=TASK_NAME, vars=_vars(host_vars))


def task_delete_command(renderer: Renderer, host_vars: Mapping[str, Any] | None) -> str:
    return renderer.render("windows/reboot/schtasks_delete.cmd.j2", task=TASK_NAME, vars=_vars(host_vars))


_PATTERN_TOKEN = re.compile(r"y+|M+|d+|'[^']*'|.", re.DOTALL)


def schtasks_date(local: datetime, short_date_pattern: str | None) -> str:
    """/sd for schtasks on a host whose user short date format is `short_date_pattern`.

    schtasks reads /sd in the locale's short date format ("The format of StartDate varies with the
    locale selected for the local computer"; en-US M/d/yyyy -> MM/DD/YYYY, de-DE dd.MM.yyyy ->
    DD.MM.YYYY), with day and month as two digits and a four-digit year. Unknown: MM/DD/YYYY."""
    if not short_date_pattern or not re.search(r"y", short_date_pattern) or "M" not in short_date_pattern \
            or "d" not in short_date_pattern:
        return local.strftime("%m/%d/%Y")
    out: list[str] = []
    for token in _PATTERN_TOKEN.findall(short_date_pattern):
        if token[0] == "y":
            out.append(f"{local.year:04d}")
        elif token[0] == "M":
            out.append(f"{local.month:02d}")
        elif token[0] == "d":
            out.append(f"{local.day:02d}")
        elif token.startswith("'"):
            out.append(token.strip("'"))
        else:
            out.append(token)
    return "".join(out)


_QUOTED_SHAPE = re.compile(r'"([A-Za-z]{1,4})([./\- ])([A-Za-z]{1,4})\2([A-Za-z]{1,4})"')


def date_pattern_from_error(text: str) -> str | None:
    """The short date pattern schtasks asks for in its refusal, e.g. 'ERROR: Invalid Start Date (Date
    should be in "dd.mm.yyyy" format).' -> 'dd.MM.yyyy'. The letters are translated on other
    languages ("TT.MM.JJJJ", "jj/mm/aaaa"): the 4-letter group is the year, the group starting with
    m is the month, the other one the day. None when the message holds no such shape."""
    m = _QUOTED_SHAPE.search(text or "")
    if m is None:
        return None
    parts, sep = [m.group(1), m.group(3), m.group(4)], m.group(2)
    years = [i for i, p in enumerate(parts) if len(p) == 4]
    months = [i for i, p in enumerate(parts) if p[0] in "mM" and len(p) == 2]
    if len(years) != 1 or len(months) != 1:
        return None
    out = []
    for i in range(3):
        out.append("yyyy" if i == years[0] else "MM" if i == months[0] else "dd")
    return sep.join(out)
