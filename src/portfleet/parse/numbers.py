"""Host text -> int, for every parser: plain, bounded ASCII numbers only, else None (never raises).

Why not `str.isdigit()` + `int()`: isdigit() is true for "²", "①" and other non-decimal digits that
int() refuses (ValueError); int() itself takes what no Windows or Linux tool prints in a number's
place: Arabic-Indic and other Unicode decimal digits ("٤٩١٥٢"), underscores ("49_152"), surrounding
whitespace and a sign; and it raises past 4,300 digits (sys.int_info.default_max_str_digits, the
CVE-2020-10735 limit) on a hostile or broken host's huge number. The tools whose output portfleet
reads (reg, netsh, netstat, tasklist, wevtutil, ver, sysctl, ss) print ASCII digits in every locale,
so anything else is "not a number" and the caller treats the field as unparsable.

`max_digits` bounds the work and the value: a caller passes the width of what it reads (5 for a
port, 10 for a PID or a DWORD, 20 for a 64-bit value), so the conversion stays O(max_digits).
"""

from __future__ import annotations

_HEX = frozenset("0123456789abcdefABCDEF")


def is_ascii_digits(text: str) -> bool:
    """True for a non-empty run of 0-9 only (no sign, no space, no other script's digits)."""
    return bool(text) and text.isascii() and text.isdigit()


def ascii_int(text: str, max_digits: int = 20, *, signed: bool = False) -> int | None:
    """'49152' -> 49152; '-180' -> -180 when signed; None for anything else, or more than max_digits digits.

    The text is taken as it is: callers split or strip host text themselves, so " 1" is not a number."""
    if len(text) <= max_digits and text.isdigit() and text.isascii():  # the common case, first
        return int(text)
    if signed and text[:1] == "-":
        digits = text[1:]
        if len(digits) <= max_digits and digits.isdigit() and digits.isascii():
            return -int(digits)
    return None


def ascii_hex(text: str, max_digits: int = 16) -> int | None:
    """'0xfffe' / '0XFFFE' -> 65534; None without the 0x prefix, for other characters (int(_, 16) also
    takes underscores and whitespace), or for more than max_digits hex digits."""
    if text[:2] not in ("0x", "0X"):
        return None
    digits = text[2:]
    if not 0 < len(digits) <= max_digits or not _HEX.issuperset(digits):
        return None
    return int(digits, 16)
