"""Ansible host patterns: what ``-l/--limit`` and a play's ``hosts:`` accept.

https://docs.ansible.com/ansible/latest/inventory_guide/intro_patterns.html
Mirrors ansible.inventory.manager: ``a,b`` (or the older ``a:b``) is a union; ``&g`` intersects
and ``!g`` excludes, applied after all plain parts whatever their position (order_patterns); a
part is a group or host name, an fnmatch wildcard (``web*``, ``*.example.com``), or a regex after
``~`` (re.match: anchored at the start only); a part may end in a subscript ``[0]``, ``[-1]``,
``[0:2]`` (inclusive) or ``[1:]``; ``@file`` in a limit reads patterns from a file, one a line.
A group match brings the hosts of the group and its descendants; a wildcard also matches host
names. Differences, on purpose: a part that matches no group and no host is an error (Ansible
warns "Could not match supplied host pattern, ignoring"), with close names suggested; and hosts
of a group come in inventory order (Ansible's order across nested groups depends on set order).
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Generic, Mapping, Protocol, TypeVar

from portfleet.inventory.errors import PatternError
from portfleet.inventory.ranges import is_ipv6, split_port


# What matching needs of model.Inventory and model.Host, as protocols: model imports this module,
# so this one must not import model (no import cycle, not even a type-only one).
class Host(Protocol):
    @property
    def name(self) -> str: ...


H = TypeVar("H", bound=Host)


class Inventory(Protocol[H]):
    @property
    def source(self) -> Path: ...

    @property
    def hosts(self) -> Sequence[H]: ...

    @property
    def groups(self) -> Mapping[str, object]: ...

    def has_host(self, name: str) -> bool: ...

    def host(self, name: str) -> H: ...

    def group_hosts(self, name: str) -> list[H]: ...

_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]{1,18})|([0-9]{1,18})([:-])([0-9]{0,18}))\]$")
_SEPARATORS = re.compile(r"[\s:]*")
_COLON_PARTS = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")


def split_host_pattern(pattern: str) -> list[str]:
    """'a,b[1], c[2:3] , d' -> ['a', 'b[1]', 'c[2:3]', 'd']; colons separate too when the text
    is not a single host[:port] (Ansible keeps ':' for backwards compatibility)."""
    pattern = pattern.strip()
    if "," in pattern:
        parts = pattern.split(",")
    elif _is_single_address(pattern):
        parts = [pattern]
    else:
        matches = list(_COLON_PARTS.finditer(pattern))
        parts = [m.group(0) for m in matches]
        # Ansible's findall silently drops a '[' or ']' without its pair ('~web[0-9' becomes '~web'):
        # that selects other hosts than the user meant, so it is refused.
        ends = [0, *(m.end() for m in matches)]
        starts = [*(m.start() for m in matches), len(pattern)]
        gaps = [pattern[e:s] for e, s in zip(ends, starts)]
        if any(not _SEPARATORS.fullmatch(g) for g in gaps):
            raise PatternError(
                f"the host pattern {pattern!r} has a '[' or ']' without its pair; a subscript is written "
                "group[0] or group[0:2]; a regex that holds ':' or a lone bracket must end with a comma "
                "(e.g. '~(?:web|db)[0-9,')",
                pattern,
            )
    return [p.strip() for p in parts if p.strip()]


def _is_single_address(pattern: str) -> bool:
    # parse_address(pattern, allow_ranges=True) succeeding: a host name / IP, maybe with :port.
    host, port = split_port(pattern)
    if port is not None:
        return True
    if re.fullmatch(r"(?:[\w-]|\[[^\]]*\])+(?:\.(?:[\w-]|\[[^\]]*\])+)*", pattern):
        return True
    return is_ipv6(pattern)


def order_patterns(parts: list[str]) -> list[str]:
    plain = [p for p in parts if p[0] not in "!&"]
    intersect = [p for p in parts if p[0] == "&"]
    exclude = [p for p in parts if p[0] == "!"]
    return (plain or ["all"]) + intersect + exclude


class _Matcher(Generic[H]):
    def __init__(self, inventory: Inventory[H], whole: str, lenient_exclusions: bool = False) -> None:
        self.inv = inventory
        self.whole = whole
        self.lenient_exclusions = lenient_exclusions
        self.ignored: list[str] = []
        self.group_names = list(inventory.groups)
        self.host_names = [h.name for h in inventory.hosts]

    def error(self, message: str) -> PatternError:
        return PatternError(message, self.whole, self.inv.source)

    def evaluate(self, parts: list[str]) -> list[H]:
        hosts: list[H] = []
        have: set[str] = set()  # names in ``hosts``: a limit file of 10,000 names stays linear
        for part in order_patterns(parts):
            if self.inv.has_host(part):  # a plain host name, resolved directly as Ansible does
                if part not in have:
                    have.add(part)
                    hosts.append(self.inv.host(part))
                continue
            matched = self.match_one(part)
            if part[0] == "!":
                names = {h.name for h in matched}
                hosts = [h for h in hosts if h.name not in names]
                have -= names
            elif part[0] == "&":
                names = {h.name for h in matched}
                hosts = [h for h in hosts if h.name in names]
                have &= names
            else:
                for h in matched:
                    if h.name not in have:
                        have.add(h.name)
                        hosts.append(h)
        return hosts

    def match_one(self, part: str) -> list[H]:
        expr = part[1:] if part[0] in "!&" else part
        if not expr:
            raise self.error(f"{part!r} has nothing after {part[0]!r}: write e.g. '!web' or '&web'")
        expr, subscript = _split_subscript(expr)
        groups, hosts = self.enumerate(expr)
        if not hosts and not groups:
            if part[0] == "!" and self.lenient_exclusions:
                # A playbook's 'windows:!legacy' must work on inventories without a legacy group:
                # excluding what does not exist removes nothing (Ansible only warns).
                self.ignored.append(expr)
                return []
            raise self.error(self.no_match_message(expr))
        if subscript is not None:
            hosts = self.apply_subscript(part, hosts, subscript)
        return hosts

    def compile(self, expr: str) -> re.Pattern[str]:
        try:
            if expr.startswith("~"):
                return re.compile(expr[1:])
            return re.compile(fnmatch.translate(expr))
        except (re.error, OverflowError, RecursionError, ValueError) as exc:
            what = "regular expression" if expr.startswith("~") else "wildcard pattern"
            detail = exc.msg if isinstance(exc, re.error) else "too large or nested too deeply"
            where = f" at position {exc.pos}" if isinstance(exc, re.error) and exc.pos is not None else ""
            raise self.error(f"invalid {what} {expr!r} in the host pattern: {detail}{where}") from None

    def enumerate(self, expr: str) -> tuple[list[str], list[H]]:
        """(matching group names, hosts) as Ansible's _enumerate_matches."""
        regex = self.compile(expr)
        groups = [g for g in self.group_names if regex.match(g)]
        seen: set[str] = set()
        result: list[H] = []
        for g in groups:
            for h in self.inv.group_hosts(g):
                if h.name not in seen:
                    seen.add(h.name)
                    result.append(h)
        # Host names too when no group matched or the pattern is a regex/wildcard.
        if not groups or expr.startswith("~") or any(c in expr for c in ".?*["):
            for h in self.inv.hosts:
                if h.name not in seen and regex.match(h.name):
                    seen.add(h.name)
                    result.append(h)
        return groups, result

    def apply_subscript(self, part: str, hosts: list[H], subscript: tuple[int, int | None]) -> list[H]:
        start, end = subscript
        try:
            if end is None:
                return [hosts[start]]
            if end == -1:
                end = len(hosts) - 1
            if start >= len(hosts):
                raise IndexError
            return hosts[start : end + 1]
        except IndexError:
            raise self.error(
                f"subscript in {part!r} is out of range: it selects from {len(hosts)} host(s), "
                f"numbered 0 to {len(hosts) - 1}"
            ) from None

    def no_match_message(self, expr: str) -> str:
        msg = f"no host or group matches {expr!r}"
        probe = expr.lstrip("~").strip("*?")
        close = difflib.get_close_matches(probe, self.group_names + self.host_names, n=5, cutoff=0.6)
        if close:
            return f"{msg} (did you mean: {', '.join(close)}?)"
        user_groups = [g for g in self.group_names if g not in ("all", "ungrouped")]
        if user_groups:
            shown = ", ".join(user_groups[:12]) + (", ..." if len(user_groups) > 12 else "")
            return f"{msg} (groups: {shown})"
        return msg


def _split_subscript(expr: str) -> tuple[str, tuple[int, int | None] | None]:
    if expr.startswith("~"):
        return expr, None  # a regex keeps its brackets
    m = _SUBSCRIPT.match(expr)
    if not m:
        return expr, None
    base, index, start, _sep, end = m.groups()
    if index is not None:
        return base, (int(index), None)
    return base, (int(start), int(end) if end else -1)


def _expand_files(parts: list[str], whole: str, source: Path) -> list[str]:
    out: list[str] = []
    for part in parts:
        if not part.startswith("@"):
            out.append(part)
            continue
        path = Path(part[1:])
        if not path.is_file():
            raise PatternError(f"limit file {str(path)!r} does not exist or is not a file", whole, source)
        try:
            data = path.read_bytes()
            text = data.decode("utf-8-sig")
        except OSError as exc:
            raise PatternError(f"can't read the limit file {str(path)!r}: {exc.strerror or exc}", whole, source) from None
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise PatternError(f"the limit file {str(path)}:{line} is not UTF-8 text (save it as UTF-8)", whole, source) from None
        out.extend(line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    return out


def evaluate(inventory: Inventory[H], pattern: str, *, lenient_exclusions: bool = False) -> list[H]:
    """Hosts of one pattern string (no 'nothing left' check).

    lenient_exclusions: an '!x' that matches nothing is ignored instead of refused (playbooks'
    patterns; a user's --limit stays strict so that a typo is caught)."""
    if not pattern or not pattern.strip():
        raise PatternError("the host pattern is empty: give a group, a host, 'all' or e.g. 'web*'", pattern, inventory.source)
    try:
        parts = _expand_files(split_host_pattern(pattern), pattern, inventory.source)
    except PatternError as exc:
        if exc.path is None:
            raise PatternError(exc.message, pattern, inventory.source) from None
        raise
    if not parts:
        raise PatternError(f"the host pattern {pattern!r} names nothing", pattern, inventory.source)
    return _Matcher(inventory, pattern, lenient_exclusions).evaluate(parts)


def select(inventory: Inventory[H], pattern: str | None = None, *, limit: str | None = None) -> list[H]:
    """Hosts of ``pattern`` (None: all) narrowed by ``limit``; PatternError if none is left."""
    hosts = list(inventory.hosts) if pattern is None else evaluate(inventory, pattern)
    if limit is not None:
        allowed = {h.name for h in evaluate(inventory, limit)}
        hosts = [h for h in hosts if h.name in allowed]
    if not hosts:
        if not inventory.hosts:
            raise PatternError("the inventory has no hosts", pattern or "", inventory.source)
        if pattern is not None and limit is not None:
            asked = f"pattern {pattern!r} with limit {limit!r} leaves"
        else:
            asked = f"pattern {pattern or limit!r} leaves"
        raise PatternError(f"{asked} no hosts to target", pattern or limit or "", inventory.source)
    return hosts
