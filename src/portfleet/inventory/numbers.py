"""Whole numbers written in inventories, read without surprises.

``str.isdigit()`` accepts characters ``int()`` refuses ("²", "①") and ``int()`` accepts digits of
other scripts ("٣"); a port, a priority or a range bound in an inventory is ASCII digits, nothing
else. Python refuses to convert text of more than 4,300 digits (ValueError); such a number is no
port or priority, so it is refused here, as "not a number", before int() sees it.
"""

from __future__ import annotations

import re
from typing import Any

MAX_DIGITS = 4000  # below Python's int/str conversion limit (sys.int_info.default_max_str_digits)
_ASCII_INT = re.compile(r"[+-]?[0-9]+")


def is_ascii_digits(text: str) -> bool:
    """True for a non-empty run of 0-9 only, short enough to convert."""
    return 0 < len(text) <= MAX_DIGITS and text.isascii() and text.isdigit()


def ascii_int(value: Any) -> int | None:
    """``value`` as an int if it is one (not a bool) or text of ASCII digits with an optional sign
    (surrounding spaces allowed); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    if len(text) > MAX_DIGITS + 1 or not _ASCII_INT.fullmatch(text):
        return None
    return int(text)
