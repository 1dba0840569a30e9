"""`netsh int ipv4|ipv6 show dynamicport|excludedportrange` output, by structure.

Labels are translated ("Start Port" / "Startport" / "Port de démarrage"; "Number of Ports" /
"Anzahl ..." / "Nombre de ports") but the layout is not: a dashed rule, then "label : number" lines,
start first, count second (KB 929851; samples in tests/data/windows/). The excluded-range table is
two numbers per row, an optional trailing "*" marking an administered (netsh-added) exclusion.
Windows Server 2003 has no "int ipv4" context: netsh answers "The following command was not found:
int ipv4 show dynamicport tcp." (translated: "Der folgende Befehl wurde nicht gefunden: ..."), which
echoes the command back after a colon: that echo is the tell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class PortRange:
    """A dynamic port range as netsh states it: first port and count (end = start + num - 1).

    Re-exported by portfleet.settings, where the catalogue uses it as a setting value.
    """

    start: int
    num: int

    @property
    def end(self) -> int:
        return self.start + self.num - 1

    def __str__(self) -> str:
        return f"{self.start}-{self.end} ({self.num} ports)"

_LABELLED_NUMBER = re.compile(r"^[^:\r\n]*\S[^:\r\n]*:\s*(\d+)\s*$")
_EXCLUDED_ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s*(\*)?\s*$")
_NOT_FOUND_ECHO = re.compile(r":\s*(?:int|interface)\s+ipv[46]\s+\w+\s+\w+", re.IGNORECASE)


def command_not_found(text: str | None) -> bool:
    """netsh echoed our command back instead of answering: this build has no such context/command."""
    return bool(_NOT_FOUND_ECHO.search(text or ""))


def parse_dynamicport(text: str | None) -> PortRange | None:
    """PortRange(start, num) from the first two "label : number" lines; None if there are not two."""
    numbers = []
    for line in (text or "").splitlines():
        m = _LABELLED_NUMBER.match(line.rstrip("\r"))
        if m:
            numbers.append(int(m.group(1)))
            if len(numbers) == 2:
                break
    if len(numbers) < 2:
        return None
    start, num = numbers
    if not (0 < start <= 65535 and 0 < num <= 65536 and start + num - 1 <= 65535):
        return None
    return PortRange(start=start, num=num)


def parse_excludedportrange(text: str | None) -> list[tuple[int, int, bool]]:
    """[(start, end, administered)] in the order printed."""
    rows = []
    for line in (text or "").splitlines():
        m = _EXCLUDED_ROW.match(line.rstrip("\r"))
        if m:
            start, end = int(m.group(1)), int(m.group(2))
            if 0 <= start <= end <= 65535:
                rows.append((start, end, m.group(3) is not None))
    return rows
