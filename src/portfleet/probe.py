"""Read one host: ONE batched command for the facts and every planned setting, then parse."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from portfleet.facts import HostFacts, parse_facts
from portfleet.parse.sections import split_sections
from portfleet.render import Renderer
from portfleet.settings import Reading, ReadStatus, get_setting
from portfleet.transport.base import Result, Session


@dataclass(frozen=True)
class Probe:
    facts: HostFacts
    readings: dict[str, Reading]
    raw: Result


def probe(session: Session, renderer: Renderer, host: Any, keys: Iterable[str]) -> Probe:
    settings = [get_setting(k) for k in keys]
    command = renderer.read_command(settings, host.vars)
    result = session.run(command)
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
