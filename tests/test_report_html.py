"""The diagnose HTML report, rendered by headless Chromium: what is on the page, that it fits, and
that it needs nothing from the network."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from portfleet.diagnose import (
    READ_KEYS, S_EVENTS, S_EVENTS_DAY, S_NETSTAT, S_TASKLIST, DiagnoseReport, analyse, apply_trend,
    build_collected, failure, rank, trend_of,
)
from portfleet.facts import parse_facts
from portfleet.render import Renderer
from portfleet.report.html import render_html, write_html
from portfleet.settings import get_setting, parse_readings
from portfleet.transport.base import TransportError

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install -y chromium); CI installs it"
)
NOW = datetime(2026, 11, 21, 5, 0, tzinfo=timezone.utc)


def _host(name: str, rows: list[str], tasklist: str, events: str = "", events_day: str = "", tw: bool = False):
    facts = parse_facts({"facts.ver": "Microsoft Windows [Version 10.0.17763.6414]"})
    texts = {k: "\r\nProtocol tcp Dynamic Port Range\r\n---------------------------------\r\n"
                "Start Port      : 49152\r\nNumber of Ports : 16384\r\n" for k in READ_KEYS if k.startswith("dynamic")}
    absent = "ERROR: The system was unable to find the specified registry key or value.\r\n"
    texts["TcpTimedWaitDelay"] = absent
    texts["MaxUserPort"] = absent
    readings = parse_readings(texts, [get_setting(k) for k in READ_KEYS], facts)
    header = ["", "Active Connections", "", "  Proto  Local Address          Foreign Address        State           PID"]
    sections = {S_NETSTAT: "\r\n".join(header + rows), S_TASKLIST: tasklist, S_EVENTS: events, S_EVENTS_DAY: events_day}
    got = build_collected(facts, readings, sections, days=7, at=NOW)
    return analyse(name, "10.20.0.1", got, renderer=Renderer())


def _rows(state: str, n: int, pid: int, first: int, remote: str = "10.20.5.40:443") -> list[str]:
    local = lambda p: f"0.0.0.0:{p}" if state == "BOUND" else f"10.20.0.19:{p}"  # noqa: E731
    remote = "0.0.0.0:0" if state == "BOUND" else remote
    return [f"  TCP    {local(p):<22} {remote:<22} {state:<15} {pid}" for p in range(first, first + n)]


EVENT_4231 = ("Event[0]:\r\n  Log Name: System\r\n  Source: Tcpip\r\n  Date: 2026-11-21T03:00:00.0000000Z\r\n"
              "  Event ID: 4231\r\n  Task: N/A\r\n  Level: Error\r\n  Opcode: Info\r\n  Keyword: Classic\r\n"
              "  User: N/A\r\n  User Name: N/A\r\n  Computer: app-01\r\n  Description: \r\nA request to allocate an "
              "ephemeral port number from the global TCP port space has failed due to all such ports being in use.\r\n")
TASKLIST = ('"System","4","Services","0","144 K"\r\n"LeakyApp.exe","6148","Services","0","812,345 K"\r\n'
            '"java.exe","3120","Services","0","1,204,112 K"\r\n"w3wp.exe","5012","Services","0","402,112 K"\r\n')


@pytest.fixture(scope="module")
def report() -> DiagnoseReport:
    sick = _host("app-01", _rows("TIME_WAIT", 4000, 0, 49152) + _rows("CLOSE_WAIT", 4800, 6148, 53152)
                 + _rows("BOUND", 7400, 6148, 57952), TASKLIST, EVENT_4231, EVENT_4231)
    apply_trend(sick, trend_of([(NOW + timedelta(seconds=30 * i), 15500 + 200 * i) for i in range(5)], sick.main.capacity))
    busy = _host("web-03", _rows("TIME_WAIT", 7000, 0, 49152, "10.20.2.31:1433")
                 + _rows("ESTABLISHED", 3500, 5012, 56152, "10.20.2.31:1433"), TASKLIST)
    calm = _host("web-01", _rows("ESTABLISHED", 40, 5012, 49152), TASKLIST)
    gone = failure(SimpleNamespace(name="db-09", address="10.20.3.9"),
                   TransportError("unreachable", "db-09: connection refused by 10.20.3.9:5985"))
    return DiagnoseReport(hosts=rank([calm, gone, busy, sick]), days=7, generated_at=NOW,
                          inventory="inventory/lab.yml", playbook=None)


def chromium(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--no-first-run", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
           # Resolve no host at all: a page that fetched anything would show holes, and counts it below.
           "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1200,1600", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90)


MEASURE = """<script>
(() => {
  const box = e => { const r = e.getBoundingClientRect(); return {w: r.width, h: r.height}; };
  const bars = {};
  document.querySelectorAll('g.host-row').forEach(g => {
    bars[g.dataset.host] = [...g.querySelectorAll('rect[fill^="#"]')].slice(1)
      .reduce((s, r) => s + r.getBBox().width, 0);
  });
  const out = {
    title: document.title,
    badges: [...document.querySelectorAll('.badge')].map(b => b.textContent),
    cards: [...document.querySelectorAll('section.host h3')].map(h => h.firstChild.textContent.trim()),
    svgs: [...document.querySelectorAll('svg')].map(box),
    bars,
    rows: [...document.querySelectorAll('g.host-row')].map(g => g.dataset.host),
    overflow: document.documentElement.scrollWidth - window.innerWidth,
    resources: performance.getEntriesByType('resource').length,
    commands: [...document.querySelectorAll('pre')].map(p => p.textContent),
    failed: [...document.querySelectorAll('tr.failed td')].map(td => td.textContent),
    text: document.body.innerText,
  };
  const pre = document.createElement('pre');
  pre.id = 'measure';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


def test_the_page_is_one_file_with_no_external_reference(report):
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>") and page.count("<style>") == 1
    assert not re.search(r"(src|href)\s*=|url\(|@import|<script|<link", page, re.IGNORECASE)


def test_text_from_hosts_is_escaped():
    evil = '"<script>alert(1)</script>.exe","6148","Services","0","8 K"\r\n'
    host = _host("app-01", _rows("CLOSE_WAIT", 400, 6148, 49152), evil)
    page = render_html(DiagnoseReport(hosts=[host], days=7, generated_at=NOW))
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.exe" in page


@needs_chromium
def test_chromium_shows_the_ranking_the_charts_and_what_to_do(report, tmp_path: Path):
    page = tmp_path / "report.html"
    write_html(report, page)
    probe = tmp_path / "measured.html"
    # The measuring script is added to a copy: the report itself carries no script.
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    done = chromium("--dump-dom", probe.as_uri(), tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="measure">(.*?)</pre>', done.stdout, re.S)
    assert found, done.stdout[-2000:]
    m = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))

    assert m["title"] == "portfleet diagnose · 1 exhausted, 1 at risk"
    assert m["resources"] == 0  # nothing loaded besides the page
    assert m["overflow"] <= 0  # fits a 1200 px window, no sideways scrolling
    # Worst first: the bars and the cards follow the ranking; the unreachable host is listed apart.
    assert m["rows"] == ["app-01", "web-03", "web-01"]
    assert m["cards"] == ["app-01", "web-03", "web-01"]
    assert [b.upper() for b in m["badges"]] == ["EXHAUSTED", "AT RISK", "HEALTHY"]
    assert m["failed"][:2] == ["db-09", "unreachable"]
    # The bars are drawn to scale: app-01 (99% full) is longer than web-03 (64%), far longer than web-01.
    assert m["bars"]["app-01"] > m["bars"]["web-03"] > 10 * m["bars"]["web-01"] > 0
    assert all(s["w"] > 50 and s["h"] > 20 for s in m["svgs"])  # every chart has room on screen
    text = m["text"]
    for expected in ("LeakyApp.exe (6148)", "99%", "64%", "Fix the application", "Shorter TIME_WAIT",
                     "Widen the range", "range full (16,384)", "event 4231"):
        assert expected.lower() in text.lower(), expected
    assert any(c.startswith("netsh int ipv4 set dynamicport tcp start=") for c in m["commands"])
    assert any("TcpTimedWaitDelay /t REG_DWORD /d 30" in c for c in m["commands"])


@needs_chromium
def test_chromium_screenshot_is_a_full_page(report, tmp_path: Path):
    page = tmp_path / "report.html"
    write_html(report, page)
    shot = tmp_path / "report.png"
    done = chromium(f"--screenshot={shot}", page.as_uri(), tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1200, 1600)
    assert len(data) > 60_000  # charts and text, not an empty page
