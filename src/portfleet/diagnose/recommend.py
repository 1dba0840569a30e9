"""Recommendations and playbook warnings for a Windows host, from its analysed diagnosis.

Most specific first: the leaking application (no Windows setting fixes it), TIME_WAIT churn
(TcpTimedWaitDelay), then the range itself; each with the exact command `portfleet apply` would send.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from portfleet.diagnose.model import HostDiagnosis, RangeUse, Recommendation
from portfleet.diagnose.ports import excluded_ports_in, listening_ports, newly_covered, overlap
from portfleet.diagnose.thresholds import (
    AT_RISK_FILL,
    MAX_RANGE,
    RECOMMENDED_TIMED_WAIT,
    TARGET_FILL_AFTER_WIDENING,
    TIME_WAIT_SHARE,
)
from portfleet.facts import HostFacts
from portfleet.parse.netsh import PortRange
from portfleet.parse.netstat import BOUND, CLOSE_WAIT, TIME_WAIT, Conn
from portfleet.render import Renderer
from portfleet.settings import Reading, ReadStatus, get_setting


def time_wait_dominates(d: HostDiagnosis, main: RangeUse) -> bool:
    """TIME_WAIT holds a large share of the used ports, and the host is at risk or half-way there."""
    time_wait = main.by_state.get(TIME_WAIT, 0)
    return bool(main.in_use) and time_wait >= TIME_WAIT_SHARE * main.in_use and (
        d.verdict != "healthy" or main.fill >= AT_RISK_FILL / 2)


def range_needs_widening(d: HostDiagnosis, main: RangeUse) -> bool:
    """Past half the at-risk fill on a host already at risk, or past the at-risk fill on any host."""
    return d.verdict != "healthy" and main.fill >= AT_RISK_FILL / 2 or main.fill >= AT_RISK_FILL


def fill_after(main: RangeUse, target: PortRange) -> float:
    """The share of `target` today's load would fill (the excluded ports stay excluded)."""
    return main.in_use / max(target.num - main.excluded, 1)


def widened_range(d: HostDiagnosis, main: RangeUse) -> PortRange:
    needed = math.ceil(main.in_use / TARGET_FILL_AFTER_WIDENING) + main.excluded
    num = max(main.range.num if main.range else 0, needed, 16384)
    num = min(MAX_RANGE.num, int(math.ceil(num / 1024.0) * 1024))
    return PortRange(65536 - num, num)


def recommend(d: HostDiagnosis, facts: HostFacts, renderer: Renderer | None, host_vars: Mapping[str, Any]) -> None:
    main = d.main
    if main is None or main.range is None:
        return

    def command(key: str, value: Any) -> str | None:
        if renderer is None:
            return None
        try:
            return renderer.write_command(get_setting(key), value, host_vars)
        except Exception:  # a rendering problem must not hide the advice itself
            return None

    # 1. The application: CLOSE_WAIT / BOUND held by one process is a leak no Windows setting fixes.
    for p in d.processes:
        if p.pid not in d.leak_suspects:
            continue
        close_wait, bound = p.by_state.get(CLOSE_WAIT, 0), p.by_state.get(BOUND, 0)
        why = []
        if close_wait:
            why.append(f"{close_wait:,} CLOSE_WAIT (the peer closed; {p.name} never called closesocket())")
        if bound:
            why.append(f"{bound:,} BOUND (bound, never connected or closed)")
        d.recommendations.append(Recommendation(
            "fix_application",
            f"{p.name} (pid {p.pid}) leaks sockets: {'; '.join(why)}. This is the application, not Windows: "
            f"restarting it frees the ports at once; report the leak to its vendor. A wider range only buys time.",
        ))
    # 2. TIME_WAIT churn: shorter TIME_WAIT frees ports sooner (takes effect after a reboot).
    time_wait = main.by_state.get(TIME_WAIT, 0)
    delay = d.timed_wait_delay
    if delay is not None and delay > RECOMMENDED_TIMED_WAIT and time_wait_dominates(d, main):
        freed = time_wait - math.ceil(time_wait * RECOMMENDED_TIMED_WAIT / delay)
        who = ""
        likely = max(d.processes, key=lambda p: p.time_wait_likely, default=None)
        if likely is not None and likely.time_wait_likely:
            who = f" Most of them are connections {likely.name} (pid {likely.pid}) opened and closed."
        d.recommendations.append(Recommendation(
            "lower_timed_wait",
            f"{time_wait:,} ports wait in TIME_WAIT for {delay} s. Set TcpTimedWaitDelay to "
            f"{RECOMMENDED_TIMED_WAIT} s (after a reboot): at the same connection rate about {freed:,} of them "
            f"would be free.{who} Reusing connections (keep-alive, pooling) removes the churn itself.",
            "TcpTimedWaitDelay", RECOMMENDED_TIMED_WAIT, command("TcpTimedWaitDelay", RECOMMENDED_TIMED_WAIT),
        ))
    # 3. The range itself.
    if range_needs_widening(d, main):
        if facts.is_legacy:
            current_top = main.range.end
            if current_top < 65534:
                d.recommendations.append(Recommendation(
                    "widen_range",
                    f"Raise MaxUserPort from {current_top} to 65534 (KB 196271; after a reboot): the ephemeral "
                    f"range grows from {main.range.num:,} to 64,510 ports.",
                    "MaxUserPort", 65534, command("MaxUserPort", 65534),
                ))
        else:
            target = widened_range(d, main)
            if target.num > main.range.num:
                key = f"dynamicport.{main.family}.tcp"
                after = fill_after(main, target)
                d.recommendations.append(Recommendation(
                    "widen_range",
                    f"Widen the {main.family} TCP dynamic range from {main.range.start}-{main.range.end} "
                    f"({main.range.num:,}) to {target.start}-{target.end} ({target.num:,} ports; applies at once): "
                    f"today's load would fill {after:.0%} of it."
                    + (" Fix the leak too: a leaking process fills any range in time." if d.leak_suspects else ""),
                    key, target, command(key, target),
                ))
                blocked = newly_covered(d.listeners.get(main.family, []), target, main.range)
                if blocked:
                    d.recommendations.append(Recommendation(
                        "exclude_ports",
                        f"The wider range would include listening port(s) {_port_list(blocked)}: reserve them first "
                        f"(netsh int {main.family} add excludedportrange protocol=tcp startport=N numberofports=1) "
                        "so no outgoing connection takes them while their service is down.",
                    ))


def _port_list(ports: Sequence[int], limit: int = 8) -> str:
    shown = ", ".join(str(p) for p in ports[:limit])
    return shown + (f" and {len(ports) - limit} more" if len(ports) > limit else "")


def playbook_warnings(
    desired: Mapping[str, Any], conns: Sequence[Conn], ranges: Mapping[str, PortRange | None],
    excluded: Mapping[str, list[tuple[int, int, bool]]], tcp: Sequence[RangeUse],
) -> list[str]:
    """A desired dynamic range that would swallow a fixed listening port or an excluded range."""
    out: list[str] = []
    for key, value in desired.items():
        if not key.startswith("dynamicport.") or not isinstance(value, PortRange):
            continue
        _, family, protocol = key.split(".")
        current = ranges.get(f"{family}.{protocol}")
        fixed = newly_covered(listening_ports(conns, family, protocol), value, current)
        if fixed:
            out.append(
                f"playbook {key} {value.start}-{value.end} overlaps {len(fixed)} listening {protocol.upper()} "
                f"port(s) outside today's range: {_port_list(fixed)}; once a service restarts an outgoing "
                f"connection may take its port. Exclude them first (netsh int {family} add excludedportrange "
                f"protocol={protocol} startport=N numberofports=M) or start the range above them."
            )
        clash = [(s, e, a) for s, e, a in excluded.get(f"{family}.{protocol}", []) if overlap(s, e, value)]
        if clash:
            shown = ", ".join(f"{s}-{e}{' (administered)' if a else ''}" for s, e, a in clash[:6])
            lost = excluded_ports_in(clash, value)
            out.append(
                f"playbook {key} {value.start}-{value.end} overlaps excluded port range(s) {shown}: "
                f"{lost:,} of its {value.num:,} ports can never be handed out."
            )
        if protocol == "tcp":
            use = next((u for u in tcp if u.family == family), None)
            if use is not None and use.in_use and value.num - excluded_ports_in(excluded.get(f"{family}.tcp", []), value) <= use.in_use:
                out.append(
                    f"playbook {key} {value.start}-{value.end} ({value.num:,} ports) is smaller than the "
                    f"{use.in_use:,} ports in use now: the host would be out of ports at once."
                )
    return out


def modern_maxuserport_warning(d: HostDiagnosis, facts: HostFacts, readings: Mapping[str, Reading]) -> None:
    max_user = readings.get("MaxUserPort")
    if facts.is_legacy or max_user is None or max_user.status != ReadStatus.VALUE:
        return
    # DESIGN: on Vista+ a MaxUserPort value is applied at boot as start=1024, num=MaxUserPort-1023,
    # overriding netsh (nmap PR #3499, runner-images #1442).
    d.warnings.append(
        f"MaxUserPort is set to {max_user.value} on {facts.os_label}: at the next boot it replaces the netsh "
        f"range with 1024-{max_user.value}; manage the range with netsh only and remove MaxUserPort."
    )
