"""Read one host: ONE batched command for the facts and every setting of its platform, then parse.

The read always covers the platform's whole catalogue, whatever the playbook asks: the command line
is then the same for every run and every playbook, which keeps `portfleet capture` files replayable
and costs a few hundred bytes of output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from portfleet.facts import HostFacts, parse_facts
from portfleet.parse.sections import split_sections
from portfleet.render import Renderer
from portfleet.settings import CATALOGUE, Reading, ReadStatus, Setting, get_setting
from portfleet.transport.base import Result, Session


@dataclass(frozen=True)
class Probe:
    facts: HostFacts
    readings: dict[str, Reading]
    raw: Result


def platform_settings(platform: str = "windows") -> list[Setting]:
    return [s for s in CATALOGUE.values() if s.platform == platform]


def read_command(renderer: Renderer, host: Any, platform: str = "windows") -> str:
    return renderer.read_command(platform_settings(platform), host.vars)


def probe(session: Session, renderer: Renderer, host: Any, keys: Iterable[str]) -> Probe:
    """`keys` must belong to the platform; readings are returned for all of its settings."""
    wanted = [get_setting(k) for k in keys]
    platform = wanted[0].platform if wanted else "windows"
    settings = platform_settings(platform)
    result = session.run(read_command(renderer, host, platform))
    # The read chains with " & " and merges stderr, so the exit code is the last command's:
    # each section is judged by its own text instead.
    sections = split_sections(result.stdout)
    facts = parse_facts(sections)
    readings: dict[str, Reading] = {}
    for s in settings:
        text = sections.get(s.key)
        if text is None:
            readings[s.key] = Reading(ReadStatus.UNPARSABLE, None, None, "no output section for this setting")
        else:
            readings[s.key] = s.parse(text, facts)
    return Probe(facts=facts, readings=readings, raw=result)
