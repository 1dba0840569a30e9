"""The dates a parser may return: far enough from datetime's limits to be moved between time zones.

datetime spans years 1-9999, and adding or removing a zone offset near either end raises
OverflowError (a host that printed "9999-12-31T23:59:59-23:59" aborted a whole audit that way).
Every zone Windows knows lies within UTC-12 .. UTC+14 (ActiveTimeBias within a day, DST included),
so a date that keeps a day from both ends converts safely; one closer is refused by the parsers, as
unknown, and the caller notes it. No real host boots or logs an event in year 1 or 9999.
"""

from __future__ import annotations

from datetime import datetime, timedelta

MAX_BIAS = timedelta(days=1)  # the largest zone offset a caller may apply to a parsed date
SAFE_MIN = datetime.min + MAX_BIAS
SAFE_MAX = datetime.max - MAX_BIAS


def zone_safe(value: datetime) -> bool:
    """True when `value` (naive, or aware read as wall time) is at least a day from datetime's limits."""
    return SAFE_MIN <= value.replace(tzinfo=None) <= SAFE_MAX
