"""Desired-state playbooks: YAML shaped like Ansible plays, checked before any host is contacted.

    - name: Widen the dynamic range and shorten TIME_WAIT on modern hosts
      hosts: windows:!legacy
      settings:
        TcpTimedWaitDelay: 30
        dynamicport:
          ipv4: {tcp: {start: 10000, num: 55536}}
      rollout: {batch: "25%", max_fail_percentage: 10}
      reboot: {windows: ["Sat 02:00-04:00"], timezone: "Europe/Berlin", max_parallel: 5}

Every problem (YAML syntax, unknown keys at any level, unknown setting names, wrong types,
out-of-range values) is a PlaybookError "path:line: message", the line taken from the YAML node.
The YAML is walked node by node rather than through a model library so that each message can
point at the exact line of the offending key or value.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import yaml

from portfleet.settings import CATALOGUE, SettingError, Value, get_setting
from portfleet.shares import Share, ShareError, parse_percentage, parse_share

if TYPE_CHECKING:
    from portfleet.facts import HostFacts

PLAY_KEYS = ("name", "hosts", "settings", "rollout", "reboot")
ROLLOUT_KEYS = ("batch", "max_fail_percentage")
REBOOT_KEYS = ("windows", "timezone", "freeze", "max_parallel", "batch", "max_unavailable")
FAMILIES = ("ipv4", "ipv6")
PROTOCOLS = ("tcp", "udp")
_TIME_SPAN = re.compile(r"\d{1,2}:\d{2}\s*-\s*\d{1,2}:\d{2}")
MAX_DEPTH = 64  # far deeper than any playbook; PyYAML's composer recurses once per level
MAX_SHOWN = 80  # characters of an offending value quoted in a message
# An IANA zone name: Area/Location words (tzdata's longest is 32 characters); anything else is not
# looked up at all, so that zoneinfo never opens a path made of it (a directory, a 256-byte name).
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9][A-Za-z0-9_+-]*){0,3}")
MAX_ZONE_NAME = 64


class PlaybookError(ValueError):
    def __init__(self, path: str | Path, line: int | None, message: str):
        self.path = str(path)
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Rollout:
    batch: int | str = "100%"  # hosts per batch: a count, or "N%" of the play's hosts
    max_fail_percentage: float = 100.0  # stop when more than this share of a batch fails


@dataclass(frozen=True)
class RebootBlock:
    """A play's `reboot:` block, checked for shape and types; reboot/maintenance.py interprets the
    windows. It keeps the lines of its parts so that a bad window is reported as file:line without
    reading the YAML again."""

    line: int  # the `reboot:` key
    windows: tuple[str, ...] = ()
    window_lines: tuple[int, ...] = ()  # one per entry of a windows list (none when given as one text)
    timezone: str | None = None
    freeze: tuple[str, ...] = ()
    freeze_lines: tuple[int, ...] = ()  # likewise for freeze
    max_parallel: int | None = None
    batch: Share | None = None  # of the play's hosts to reboot
    max_unavailable: Share | None = None  # of each group of the play's hosts
    key_lines: tuple[tuple[str, int], ...] = ()  # (scalar key, line of its value)

    def line_of(self, key: str) -> int | None:
        return next((line for k, line in self.key_lines if k == key), None)


@dataclass
class Play:
    name: str
    hosts: str
    settings: dict[str, Value]  # catalogue key -> validated value (None: make absent)
    setting_lines: dict[str, int]
    rollout: Rollout
    reboot: RebootBlock | None  # None: no block, or an empty one
    line: int
    source: str = ""  # the playbook file, for messages


@dataclass
class Playbook:
    path: str
    plays: list[Play]
    warnings: list[str] = field(default_factory=list)


# ---- YAML node helpers ------------------------------------------------------------------------
class _Walker:
    def __init__(self, path: str):
        self.path = path
        self._constructor = yaml.SafeLoader("")

    def fail(self, node: yaml.Node | None, message: str) -> PlaybookError:
        return PlaybookError(self.path, _line(node), message)

    def scalar(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, f"expected a single value, got {_kind(node)}")
        return self.plain(node)

    def plain(self, node: yaml.Node) -> Any:
        """Any node as plain Python data (for loosely checked parts)."""
        try:
            return self._constructor.construct_object(node, deep=True)
        except (ValueError, OverflowError):
            # PyYAML's int() of a literal past Python's 4,300-digit limit (or a float it cannot hold).
            raise self.fail(node, f"{_shown(getattr(node, 'value', ''))} is not a usable value (too long a number?)") from None
        except yaml.YAMLError as exc:
            hint = ""
            if str(getattr(node, "tag", "")).startswith("!"):
                hint = f" (YAML reads a leading '!' as a tag: quote the value, e.g. '{node.tag}')"
            raise self.fail(node, f"{getattr(exc, 'problem', None) or exc}{hint}") from None

    def mapping(self, node: yaml.Node, what: str, allowed: tuple[str, ...] | None = None) -> list[tuple[str, yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping (key: value), got {_kind(node)}")
        seen: dict[str, int] = {}
        items = []
        for key_node, value_node in node.value:
            key = self.scalar(key_node)
            if not isinstance(key, str):
                raise self.fail(key_node, f"{what}: keys must be names, got {_shown(key)}")
            if key in seen:
                raise self.fail(key_node, f"{what}: {key!r} given twice (first at line {seen[key]})")
            seen[key] = _line(key_node) or 0
            if allowed is not None and key not in allowed:
                raise self.fail(key_node, f"unknown key {_shown(key)} in {what}{_did_you_mean(key, allowed)} "
                                          f"(allowed: {', '.join(allowed)})")
            items.append((key, key_node, value_node))
        return items


def _line(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None and node.start_mark is not None else None


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return _shown(node.value)


def _shown(value: Any) -> str:
    """A value as a message quotes it: repr, cut to MAX_SHOWN characters (it may be huge)."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's 4,300-digit str() limit
        text = "a number of more than 4300 digits"
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "..."


def _check_depth(text: str, path: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH before composing: PyYAML's parser is iterative, its
    composer and constructor recurse (a 5,000-deep "[[[..." is a RecursionError there)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark is not None else None
                raise PlaybookError(path, line, f"nested more than {MAX_DEPTH} levels deep: not a playbook")
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1


def _did_you_mean(word: str, choices: tuple[str, ...] | list[str]) -> str:
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return f"; did you mean {lowered[word.lower()]!r}?"
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


# ---- loading ----------------------------------------------------------------------------------
def load_playbook(path: str | Path) -> Playbook:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise PlaybookError(p, None, "no such playbook file") from None
    except UnicodeDecodeError as exc:
        raise PlaybookError(p, None, f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise PlaybookError(p, None, f"cannot read: {exc.strerror}") from None
    return loads_playbook(text, str(p))


def loads_playbook(text: str, path: str = "<playbook>") -> Playbook:
    try:
        _check_depth(text, path)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        ctx = exc.context_mark
        if exc.problem and exc.context and ctx is not None and (mark is None or ctx.line != mark.line):
            problem += f" ({exc.context} at line {ctx.line + 1})"
        raise PlaybookError(path, line, f"YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise PlaybookError(path, None, f"YAML error: {exc}") from None
    walker = _Walker(path)
    if root is None:
        raise PlaybookError(path, None, "the playbook is empty: expected a list of plays (- name: ... hosts: ... settings: ...)")
    if not isinstance(root, yaml.SequenceNode):
        raise walker.fail(root, f"a playbook is a list of plays (- name: ... hosts: ... settings: ...), got {_kind(root)}")
    if not root.value:
        raise walker.fail(root, "the playbook has no plays")
    plays = [_load_play(walker, node, index) for index, node in enumerate(root.value, start=1)]
    warnings: list[str] = []
    for play in plays:
        warnings.extend(_play_warnings(play))
    return Playbook(path=path, plays=plays, warnings=warnings)


def _load_play(w: _Walker, node: yaml.Node, index: int) -> Play:
    items = w.mapping(node, f"play #{index}", PLAY_KEYS)
    found = {key: (key_node, value_node) for key, key_node, value_node in items}
    name = f"play #{index}"
    if "name" in found:
        value = w.scalar(found["name"][1])
        if not isinstance(value, str) or not value.strip():
            raise w.fail(found["name"][1], f"{name}: name must be text")
        name = value.strip()
    if "hosts" not in found:
        raise w.fail(node, f"play {name!r} has no 'hosts:' (an inventory pattern such as windows:!legacy)")
    hosts = _load_hosts(w, found["hosts"][1], name)
    if "settings" not in found:
        raise w.fail(node, f"play {name!r} has no 'settings:' (e.g. TcpTimedWaitDelay: 30)")
    settings, lines = _load_settings(w, found["settings"][1], name)
    rollout = _load_rollout(w, found["rollout"][1], name) if "rollout" in found else Rollout()
    reboot = _load_reboot(w, *found["reboot"], name) if "reboot" in found else None
    return Play(name=name, hosts=hosts, settings=settings, setting_lines=lines, rollout=rollout,
                reboot=reboot, line=_line(node) or 0, source=w.path)


def _load_hosts(w: _Walker, node: yaml.Node, play: str) -> str:
    if isinstance(node, yaml.SequenceNode):
        parts = [w.scalar(n) for n in node.value]
        if not parts or not all(isinstance(p, str) and p.strip() for p in parts):
            raise w.fail(node, f"play {play!r}: hosts must be a pattern or a list of patterns")
        return ",".join(p.strip() for p in parts)  # a list is a union, as in Ansible
    value = w.scalar(node)
    if not isinstance(value, str) or not value.strip():
        raise w.fail(node, f"play {play!r}: hosts must be an inventory pattern such as windows:!legacy, got {_shown(value)}")
    return value.strip()


def _validate(w: _Walker, node: yaml.Node, key: str, raw: Any) -> Value:
    try:
        return get_setting(key).validate(raw)
    except SettingError as exc:
        raise w.fail(node, str(exc)) from None


def _load_settings(w: _Walker, node: yaml.Node, play: str) -> tuple[dict[str, Value], dict[str, int]]:
    items = w.mapping(node, f"settings of play {play!r}")
    if not items:
        raise w.fail(node, f"play {play!r} sets nothing")
    settings: dict[str, Value] = {}
    lines: dict[str, int] = {}

    def put(key: str, key_node: yaml.Node, value: Value) -> None:
        if key in settings:
            raise w.fail(key_node, f"{key} is set twice in play {play!r} (first at line {lines[key]})")
        settings[key] = value
        lines[key] = _line(key_node) or 0

    known = [k for k in CATALOGUE if not k.startswith("dynamicport.")] + ["dynamicport", *(k for k in CATALOGUE if k.startswith("dynamicport."))]
    for key, key_node, value_node in items:
        if key == "dynamicport":
            _load_dynamicport(w, value_node, put)
        elif key in CATALOGUE:
            setting = CATALOGUE[key]
            if setting.kind == "dynamicport":
                put(key, key_node, _validate(w, value_node, key, _range_value(w, value_node, key)))
            elif setting.kind == "sysctl_range":
                # Linux ip_local_port_range: "low high" as sysctl writes it, [low, high] or {start, end}.
                put(key, key_node, _validate(w, value_node, key, w.plain(value_node)))
            else:
                if not isinstance(value_node, yaml.ScalarNode):
                    raise w.fail(value_node, f"{key} must be a whole number (valid: {setting.valid}), got {_kind(value_node)}")
                put(key, key_node, _validate(w, value_node, key, w.scalar(value_node)))
        else:
            try:
                get_setting(key)
            except SettingError as exc:
                hint = _did_you_mean(key, known)
                raise w.fail(key_node, f"unknown setting {_shown(key)}{hint} (known: {', '.join(known)})") from exc
    return settings, lines


def _range_value(w: _Walker, node: yaml.Node, key: str) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return w.scalar(node)  # null / "absent": validate says why a range cannot be absent
    if not isinstance(node, yaml.MappingNode):
        raise w.fail(node, f"{key} must be a mapping {{start: N, num: M}}, got {_kind(node)}")
    items = w.mapping(node, key, ("start", "num", "end"))
    return {name: w.scalar(value_node) for name, _, value_node in items}


def _load_dynamicport(w: _Walker, node: yaml.Node, put: Any) -> None:
    for family, family_node, protocols_node in w.mapping(node, "dynamicport", FAMILIES):
        for protocol, protocol_node, range_node in w.mapping(protocols_node, f"dynamicport.{family}", PROTOCOLS):
            key = f"dynamicport.{family}.{protocol}"
            put(key, protocol_node, _validate(w, range_node, key, _range_value(w, range_node, key)))


def _percent_or_count(w: _Walker, node: yaml.Node, what: str) -> int | str:
    value = w.scalar(node)
    if isinstance(value, bool):
        raise w.fail(node, f"{what} must be a host count (e.g. 10) or a percentage (e.g. \"25%\"), not {value}")
    if isinstance(value, int) and value < 1:
        raise w.fail(node, f"{what} must be at least 1 host, got {value}")
    try:
        return parse_share(value).to_json()
    except ShareError:
        raise w.fail(node, f"{what} must be a host count (e.g. 10) or a percentage between 0% and 100% "
                           f"(e.g. \"25%\"), got {_shown(value)}") from None


def _load_rollout(w: _Walker, node: yaml.Node, play: str) -> Rollout:
    values: dict[str, Any] = {}
    for key, _, value_node in w.mapping(node, f"rollout of play {play!r}", ROLLOUT_KEYS):
        if key == "batch":
            values["batch"] = _percent_or_count(w, value_node, "rollout batch")
        else:
            raw = w.scalar(value_node)
            try:
                values["max_fail_percentage"] = parse_percentage(raw)
            except ShareError:
                raise w.fail(value_node, f"max_fail_percentage must be a number from 0 to 100 (e.g. 10), "
                                         f"got {_shown(raw)}") from None
    return Rollout(**values)


def _entries(w: _Walker, node: yaml.Node) -> Any:
    """windows/freeze as written: an unquoted date (- 2027-12-24) is its text, not YAML's timestamp
    (which would not be text, and an impossible one such as 2027-13-01 would not even construct)."""
    def one(n: yaml.Node) -> Any:
        if isinstance(n, yaml.ScalarNode) and n.tag == "tag:yaml.org,2002:timestamp":
            return n.value
        return w.plain(n)

    return [one(n) for n in node.value] if isinstance(node, yaml.SequenceNode) else one(node)


def _entry_lines(node: yaml.Node) -> tuple[int, ...]:
    """The line of each entry of a list; none for a single text (errors then name the block's line)."""
    if not isinstance(node, yaml.SequenceNode):
        return ()
    return tuple(_line(item) or 0 for item in node.value)


def _load_reboot(w: _Walker, key_node: yaml.Node, node: yaml.Node, play: str) -> RebootBlock | None:
    """Loosely checked here (shape and types); the reboot scheduler interprets the windows."""
    if isinstance(node, yaml.ScalarNode) and w.scalar(node) is None:
        return None
    out: dict[str, Any] = {}
    key_lines: list[tuple[str, int]] = []
    for key, _, value_node in w.mapping(node, f"reboot policy of play {play!r}", REBOOT_KEYS):
        if key in ("windows", "freeze"):
            value = _entries(w, value_node)
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                raise w.fail(value_node, f"reboot {key} must be a list of text entries, e.g. [\"Sat 02:00-04:00\"]")
            if key == "windows":
                for entry, entry_node in zip(value, getattr(value_node, "value", [value_node])):
                    if not _TIME_SPAN.search(entry):
                        raise w.fail(entry_node if isinstance(entry_node, yaml.Node) else value_node,
                                     f"reboot window {_shown(entry)} has no time span such as 02:00-04:00")
            out[key] = tuple(value)
            out["window_lines" if key == "windows" else "freeze_lines"] = _entry_lines(value_node)
            continue
        if key == "timezone":
            value = w.scalar(value_node)
            if not isinstance(value, str) or not _zone_exists(value):
                raise w.fail(value_node, f"unknown time zone {_shown(value)} (an IANA name such as Europe/Berlin or UTC)")
            out[key] = value
        elif key == "max_parallel":
            value = w.scalar(value_node)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise w.fail(value_node, f"reboot max_parallel must be a whole number of hosts >= 1, got {_shown(value)}")
            out[key] = value
        else:
            out[key] = parse_share(_percent_or_count(w, value_node, f"reboot {key}"))
        key_lines.append((key, _line(value_node) or 0))
    if not out:
        return None  # `reboot: {}` says nothing: the host's windows come from elsewhere, as without a block
    return RebootBlock(line=_line(key_node) or 0, key_lines=tuple(key_lines), **out)


def _zone_exists(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if len(name) > MAX_ZONE_NAME or not _ZONE_NAME.fullmatch(name):
        return False
    try:
        ZoneInfo(name)
        return True
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" is a directory of tzdata
        return False


# ---- warnings and per-host checks -------------------------------------------------------------
def _play_warnings(play: Play) -> list[str]:
    out = []
    for key, value in play.settings.items():
        for advice in get_setting(key).advice(value):
            out.append(f"{play.source}:{play.setting_lines[key]}: warning: play {play.name!r}: {advice}")
    ranges = [k for k in play.settings if k.startswith("dynamicport.")]
    if play.settings.get("MaxUserPort") is not None and ranges:
        out.append(
            f"{play.source}:{play.setting_lines['MaxUserPort']}: warning: play {play.name!r} sets MaxUserPort next to "
            f"a dynamic port range ({', '.join(ranges)}): on Vista/2008 and later Windows applies MaxUserPort at boot "
            f"as start=1024, num=MaxUserPort-1023, overriding the netsh range. Set MaxUserPort only for pre-Vista hosts "
            f"(a separate play, e.g. hosts: legacy)."
        )
    delay = play.settings.get("TcpTimedWaitDelay")
    if isinstance(delay, int) and delay < 30:
        out.append(
            f"{play.source}:{play.setting_lines['TcpTimedWaitDelay']}: warning: play {play.name!r} sets "
            f"TcpTimedWaitDelay {delay}: values below 30 are valid only on Windows 8.1 / Server 2012 R2 and later; "
            f"older hosts in {play.hosts!r} will be refused"
        )
    return out


def check_values_for_host(desired: Mapping[str, Value], facts: "HostFacts") -> list[str]:
    """Per-host rules for already-validated values (e.g. TcpTimedWaitDelay 10 on a 2008 host)."""
    errors = []
    for key, value in desired.items():
        try:
            get_setting(key).validate(value, facts)
        except SettingError as exc:
            errors.append(str(exc))
    return errors


def check_for_host(play: Play, facts: "HostFacts") -> list[str]:
    """Errors ("path:line: message") for settings this play gives a host that cannot take them."""
    out = []
    for key, value in play.settings.items():
        for message in check_values_for_host({key: value}, facts):
            line = play.setting_lines.get(key)
            out.append(f"{play.source}:{line}: {message}" if play.source and line else message)
    return out


def host_warnings(play: Play, facts: "HostFacts") -> list[str]:
    """Advice for one host (not errors): MaxUserPort on Vista/2008+ overrides the dynamic range."""
    out = []
    if play.settings.get("MaxUserPort") is not None and facts.version_known and not facts.is_legacy:
        out.append(
            f"MaxUserPort on {facts.os_label} ({facts.os_version}) resets the dynamic range at boot to "
            f"start=1024, num={int(play.settings['MaxUserPort']) - 1023}; prefer dynamicport settings there"  # type: ignore[arg-type]
        )
    return out
