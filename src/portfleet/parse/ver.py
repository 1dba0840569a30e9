"""`ver` output -> "10.0.20348.2340".

The banner is translated around the number only: "Microsoft Windows [Version 10.0.19045.3086]",
"Microsoft Windows [version 10.0.18363.1440]" (fr-FR), "Microsoft Windows XP [Version 5.1.2600]",
"Microsoft Windows [Версия 10.0.19045.3086]"; the dotted number inside the brackets is the fact.
"""

from __future__ import annotations

import re

_BRACKETED = re.compile(r"\[[^\]\d]*(\d+\.\d+(?:\.\d+){1,2})\s*\]")
_BARE = re.compile(r"(?<![\d.])(\d{1,2}\.\d{1,2}\.\d{3,5}(?:\.\d+)?)(?![\d.])")


def parse_ver(text: str | None) -> str | None:
    text = text or ""
    m = _BRACKETED.search(text) or _BARE.search(text)
    return m.group(1) if m else None


def version_tuple(version: str | None) -> tuple[int, int, int, int] | None:
    """(major, minor, build, revision); revision 0 when ver does not print it (before Windows 10)."""
    if not version:
        return None
    parts = [int(p) for p in version.split(".")]
    if len(parts) < 3:
        return None
    parts += [0] * (4 - len(parts))
    return parts[0], parts[1], parts[2], parts[3]
