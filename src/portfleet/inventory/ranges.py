"""Host name ranges (``web[01:50]``, ``db-[a:f]``, ``node[1:10:2]``) and ``host:port`` patterns.

Mirrors Ansible's ``expand_hostname_range`` and ``parse_address``
(https://docs.ansible.com/ansible/latest/inventory_guide/intro_inventory.html#adding-ranges-of-hosts):
ranges are inclusive, ``[begin:end:step]``; a zero-padded begin keeps its width and then the end
must have the same width; an empty begin means 0; letters range over ``string.ascii_letters``
(a..z then A..Z); several ranges in one name expand left to right, the first varying slowest.
Where Ansible silently yields no host (begin after end), we refuse with the fix spelled out.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
import string

from portfleet.inventory.numbers import is_ascii_digits

# A bigger range is almost surely a typo (web[1:1000000]); refuse, counted before expanding.
MAX_EXPANSION = 100_000

# parse_address's two port forms: "[anything]:port" and "host-or-pattern:port" where the host part
# may contain complete [x:y] ranges but no other ':'. An IPv6 address takes a port only in brackets.
_BRACKETED_HOSTPORT = re.compile(r"^\[(.+)\]:([0-9]{1,20})$")
_HOSTPORT = re.compile(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]{1,20})$")
# A host name (or IPv4 address) made of labels of word characters and dashes, or [..] ranges.
_LABEL = r"(?:[\w-]|\[[^\]]*\])+"
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$", re.UNICODE)


class RangeError(ValueError):
    """A malformed range; the message says what is wrong and how to write it."""


def split_port(pattern: str) -> tuple[str, int | None]:
    """``'web[1:3].corp:5986'`` -> ``('web[1:3].corp', 5986)``; no port -> ``(pattern, None)``.

    As Ansible's parse_address: if what precedes the port is not a host name, IPv4 or bracketed
    IPv6 address, the whole text is taken as the name.
    """
    m = _BRACKETED_HOSTPORT.match(pattern)
    if m:
        host, port = m.group(1), int(m.group(2))
        if is_ipv6(host) or _HOSTNAME.match(host):
            return host, port
        return pattern, None
    m = _HOSTPORT.match(pattern)
    if m and _HOSTNAME.match(m.group(1)):
        return m.group(1), int(m.group(2))
    return pattern, None


def is_ipv6(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv6Address)
    except ValueError:
        return False


def has_range(name: str) -> bool:
    return "[" in name


def expand(name: str) -> list[str]:
    """Every host name a pattern stands for, in Ansible's order; ``RangeError`` if malformed or if it
    stands for more than MAX_EXPANSION names (counted before any name is made)."""
    if not has_range(name):
        return [name]
    parts: list[list[str] | _Range] = []
    pos = 0
    for m in re.finditer(r"\[([^\[\]]*)\]", name):
        parts.append([name[pos : m.start()]])
        parts.append(_parse_range(name, m))
        pos = m.end()
    parts.append([name[pos:]])
    leftover = "".join(p[0] for p in parts[::2] if isinstance(p, list))
    if "[" in leftover or "]" in leftover:
        raise RangeError(
            f"bad host range {_shown(name)}: unbalanced '[' or ']' (a range is written [begin:end], e.g. web[01:10])"
        )
    total = 1
    for p in parts[1::2]:
        assert isinstance(p, _Range)
        total *= p.count  # counted, not listed: web[0:100000000] is never materialised
    if total > MAX_EXPANSION:
        many = f"{total:,}" if total < 10**15 else "more than a million billion"
        raise RangeError(f"bad host range {_shown(name)}: it expands to {many} hosts, more than {MAX_EXPANSION:,}")
    return ["".join(combo) for combo in itertools.product(*(p.values() if isinstance(p, _Range) else p for p in parts))]


class _Range:
    """One [begin:end:step] of a host name: its length known without listing it."""

    __slots__ = ("letters", "begin", "end", "step", "width")

    def __init__(self, letters: str | None, begin: int = 0, end: int = -1, step: int = 1, width: int = 0) -> None:
        self.letters, self.begin, self.end, self.step, self.width = letters, begin, end, step, width

    def __len__(self) -> int:
        return len(self.letters) if self.letters is not None else self.count

    @property
    def count(self) -> int:  # arithmetic: len(range(...)) overflows for bounds of many digits
        if self.letters is not None:
            return len(self.letters)
        return (self.end - self.begin) // self.step + 1 if self.end >= self.begin else 0

    def values(self) -> list[str]:
        if self.letters is not None:
            return list(self.letters)
        return [str(i).zfill(self.width) for i in range(self.begin, self.end + 1, self.step)]


def _parse_range(name: str, m: re.Match[str]) -> _Range:
    body = m.group(1)

    def fixed(new_body: str) -> str:
        return name[: m.start()] + "[" + new_body + "]" + name[m.end() :]

    bad = f"bad host range {_shown(name)}"
    bounds = body.split(":")
    if len(bounds) not in (2, 3):
        raise RangeError(f"{bad}: a range is [begin:end] or [begin:end:step], e.g. {fixed('1:9')}")
    begin, end = bounds[0].strip(), bounds[1].strip()
    step_text = bounds[2].strip() if len(bounds) == 3 else "1"
    if not begin:
        begin = "0"  # Ansible: an empty begin means 0
    if not end:
        raise RangeError(f"{bad}: the range has no end value (write e.g. {fixed(begin + ':9')})")
    # ASCII digits only: str.isdigit() also takes '²', which int() refuses (and int() takes '٣').
    if not is_ascii_digits(step_text) or int(step_text) == 0:
        raise RangeError(f"{bad}: the step must be a whole number of 1 or more (e.g. {fixed(begin + ':' + end + ':2')})")
    step = int(step_text)

    letters = string.ascii_letters
    if len(begin) == 1 and len(end) == 1 and begin in letters and end in letters:
        i_beg, i_end = letters.index(begin), letters.index(end)
        if i_beg > i_end:
            raise RangeError(f"{bad}: start is after end (write {fixed(end + ':' + begin + _step(bounds))})")
        return _Range(letters[i_beg : i_end + 1 : step])
    if not (is_ascii_digits(begin) and is_ascii_digits(end)):
        raise RangeError(
            f"{bad}: begin and end must both be numbers of digits 0-9 (web[01:20]) or both single letters (db-[a:f])"
        )
    width = len(begin) if begin[0] == "0" and len(begin) > 1 else 0
    if width and len(end) != width:
        hint = fixed(begin + ":" + end.zfill(width) + _step(bounds)) if len(end) < width else None
        msg = f"{bad}: a zero-padded begin needs an end of the same width ({len(begin)} digits)"
        raise RangeError(msg + (f" (write {hint})" if hint else ""))
    if int(begin) > int(end):
        raise RangeError(f"{bad}: start is after end (write {fixed(end.zfill(width) + ':' + begin + _step(bounds))})")
    return _Range(None, int(begin), int(end), step, width)


def _shown(name: str) -> str:
    return repr(name) if len(name) <= 100 else repr(name[:97] + "...")


def _step(bounds: list[str]) -> str:
    return ":" + bounds[2].strip() if len(bounds) == 3 else ""


def expand_host_pattern(pattern: str) -> tuple[list[str], int | None]:
    """A host key of an inventory: ranges expanded, optional ``:port`` split off."""
    pattern = pattern.strip()
    if ":" not in pattern and "[" not in pattern:
        return [pattern], None  # the common case: a plain name, no port, no range
    host, port = split_port(pattern)
    return expand(host), port
