"""`net statistics workstation` -> when the Workstation service started (about boot time).

The boot-time fallback for hosts without wevtutil (Windows Server 2003). The line is translated
("Statistics since 11/21/2026 5:00:12 AM", "Statistik seit 21.11.2026 05:00:12") and the date is
written in the host user's short-date format, local time: real captures show "1/1/2021 6:08:25 PM"
(en-US), "22.05.2017 14:47:53" (English labels, German regional settings) and "31/1/2018 12:46:10 μμ"
(el-GR). So the first date-and-time in the output is taken by structure, and the field order comes
from the host's sShortDate when known (``reg query "HKCU\\Control Panel\\International" /v sShortDate``),
else from the numbers themselves (a field over 12 is a day, four digits first is a year), else from
the separator and clock style. The result is naive local time; the caller applies the host's bias.
"""

from __future__ import annotations

import re
from datetime import datetime

from portfleet.parse.dates import zone_safe

# Starts only at a digit not preceded by one, every run is bounded or ends where the next part's
# first character cannot be, so one search costs a pass over the line (host text is untrusted).
# ASCII digits only: `net` prints no others, and int() would take other scripts' digits.
_DATE_TIME = re.compile(
    r"(?<![0-9])(?P<a>[0-9]{1,4})(?P<sep>[./\-])(?P<b>[0-9]{1,2})(?P=sep)(?P<c>[0-9]{1,4})\.?,?\s+"
    r"(?P<h>[0-9]{1,2})[:.](?P<mi>[0-9]{2})(?:[:.](?P<s>[0-9]{2}))?(?:\s*(?P<ampm>[^\s0-9][^\s]*))?"
)
_AM = {"am", "a.m.", "vorm.", "πμ", "π.μ.", "午前", "上午", "오전", "sa", "ص"}
_PM = {"pm", "p.m.", "nachm.", "μμ", "μ.μ.", "午後", "下午", "오후", "ch", "م"}


def date_order_from_short_date(short_date: str | None) -> str | None:
    """'M/d/yyyy' -> 'MDY', 'dd.MM.yyyy' -> 'DMY', 'yyyy-MM-dd' -> 'YMD'."""
    if not short_date:
        return None
    order = ""
    for ch in re.sub(r"'[^']*'", "", short_date):
        letter = {"d": "D", "M": "M", "y": "Y"}.get(ch)
        if letter and letter not in order:
            order += letter
    return order if sorted(order) == ["D", "M", "Y"] else None


def _guess_order(a: str, b: str, sep: str, ampm: str | None) -> str:
    if len(a) == 4:
        return "YMD"
    if int(a) > 12:
        return "DMY"
    if int(b) > 12:
        return "MDY"
    if sep == "/" and ampm and ampm.lower() in ("am", "pm"):
        return "MDY"  # en-US style clock and slashes
    return "DMY"  # most of the world, and every dotted format


def parse_statistics_since(text: str | None, date_order: str | None = None) -> datetime | None:
    """The first date-time in the output as naive local time, or None."""
    for line in (text or "").splitlines():
        m = _DATE_TIME.search(line)
        if not m:
            continue
        a, b, c = m.group("a"), m.group("b"), m.group("c")
        ampm = m.group("ampm")
        order = date_order or _guess_order(a, b, m.group("sep"), ampm)
        if len(a) == 4 and order != "YMD":
            order = "YMD"
        parts = dict(zip(order, (a, b, c)))
        try:
            year, month, day = int(parts["Y"]), int(parts["M"]), int(parts["D"])
            if year < 100:
                year += 2000
            hour, minute, second = int(m.group("h")), int(m.group("mi")), int(m.group("s") or 0)
            marker = (ampm or "").lower()
            if marker in _PM and hour < 12:
                hour += 12
            elif marker in _AM and hour == 12:
                hour = 0
            found = datetime(year, month, day, hour, minute, second)
            # Year 9999 (or 1) cannot be moved to UTC: unknown, like any other date that is not one.
            return found if zone_safe(found) else None
        except (KeyError, ValueError):
            # A date order that does not fit the numbers (e.g. a stale hint): try the numbers alone.
            if date_order is not None:
                return parse_statistics_since(line, None)
            return None
    return None
