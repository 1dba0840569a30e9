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

from portfleet.parse.numbers import ascii_int, is_ascii_digits


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


# Lines are split by hand, not matched with patterns like "[^:]*\S[^:]*:\s*(\d+)\s*$" or
# "(\d+)\s*(\*)?\s*$": their overlapping quantifiers made one long line of words or spaces cost
# quadratic time (host text is untrusted, DESIGN "Rules that matter"). The echo pattern below starts
# only at a colon and its quantifiers never share characters, so it is linear.
_NOT_FOUND_ECHO = re.compile(r":\s*(?:int|interface)\s+ipv[46]\s+\w+\s+\w+", re.IGNORECASE)
_PORT_DIGITS = 5  # 65535; a longer number is no port or count netsh prints


def _labelled_digits(line: str) -> str | None:
    """"Start Port      : 49152" -> "49152" (label: anything up to the first colon); None for other lines."""
    label, colon, value = line.partition(":")
    value = value.strip()
    return value if colon and label.strip() and is_ascii_digits(value) else None


def _excluded_row(line: str) -> tuple[int, int, bool] | None:
    """"     50000       50059     *" -> (50000, 50059, True); None for any other line."""
    parts = line.split()
    administered = False
    if len(parts) == 3 and parts[2] == "*":
        administered, parts = True, parts[:2]
    elif len(parts) == 2 and parts[1].endswith("*"):  # the mark glued to the number: "50059*"
        administered, parts = True, [parts[0], parts[1][:-1]]
    if len(parts) != 2:
        return None
    start, end = ascii_int(parts[0], _PORT_DIGITS), ascii_int(parts[1], _PORT_DIGITS)
    if start is None or end is None or not 0 <= start <= end <= 65535:
        return None
    return start, end, administered


def command_not_found(text: str | None) -> bool:
    """netsh echoed our command back instead of answering: this build has no such context/command."""
    return bool(_NOT_FOUND_ECHO.search(text or ""))


def parse_dynamicport(text: str | None) -> PortRange | None:
    """PortRange(start, num) from the first two "label : number" lines; None if there are not two."""
    numbers: list[int] = []
    for line in (text or "").splitlines():
        digits = _labelled_digits(line)
        if digits is None:
            continue
        number = ascii_int(digits, _PORT_DIGITS)
        if number is None:
            return None  # a start or count with more digits than any port range has
        numbers.append(number)
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
        row = _excluded_row(line)
        if row is not None:
            rows.append(row)
    return rows
