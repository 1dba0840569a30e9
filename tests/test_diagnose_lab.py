"""`portfleet diagnose` against the lab fleet: real WinRM, real cmd output, the mixed profile's
exhausted host (LeakyApp.exe, events 4227/4231), its Server 2003 host without `netstat -q`, its de-DE
host, and an unreachable host."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from portfleet.cli.commands.diagnose import diagnose
from portfleet.resources import playbooks_dir

ENGLISH_STATES = {"LISTENING", "ESTABLISHED", "TIME_WAIT", "CLOSE_WAIT", "BOUND", "SYN_SENT", "FIN_WAIT_2"}


def portfleet() -> typer.Typer:
    """The `diagnose` command as the portfleet app mounts it (a group, so the name is typed as users do)."""
    app = typer.Typer(add_completion=False)
    app.command(help=diagnose.__doc__)(diagnose)

    @app.callback()
    def _root() -> None:
        pass

    return app


def run(*args: str):
    result = CliRunner().invoke(portfleet(), ["diagnose", *args], catch_exceptions=False)
    return result


def run_json(*args: str) -> tuple[int, dict]:
    result = run(*args, "--format", "json")
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture(scope="module")
def fleet(module_lab):
    return module_lab(hosts=6, profile="mixed", seed=1)


def by_name(data: dict) -> dict[str, dict]:
    return {h["name"]: h for h in data["hosts"]}


def test_the_exhausted_host_comes_first_with_its_culprit_and_events(fleet):
    code, data = run_json("-i", str(fleet.inventory))
    assert code == 3, data["summary"]
    first = data["hosts"][0]
    assert first["name"] == "app-01" and first["verdict"] == "exhausted"
    assert first["culprit"]["name"] == "LeakyApp.exe"
    assert first["culprit"]["pid"] in first["leak_suspects"]
    assert first["culprit"]["by_state"]["BOUND"] > 1000 and first["culprit"]["by_state"]["CLOSE_WAIT"] > 1000
    assert first["fill"] > 0.95 and first["netstat"] == "-anoq"
    counts = first["events"]["counts"]
    assert int(counts["4231"]) > 0 and int(counts["4227"]) > 0
    assert any(r["kind"] == "fix_application" and "LeakyApp.exe" in r["text"] for r in first["recommendations"])
    # Everyone else is healthy.
    assert {h["name"]: h["verdict"] for h in data["hosts"][1:]} == {
        name: "healthy" for name in ("web-01", "web-02", "app-02", "sql-01", "legacy-01")
    }
    assert data["summary"]["exhausted"] == 1 and data["summary"]["healthy"] == 5


def test_the_2003_host_and_the_german_host_are_diagnosed_too(fleet):
    code, data = run_json("-i", str(fleet.inventory), "-l", "legacy-01,sql-01")
    assert code == 0
    hosts = by_name(data)
    legacy = hosts["legacy-01"]
    assert legacy["os_version"] == "5.2.3790" and legacy["netstat"] == "-ano"
    assert legacy["verdict"] == "healthy" and legacy["tcp_ranges"][0]["range"] == {"start": 1025, "num": 3976, "end": 5000}
    assert legacy["tcp_ranges"][0]["in_use"] > 0
    assert legacy["events"]["readable"] is False
    assert any("no `netstat -q`" in n for n in legacy["notes"])
    german = next(name for name in hosts if fleet.control().host(name).get("locale") == "de-DE")
    states = hosts[german]["states"]
    assert states and set(states) <= ENGLISH_STATES, states  # ABHÖREN, HERGESTELLT, WARTEND read back
    assert hosts[german]["verdict"] == "healthy"


def test_people_get_a_ranked_table_with_what_to_do(fleet, tmp_path: Path):
    report = tmp_path / "ports.html"
    result = run("-i", str(fleet.inventory), "--html", str(report))
    assert result.exit_code == 3
    out = result.stdout
    assert out.index("app-01") < out.index("web-01")
    assert "EXHAUSTED" in out and "LeakyApp.exe" in out
    assert "netsh int ipv4 set dynamicport tcp start=" in out
    assert "6 host(s): 1 exhausted, 0 at risk, 5 healthy" in out
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "LeakyApp.exe" in page
    assert "src=" not in page and "<link" not in page and "@import" not in page  # nothing fetched


def test_an_unreachable_host_is_reported_and_the_rest_diagnosed(fleet):
    control = fleet.control()
    control.set_faults("web-02", unreachable=True)
    try:
        code, data = run_json("-i", str(fleet.inventory), "--timeout", "5")
    finally:
        control.clear_faults("web-02")
    assert code == 4
    hosts = by_name(data)
    assert hosts["web-02"]["status"] == "unreachable" and hosts["web-02"]["verdict"] == "unknown"
    assert hosts["app-01"]["verdict"] == "exhausted"
    assert data["summary"]["unreachable"] == 1
    assert [h["name"] for h in data["hosts"]][:2] == ["app-01", "web-02"]  # unknown risk ranks before healthy


def test_a_playbook_range_over_a_listener_or_an_exclusion_is_warned(fleet):
    code, data = run_json("-i", str(fleet.inventory), "-l", "app-01", "-p", str(playbooks_dir() / "port-exhaustion.yml"))
    assert code == 3
    warnings = by_name(data)["app-01"]["warnings"]
    # The shipped playbook's 10000-65535 takes in WinRM's 47001 listener and app-01's administered 50000-50059.
    assert any("listening TCP port" in w and "47001" in w for w in warnings), warnings
    assert any("50000-50059 (administered)" in w for w in warnings), warnings


def test_watch_shows_the_trend_and_when_the_range_fills(lab):
    """After a reboot the leak starts over; at a lab time scale of one hour per second it grows visibly."""
    from portfleet.inventory import load_inventory
    from portfleet.transport.factory import session_factory

    running = lab(hosts=3, profile="mixed", seed=1, time_scale=3600)
    host = load_inventory(running.inventory).host("app-01")
    control = running.control()
    boots = control.host("app-01")["boot_count"]
    with session_factory()(host) as session:
        assert session.run("shutdown /r /t 0").exit_code == 0
    control.wait_until("app-01", lambda h: control.host("app-01")["boot_count"] > boots and h["is_up"], timeout=30)
    code, data = run_json("-i", str(running.inventory), "-l", "app-01", "--watch", "1", "--count", "3")
    app = data["hosts"][0]
    assert data["rounds"] == 3 and len(app["trend"]["samples"]) == 3
    samples = [s["in_use"] for s in app["trend"]["samples"]]
    assert samples == sorted(samples) and samples[-1] > samples[0]
    assert app["trend"]["slope_per_min"] > 0 and app["trend"]["exhaustion_in_s"] > 0
    assert any("the range is full in about" in e for e in app["evidence"])
    assert code == 3


def test_an_80_column_terminal_gets_whole_rows(fleet):
    """At 80 columns no line is wider than the terminal, host and verdict are whole, and the table
    says what it left out; the event counts name their window."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, COLUMNS="80")
    proc = subprocess.run([sys.executable, "-m", "portfleet", "diagnose", "-i", str(fleet.inventory)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 3, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    table = lines[: next(i for i, line in enumerate(lines) if line.startswith("└"))]
    rows = [line for line in table if line.startswith("│") and line.split("│")[1].strip().isdigit()]
    assert len(rows) == 6  # one line per host: nothing folded onto a second line
    for host in ("app-01", "web-01", "legacy-01"):
        assert any(f" {host} " in row for row in rows)
    assert any(" EXHAUSTED " in row for row in rows)
    assert "not shown at this width:" in proc.stdout and "--wide" in proc.stdout
    assert "event 4227 ×" in proc.stdout and "in the last 7 days" in proc.stdout
