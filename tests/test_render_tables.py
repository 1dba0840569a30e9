"""The host table at an operator's terminal width: host and status never cut, lines never past the
width, lesser columns folded or dropped with a note, --wide showing every column whole."""

from __future__ import annotations

from rich.console import Console

from portfleet.cli.render.run_tables import audit_table
from portfleet.facts import HostFacts
from portfleet.models import HostReport, HostStatus, RunReport, SettingStatus
from portfleet.settings import PortRange

WIDE_RANGE, TUNED = PortRange(49152, 16384), PortRange(10000, 55536)


def _report() -> RunReport:
    def drift_row(key: str, actual, desired) -> SettingStatus:
        return SettingStatus(key, desired, actual, actual, "drift", False)

    rows = [
        drift_row("MaxUserPort", None, None),
        drift_row("TcpTimedWaitDelay", 240, 30),
        drift_row("dynamicport.ipv4.tcp", WIDE_RANGE, TUNED),
        drift_row("dynamicport.ipv6.tcp", WIDE_RANGE, TUNED),
        drift_row("dynamicport.ipv4.udp", WIDE_RANGE, TUNED),
    ]
    facts = HostFacts(os_version="10.0.17763")
    hosts = [
        HostReport("a-rather-long-host-name-01.corp.example.com", "10.0.0.1", HostStatus.DRIFT, "", facts, rows),
        HostReport("web-02", "10.0.0.2", HostStatus.UNREACHABLE, "web-02 (http://10.0.0.2:5985/wsman): connection refused"),
        HostReport("web-03", "10.0.0.3", HostStatus.PENDING_REBOOT, "reboot needed for the new values to take effect", facts, rows),
    ]
    return RunReport("audit", "r1", hosts)


def _render(width: int, wide: bool = False) -> tuple[list[str], list[str]]:
    table, notes = audit_table(_report(), width=width, wide=wide)
    console = Console(width=10_000 if wide else width, record=True, color_system=None)
    console.print(table)
    return console.export_text().splitlines(), notes


def test_80_columns_never_cut_host_or_status_and_never_overflow() -> None:
    lines, notes = _render(80)
    assert all(len(line) <= 80 for line in lines), max(len(line) for line in lines)
    text = "\n".join(lines)
    for name in ("a-rather-long-host-name-01.corp.example.com", "web-02", "web-03"):
        assert name in text
    for status in ("drift", "unreachable", "pending_reboot"):
        assert status in text
    # What did not fit is said, and the details follow the table in full.
    assert any(n.startswith("not shown at this width:") and "--wide" in n for n in notes)
    assert "web-02: web-02 (http://10.0.0.2:5985/wsman): connection refused" in notes


def test_narrow_terminal_folds_drift_cells() -> None:
    lines, _ = _render(100)
    text = "\n".join(lines)
    assert "49152-65535" in text and "→ 10000-65535" in text
    assert "49152-65535 → 10000-65535" not in text  # folded onto two lines
    assert all(len(line) <= 100 for line in lines)


def test_wide_shows_every_column_whole() -> None:
    lines, notes = _render(80, wide=True)
    text = "\n".join(lines)
    assert "49152-65535 → 10000-65535" in text
    assert "v4 udp range" in text and "detail" in text
    assert "connection refused" in text
    assert not notes
