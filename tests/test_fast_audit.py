"""Audit over the host double (tests/host_double.py): the library in process, a real SQLite store.

Expected statuses come from the lab's side (its registry and ranges), never from portfleet's parsers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from host_double import FleetDouble, lab_drift, registry_dword, tcp_range
from portfleet.apply import run_converge
from portfleet.audit import run_audit
from portfleet.read_host import read_command
from portfleet.render import Renderer
from portfleet.resources import playbooks_dir
from portfleet.state import Store

PLAYBOOK = playbooks_dir() / "port-exhaustion.yml"


@pytest.fixture
def double(tmp_path: Path) -> FleetDouble:
    return FleetDouble(tmp_path / "fleet", hosts=10, seed=7)


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "state.db") as s:
        yield s


def audit(double: FleetDouble, store: Store, playbook: Path = PLAYBOOK, limit: str | None = None):
    return run_audit(double.desired(playbook, limit), open_session=double.open_session, renderer=Renderer(),
                     store=store, forks=4, inventory=str(double.inventory_path), playbook=str(playbook))


def by_name(doc: dict) -> dict[str, dict]:
    return {h["name"]: h for h in doc["hosts"]}


def test_drift_and_compliant_hosts_as_the_lab_holds_them_one_session_one_read(double, store):
    report = audit(double, store)
    doc = report.to_json()
    hosts = by_name(doc)
    expected = {n: "drift" if lab_drift(double, n) else "compliant" for n in double.names}
    assert {n: h["status"] for n, h in hosts.items()} == expected
    assert set(expected.values()) == {"drift", "compliant"}  # the mixed profile has both
    assert doc["summary"]["drift"] == sum(1 for s in expected.values() if s == "drift")
    assert report.exit_code() == 3
    # Values are the lab's, read through its reg/netsh texts.
    for name, host in hosts.items():
        actual = {s["key"]: s["actual"] for s in host["settings"]}
        assert actual["TcpTimedWaitDelay"] == registry_dword(double, name, "TcpTimedWaitDelay")
        if not double.lab_host(name).state.is_legacy:
            start, num = tcp_range(double, name)
            got = actual["dynamicport.ipv4.tcp"]
            assert (got["start"], got["num"]) == (start, num)
    # One session and ONE batched read per host, the same command line for every host.
    renderer = Renderer()
    for host in double.inventory().hosts:
        assert double.sessions(host.name) == 1 and double.log(host.name).connections == 1
        assert double.commands(host.name) == [read_command(renderer, host)]
    # The store holds the run and each host's row as the report says.
    run = store.get_run(report.run_id)
    assert (run.kind, run.status) == ("audit", "completed")
    assert {r.host: r.status for r in store.host_results(report.run_id)} == expected


def test_windows_2003_has_no_dynamic_range_setting_unsupported_not_drift(double, store, tmp_path):
    playbook = tmp_path / "ranges-everywhere.yml"
    playbook.write_text(
        "- name: ranges and TIME_WAIT on every host\n  hosts: windows\n  settings:\n"
        "    TcpTimedWaitDelay: 30\n    dynamicport: {ipv4: {tcp: {start: 10000, num: 55536}}}\n"
    )
    legacy = by_name(audit(double, store, playbook, limit="legacy").to_json())["legacy-01"]
    assert legacy["facts"]["os_version"] == "5.2.3790"
    settings = {s["key"]: s for s in legacy["settings"]}
    assert settings["dynamicport.ipv4.tcp"]["status"] == "unsupported"
    assert "has no netsh dynamic port range; MaxUserPort applies" in settings["dynamicport.ipv4.tcp"]["detail"]
    assert settings["TcpTimedWaitDelay"]["status"] == "drift"  # absent on the lab host: 120 s
    assert legacy["status"] == "drift"
    assert double.commands("legacy-01")[0].startswith("echo PORTFLEET:BEGIN:facts.ver & ver")


def test_written_values_stay_pending_until_the_host_boots_again(double, store):
    name = "web-02"  # Windows defaults: TcpTimedWaitDelay absent, default ranges
    applied = run_converge("apply", double.desired(PLAYBOOK, name), open_session=double.open_session,
                           renderer=Renderer(), store=store, check=False, forks=1)
    assert [h.status for h in applied.hosts] == ["pending_reboot"]

    host = by_name(audit(double, store, limit=name).to_json())[name]
    assert host["status"] == "pending_reboot"
    tw = next(s for s in host["settings"] if s["key"] == "TcpTimedWaitDelay")
    assert tw["status"] == "pending_reboot" and tw["actual"] == 30
    assert "host last booted" in tw["detail"]
    assert {s["key"]: s["status"] for s in host["settings"]}["dynamicport.ipv4.tcp"] == "ok"  # netsh: at once
    assert [p.setting for p in store.pending_reboots(name)] == ["TcpTimedWaitDelay"]

    assert double.lab_host(name).execute('shutdown /r /t 0 /c "maintenance"').exit_code == 0
    assert double.advance(1) == [("down", name)]
    assert double.advance(120) == [("up", name)]
    after = by_name(audit(double, store, limit=name).to_json())[name]
    assert after["status"] == "compliant"
    assert store.pending_reboots(name) == []  # the audit cleared what the boot made effective


def test_a_host_answering_garbage_is_an_error_alone(double, store):
    double.garbage_on("web-03")
    clean = {n: ("drift" if lab_drift(double, n) else "compliant") for n in double.names}
    report = audit(double, store)
    hosts = by_name(report.to_json())
    bad = hosts["web-03"]
    assert bad["status"] == "error"
    assert {s["status"] for s in bad["settings"]} == {"unreadable"}
    assert "unreadable" in bad["detail"]
    others = {n: h["status"] for n, h in hosts.items() if n != "web-03"}
    assert others == {n: s for n, s in clean.items() if n != "web-03"}
    assert report.exit_code() == 4
    assert store.get_run(report.run_id).status == "completed"


def test_unreachable_and_refused_credentials_never_run_a_command(double, store):
    double.set_faults("app-02", unreachable=True)
    double.set_faults("sql-01", wrong_password=True)
    report = audit(double, store)
    hosts = by_name(report.to_json())
    assert hosts["app-02"]["status"] == "unreachable"
    assert "connection refused" in hosts["app-02"]["detail"]
    assert hosts["sql-01"]["status"] == "auth_failed"
    assert "credentials were rejected" in hosts["sql-01"]["detail"]
    for name in ("app-02", "sql-01"):
        assert double.sessions(name) == 1 and double.commands(name) == []
        assert hosts[name]["settings"] == []
    assert double.password not in str(report.to_json())
    assert all(h["status"] in ("drift", "compliant") for n, h in hosts.items() if n not in ("app-02", "sql-01"))


def test_a_modern_host_with_maxuserport_is_told_why_its_range_comes_back(double, store, tmp_path):
    playbook = tmp_path / "ranges-only.yml"
    playbook.write_text(
        "- name: ranges only\n  hosts: windows:!legacy\n  settings:\n"
        "    dynamicport: {ipv4: {tcp: {start: 10000, num: 55536}}}\n"
    )
    hosts = by_name(audit(double, store, playbook).to_json())
    check = {h.name: h for h in run_converge("apply", double.desired(playbook), open_session=double.open_session,
                                             renderer=Renderer(), store=store, check=True, forks=4).hosts}
    noted = []
    for name, host in hosts.items():
        value = registry_dword(double, name, "MaxUserPort")
        if value is None:
            assert "MaxUserPort" not in host["detail"] and "MaxUserPort" not in check[name].detail
            continue
        noted.append(name)
        note = f"MaxUserPort={value} is set: at every boot Windows resets the TCP range to 1024-{value}"
        assert note in host["detail"] and note in check[name].detail
    assert noted == ["sql-02"]  # the mixed profile's modern host with an old installer's MaxUserPort


def test_effective_of_a_pending_value_is_what_windows_uses_until_the_next_boot(double, store, tmp_path):
    import csv
    import io

    from portfleet.report.csv_out import write_csv

    def settings_of(report, name: str) -> dict[str, dict]:
        return {s["key"]: s for s in by_name(report.to_json())[name]["settings"]}

    # web-02: TcpTimedWaitDelay absent (Windows uses 120); sql-02: a modern host with MaxUserPort 65534,
    # which the playbook deletes (Windows still uses 65534 until it boots).
    applied = run_converge("apply", double.desired(PLAYBOOK, "web-02,sql-02"), open_session=double.open_session,
                           renderer=Renderer(), store=store, check=False, forks=2)
    tw = settings_of(applied, "web-02")["TcpTimedWaitDelay"]
    assert (tw["status"], tw["actual"], tw["effective"]) == ("pending_reboot", 30, 120)
    mup = settings_of(applied, "sql-02")["MaxUserPort"]
    assert (mup["status"], mup["actual"], mup["effective"]) == ("pending_reboot", None, 65534)

    # A second write before the boot: what is in force is still what the boot found (the earliest prior).
    sixty = tmp_path / "sixty.yml"
    sixty.write_text("- hosts: windows\n  settings:\n    TcpTimedWaitDelay: 60\n")
    again = run_converge("apply", double.desired(sixty, "web-02"), open_session=double.open_session,
                         renderer=Renderer(), store=store, check=False, forks=1)
    assert [c.before for c in again.hosts[0].changes] == [30]
    audited = audit(double, store, sixty, limit="web-02")
    tw = settings_of(audited, "web-02")["TcpTimedWaitDelay"]
    assert (tw["status"], tw["actual"], tw["effective"]) == ("pending_reboot", 60, 120)
    out = io.StringIO()
    write_csv(audited, out)
    row = next(r for r in csv.DictReader(io.StringIO(out.getvalue())) if r["setting"] == "TcpTimedWaitDelay")
    assert (row["actual"], row["effective"], row["setting_status"]) == ("60", "120", "pending_reboot")

    assert double.lab_host("web-02").execute("shutdown /r /t 0").exit_code == 0
    assert double.advance(1) == [("down", "web-02")] and double.advance(120) == [("up", "web-02")]
    tw = settings_of(audit(double, store, sixty, limit="web-02"), "web-02")["TcpTimedWaitDelay"]
    assert (tw["status"], tw["actual"], tw["effective"]) == ("ok", 60, 60)


def test_a_hosts_output_that_looks_like_rich_markup_is_shown_as_text(double, store, capsys):
    from portfleet.cli.render.run_view import print_run
    from portfleet.read_host import read_command

    name = double.names[0]
    host = next(h for h in double.inventory().hosts if h.name == name)
    real = double.lab_host(name).execute(read_command(Renderer(), host)).stdout
    cut = real.index("\n", real.index("PORTFLEET:BEGIN:MaxUserPort")) + 1
    double.garbage_on(name, text=real[:cut] + "[/red] [bold]not markup\r\n" + real[cut:])
    report = audit(double, store)
    detail = next(h for h in report.hosts if h.name == name).detail
    assert "[/red] [bold]not markup" in detail
    print_run(report)  # once: rich read "[/red]" as a closing tag and the command died with a traceback
    assert "[/red]" in capsys.readouterr().out  # shown as it is, not read as markup
