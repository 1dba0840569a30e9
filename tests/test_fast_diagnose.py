"""Diagnose over the host double (tests/host_double.py): verdicts, culprits and advice from the lab's TCP model."""

from __future__ import annotations

from pathlib import Path

import pytest

from host_double import FleetDouble, load_time_wait
from portfleet.diagnose import run_diagnose
from portfleet.render import Renderer

CHURN_PER_SECOND = 110.0  # x the default 120 s TIME_WAIT: about 13,200 of the 16,384 default ports


@pytest.fixture
def double(tmp_path: Path) -> FleetDouble:
    d = FleetDouble(tmp_path / "fleet", hosts=10, seed=7)
    load_time_wait(d, "web-02", process="ChurnClient.exe", pid=7312, connects_per_second=CHURN_PER_SECOND)
    return d


def diagnose(double: FleetDouble, limit: str | None = None):
    inventory = double.inventory()
    hosts = inventory.select(limit) if limit else list(inventory.hosts)
    report, _ = run_diagnose(hosts, open_session=double.open_session, renderer=Renderer(), days=7, forks=4)
    return report


def lab_time_wait(double: FleetDouble, name: str) -> int:
    return double.lab_host(name).to_json()["tcp_summary"]["by_state"]["TIME_WAIT"]


def test_time_wait_churn_is_at_risk_and_the_advice_names_the_churning_process(double):
    report = diagnose(double)
    doc = report.to_json()
    ranked = [h["name"] for h in doc["hosts"]]
    assert ranked[:2] == ["app-01", "web-02"]  # the lab's exhausted host, then the churning one
    web = next(h for h in doc["hosts"] if h["name"] == "web-02")
    assert web["verdict"] == "at_risk"
    assert web["states"]["TIME_WAIT"] == lab_time_wait(double, "web-02") > 13_000
    # Windows reports TIME_WAIT with PID 0: the top consumer is "owner gone", attributed to the process
    # holding live connections to the same remote.
    assert web["culprit"]["name"] == "(TIME_WAIT, owner gone)" and web["culprit"]["pid"] == 0
    assert web["time_wait_remotes"][0]["remote"] == "10.20.7.70:443"
    first = web["recommendations"][0]
    assert "ChurnClient.exe (pid 7312)" in first["text"] and "TcpTimedWaitDelay to 30" in first["text"]
    assert first["command"].endswith("/v TcpTimedWaitDelay /t REG_DWORD /d 30 /f")
    assert [h["verdict"] for h in doc["hosts"][2:]] == ["healthy"] * 8
    assert report.exit_code() == 3
    # One session per host: the batched settings read and the diagnose read.
    assert all(double.sessions(n) == 1 and len(double.commands(n)) == 2 for n in double.names)


def test_the_advice_followed_and_a_reboot_later_the_host_is_healthy(double):
    advice = next(h for h in diagnose(double, "web-02").hosts).recommendations[0].command
    host = double.inventory().select("web-02")[0]
    with double.open_session(host) as session:
        assert session.run(advice).stdout == "The operation completed successfully.\r\n"
        assert session.run('shutdown /r /t 0 /c "TcpTimedWaitDelay"').exit_code == 0
    assert double.advance(1) == [("down", "web-02")]
    assert double.advance(120) == [("up", "web-02")]
    double.advance(3600)  # an hour of churn after the boot: TIME_WAIT back to its steady level
    web = diagnose(double, "web-02").hosts[0]
    assert web.verdict == "healthy" and web.timed_wait_delay == 30
    assert web.states["TIME_WAIT"] == lab_time_wait(double, "web-02") < 4_000


def test_a_host_answering_garbage_costs_no_other_host_its_diagnosis(double):
    double.garbage_on("web-02")
    double.set_faults("sql-01", unreachable=True)
    hosts = {h.name: h for h in diagnose(double).hosts}
    assert hosts["web-02"].verdict == "unknown"
    assert "the dynamic port range could not be read" in hosts["web-02"].evidence
    assert hosts["sql-01"].status == "unreachable"
    assert hosts["app-01"].verdict == "exhausted" and hosts["app-01"].culprit.name == "LeakyApp.exe"
    assert all(h.verdict == "healthy" for n, h in hosts.items() if n not in ("web-02", "sql-01", "app-01"))
