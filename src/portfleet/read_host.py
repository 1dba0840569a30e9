"""Read one host: ONE batched command for the facts and every setting of its platform, then parse.

The read always covers the platform's whole catalogue, whatever the playbook asks: the command line
is then the same for every run and every playbook, which keeps `portfleet capture` files replayable
and costs a few hundred bytes of output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from portfleet.facts import HostFacts, parse_facts, parse_linux_facts
from portfleet.parse.sections import split_sections
from portfleet.render import Renderer
from portfleet.settings import CATALOGUE, Reading, ReadStatus, Setting, get_setting
from portfleet.transport.base import Result, Session


@dataclass(frozen=True)
class HostReading:
    facts: HostFacts
    readings: dict[str, Reading]
    raw: Result


def platform_settings(platform: str = "windows") -> list[Setting]:
    return [s for s in CATALOGUE.values() if s.platform == platform]


def read_command(renderer: Renderer, host: Any, platform: str = "windows") -> str:
    return renderer.read_command(platform_settings(platform), host.vars, platform=platform)


def host_platform(session: Session, host: Any) -> str:
    """The inventory's portfleet_platform, else what the session learnt from the host (SSH asks
    `uname -s`), else windows (WinRM hosts are Windows)."""
    known = getattr(host, "platform", None)
    if known:
        return str(known)
    return getattr(session, "platform", None) or "windows"


def read_host(session: Session, renderer: Renderer, host: Any, keys: Iterable[str]) -> HostReading:
    """Readings for every setting of the host's platform, and for each of `keys`: a key of another
    platform (a Linux sysctl asked of a Windows host) is UNSUPPORTED there."""
    platform = host_platform(session, host)
    wanted = [get_setting(k) for k in keys]
    settings = platform_settings(platform)
    result = session.run(read_command(renderer, host, platform))
    # The read chains with " & " (cmd) or lines (sh) and merges stderr, so the exit code is the
    # last command's: each section is judged by its own text instead.
    sections = split_sections(result.stdout)
    facts = parse_linux_facts(sections) if platform == "linux" else parse_facts(sections)
    readings: dict[str, Reading] = {}
    for s in settings:
        text = sections.get(s.key)
        if text is None:
            readings[s.key] = Reading(ReadStatus.UNPARSABLE, None, None, "no output section for this setting")
        else:
            readings[s.key] = s.parse(text, facts)
    for s in wanted:
        if s.platform != platform:
            readings[s.key] = Reading(ReadStatus.UNSUPPORTED, None, None,
                                      f"{s.key} is a {s.platform} setting; this host runs {platform}")
    return HostReading(facts=facts, readings=readings, raw=result)
