"""Collection: read one host in ONE session and parse what it printed into a Collected.

Windows: the batched settings read (facts + the four dynamic ranges, TcpTimedWaitDelay, MaxUserPort),
then one diagnose read (excluded port ranges, `netstat -ano[q]`, `tasklist`, System events
4227/4231). Linux hosts are read by portfleet.diagnose.linux (ss and sysctl instead).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from portfleet.diagnose import linux
from portfleet.diagnose.model import FAMILIES, PROTOCOLS, RANGE_KEYS, Collected, Sample
from portfleet.facts import HostFacts
from portfleet.parse.netsh import parse_excludedportrange
from portfleet.parse.netstat import Conn, parse_netstat
from portfleet.parse.sections import END, begin_marker, split_sections
from portfleet.parse.tasklist import parse_tasklist_csv
from portfleet.parse.wevtutil import Event, parse_events_text
from portfleet.read_host import host_platform, read_host
from portfleet.render import Renderer
from portfleet.settings import Reading
from portfleet.transport.base import Session

EVENTS_MAX = 200  # newest events kept per host: counts beyond that are "at least"
DAY_MS = 86_400_000

READ_KEYS = (*RANGE_KEYS, "TcpTimedWaitDelay", "MaxUserPort")

# Section names of the diagnose read (parse.sections markers).
S_NETSTAT = "diag.netstat"
S_TASKLIST = "diag.tasklist"
S_EVENTS = "diag.events"
S_EVENTS_DAY = "diag.events_day"


def _excluded_section(family: str, protocol: str) -> str:
    return f"diag.excluded.{family}.{protocol}"


def diagnose_command(renderer: Renderer, *, with_q: bool, days: int | None, full: bool = True) -> str:
    """The diagnose read as ONE cmd.exe line; `full=False` is the light one of --watch rounds."""
    sections: list[tuple[str, str]] = []
    if full:
        for family in FAMILIES:
            for protocol in PROTOCOLS:
                sections.append(
                    (_excluded_section(family, protocol),
                     renderer.render("windows/diagnose/excludedportrange.cmd.j2", family=family, protocol=protocol))
                )
    sections.append((S_NETSTAT, renderer.render("windows/diagnose/netstat.cmd.j2", with_q=with_q)))
    sections.append((S_TASKLIST, renderer.render("windows/diagnose/tasklist.cmd.j2")))
    if full and days:
        sections.append((S_EVENTS, renderer.render("windows/diagnose/events.cmd.j2", ms=int(days) * DAY_MS,
                                                   max_events=EVENTS_MAX)))
        sections.append((S_EVENTS_DAY, renderer.render("windows/diagnose/events.cmd.j2", ms=DAY_MS, max_events=EVENTS_MAX)))
    return renderer.render(
        "windows/diagnose/read.cmd.j2",
        sections=[{"marker": begin_marker(name), "command": command} for name, command in sections],
        end_marker=END,
    )


def _events_answered(text: str | None) -> bool:
    """wevtutil ran: it printed events, or nothing at all (no match). An error has text, no events."""
    text = (text or "").strip()
    return not text or bool(parse_events_text(text))


def _read_netstat(session: Session, renderer: Renderer, sections: Mapping[str, str], with_q: bool,
                  notes: list[str]) -> tuple[list[Conn], str]:
    conns = parse_netstat(sections.get(S_NETSTAT))
    if conns or not with_q:
        return conns, "-anoq" if with_q else "-ano"
    # The build looked new enough for -q but netstat refused it (printed its usage): ask again.
    notes.append("netstat refused -q on this build: BOUND ports are not visible")
    retry = session.run(renderer.render("windows/diagnose/netstat.cmd.j2", with_q=False))
    return parse_netstat(retry.stdout), "-ano"


def collect(session: Session, renderer: Renderer, host: Any, *, days: int | None) -> Collected:
    """Read one host: the batched settings read, then the diagnose read (two commands, one shell)."""
    if host_platform(session, host) == "linux":
        return linux.collect(session, renderer, host)  # ss and sysctl instead of netstat and netsh
    found = read_host(session, renderer, host, READ_KEYS)
    with_q = found.facts.supports_netstat_q
    at = datetime.now(timezone.utc)
    result = session.run(diagnose_command(renderer, with_q=with_q, days=days))
    sections = split_sections(result.stdout)
    notes: list[str] = []
    conns, flags = _read_netstat(session, renderer, sections, with_q, notes)
    return build_collected(found.facts, found.readings, sections, days=days, at=at, conns=conns,
                           netstat_flags=flags, notes=notes)


def build_collected(
    facts: HostFacts, readings: dict[str, Reading], sections: Mapping[str, str], *, days: int | None,
    at: datetime, conns: list[Conn] | None = None, netstat_flags: str | None = None, notes: Sequence[str] = (),
) -> Collected:
    """The diagnose read's sections (split_sections) -> Collected. Pure."""
    # facts.notes speak of the boot time, which diagnose does not use; only an unknown version matters.
    notes = list(notes) + ([] if facts.version_known else ["`ver` printed no version: read as an older build"])
    if conns is None:
        conns = parse_netstat(sections.get(S_NETSTAT))
    flags = netstat_flags or ("-anoq" if facts.supports_netstat_q else "-ano")
    if not conns:
        notes.append("netstat printed no connection table")
    if flags != "-anoq":
        notes.append(f"{facts.os_label} has no `netstat -q`: BOUND ports are not visible, read with -ano")
    excluded: dict[str, list[tuple[int, int, bool]]] = {}
    excluded_readable = False
    for family in FAMILIES:
        for protocol in PROTOCOLS:
            text = sections.get(_excluded_section(family, protocol))
            rows = parse_excludedportrange(text)
            excluded[f"{family}.{protocol}"] = rows
            # A table (even empty) has a dashed rule under its header; an error or echo has none.
            excluded_readable = excluded_readable or bool(rows) or "----" in (text or "")
    events: list[Event] = []
    events_readable = False
    exhaustion_last_day = 0
    if days:
        events = [e for e in parse_events_text(sections.get(S_EVENTS)) if e.id in (4227, 4231)]
        events_readable = _events_answered(sections.get(S_EVENTS))
        exhaustion_last_day = sum(1 for e in parse_events_text(sections.get(S_EVENTS_DAY)) if e.id == 4231)
        if not events_readable:
            notes.append("the System event log could not be queried (no wevtutil on this host?)")
    return Collected(
        at=at,
        facts=facts,
        readings=readings,
        netstat_flags=flags,
        conns=conns,
        processes=parse_tasklist_csv(sections.get(S_TASKLIST)),
        excluded=excluded,
        excluded_readable=excluded_readable,
        events=events,
        events_readable=events_readable,
        exhaustion_last_day=exhaustion_last_day,
        notes=notes,
    )


def sample(session: Session, renderer: Renderer, *, with_q: bool) -> Sample:
    """The light reading of a --watch round: the TCP table and process names only."""
    at = datetime.now(timezone.utc)
    result = session.run(diagnose_command(renderer, with_q=with_q, days=None, full=False))
    sections = split_sections(result.stdout)
    conns, _ = _read_netstat(session, renderer, sections, with_q, [])
    return Sample(at=at, conns=conns, processes=parse_tasklist_csv(sections.get(S_TASKLIST)))


def resample(session: Session, renderer: Renderer, first: Collected) -> Sample:
    """A --watch round's light reading, the way the host's first (full) read was taken."""
    if first.facts.platform == "linux":
        return linux.sample(session, renderer)
    return sample(session, renderer, with_q=first.netstat_flags == "-anoq")
