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

# A bigger range is almost surely a typo (web[1:1000000]); refuse rather than eat the memory.
MAX_EXPANSION = 100_000

# parse_address's two port forms: "[anything]:port" and "host-or-pattern:port" where the host part
# may contain complete [x:y] ranges but no other ':'. An IPv6 address takes a port only in brackets.
_BRACKETED_HOSTPORT = re.compile(r"^\[(.+)\]:([0-9]+)$")
_HOSTPORT = re.compile(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$")
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
    """Every host name a pattern stands for, in Ansible's order; ``RangeError`` if malformed."""
    if not has_range(name):
        return [name]
    parts: list[list[str]] = []
    pos = 0
    for m in re.finditer(r"\[([^\[\]]*)\]", name):
        parts.append([name[pos : m.start()]])
        parts.append(_range_values(name, m))
        pos = m.end()
    parts.append([name[pos:]])
    leftover = "".join(p[0] for p in parts[::2])
    if "[" in leftover or "]" in leftover:
        raise RangeError(
            f"bad host range {name!r}: unbalanced '[' or ']' (a range is written [begin:end], e.g. web[01:10])"
        )
    total = 1
    for p in parts[1::2]:
        total *= len(p)
    if total > MAX_EXPANSION:
        raise RangeError(f"bad host range {name!r}: it expands to {total} hosts, more than {MAX_EXPANSION}")
    return ["".join(combo) for combo in itertools.product(*parts)]


def _range_values(name: str, m: re.Match[str]) -> list[str]:
    body = m.group(1)

    def fixed(new_body: str) -> str:
        return name[: m.start()] + "[" + new_body + "]" + name[m.end() :]

    bad = f"bad host range {name!r}"
    bounds = body.split(":")
    if len(bounds) not in (2, 3):
        raise RangeError(f"{bad}: a range is [begin:end] or [begin:end:step], e.g. {fixed('1:9')}")
    begin, end = bounds[0].strip(), bounds[1].strip()
    step_text = bounds[2].strip() if len(bounds) == 3 else "1"
    if not begin:
        begin = "0"  # Ansible: an empty begin means 0
    if not end:
        raise RangeError(f"{bad}: the range has no end value (write e.g. {fixed(begin + ':9')})")
    if not step_text.isdigit() or int(step_text) == 0:
        raise RangeError(f"{bad}: the step must be a whole number of 1 or more (e.g. {fixed(begin + ':' + end + ':2')})")
    step = int(step_text)

    letters = string.ascii_letters
    if len(begin) == 1 and len(end) == 1 and begin in letters and end in letters:
        i_beg, i_end = letters.index(begin), letters.index(end)
        if i_beg > i_end:
            raise RangeError(f"{bad}: start is after end (write {fixed(end + ':' + begin + _step(bounds))})")
        return list(letters[i_beg : i_end + 1 : step])
    if not (begin.isdigit() and end.isdigit()):
        raise RangeError(
            f"{bad}: begin and end must both be numbers (web[01:20]) or both single letters (db-[a:f])"
        )
    width = len(begin) if begin[0] == "0" and len(begin) > 1 else 0
    if width and len(end) != width:
        hint = fixed(begin + ":" + end.zfill(width) + _step(bounds)) if len(end) < width else None
        msg = f"{bad}: a zero-padded begin needs an end of the same width ({len(begin)} digits)"
        raise RangeError(msg + (f" (write {hint})" if hint else ""))
    if int(begin) > int(end):
        raise RangeError(f"{bad}: start is after end (write {fixed(end.zfill(width) + ':' + begin + _step(bounds))})")
    return [str(i).zfill(width) for i in range(int(begin), int(end) + 1, step)]


def _step(bounds: list[str]) -> str:
    return ":" + bounds[2].strip() if len(bounds) == 3 else ""


def expand_host_pattern(pattern: str) -> tuple[list[str], int | None]:
    """A host key of an inventory: ranges expanded, optional ``:port`` split off."""
    host, port = split_port(pattern.strip())
    return expand(host), port
