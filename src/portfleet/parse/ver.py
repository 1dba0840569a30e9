"""`ver` output -> "10.0.20348.2340".

The banner is translated around the number only: "Microsoft Windows [Version 10.0.19045.3086]",
"Microsoft Windows [version 10.0.18363.1440]" (fr-FR), "Microsoft Windows XP [Version 5.1.2600]",
"Microsoft Windows [Версия 10.0.19045.3086]"; the dotted number inside the brackets is the fact.
"""

from __future__ import annotations

import re

from portfleet.parse.numbers import ascii_int

# ASCII digits only, each part at most PART_DIGITS long (a revision has 5 today). The bracket's words
# exclude "[" as well as "]" and digits: with "[" allowed, every "[" of a line of "[[[[..." rescanned
# the rest of the line (quadratic); now a start scans only up to the next bracket.
PART_DIGITS = 9
_PART = f"[0-9]{{1,{PART_DIGITS}}}"
_BRACKETED = re.compile(rf"\[[^\[\]0-9]*({_PART}\.{_PART}(?:\.{_PART}){{1,2}})\s*\]")
_BARE = re.compile(r"(?<![0-9.])([0-9]{1,2}\.[0-9]{1,2}\.[0-9]{3,5}(?:\.[0-9]{1,9})?)(?![0-9.])")


def parse_ver(text: str | None) -> str | None:
    text = text or ""
    m = _BRACKETED.search(text) or _BARE.search(text)
    return m.group(1) if m else None


def version_tuple(version: str | None) -> tuple[int, int, int, int] | None:
    """(major, minor, build, revision); revision 0 when ver does not print it (before Windows 10)."""
    if not version:
        return None
    parts = [ascii_int(p, PART_DIGITS) for p in version.split(".")]
    if not 3 <= len(parts) <= 4 or None in parts:
        return None
    numbers = [p for p in parts if p is not None] + [0] * (4 - len(parts))
    return numbers[0], numbers[1], numbers[2], numbers[3]
