"""Apply and rollback over the host double (tests/host_double.py): writes, journal, verify, restore.

What was written is checked on the lab's side (its registry and ranges); the journal in a real SQLite store.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from host_double import SHIPPED_TUNED_RANGE as TUNED, FleetDouble, lab_drift, lab_snapshot, registry_dword, tcp_range
from portfleet.apply import run_converge
from portfleet.read_host import read_command
from portfleet.render import Renderer
from portfleet.resources import playbooks_dir
from portfleet.rollback import RollbackError, rollback_plans, rollback_targets
from portfleet.state import Store

PLAYBOOK = playbooks_dir() / "port-exhaustion.yml"
REBOOT_KEYS = {"MaxUserPort", "TcpTimedWaitDelay"}


@pytest.fixture
def double(tmp_path: Path) -> FleetDouble:
    return FleetDouble(tmp_path / "fleet", hosts=10, seed=7)


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "state.db") as s:
        yield s


def apply(double: FleetDouble, store: Store, *, check: bool = False, limit: str | None = None, **rollout):
    return run_converge("apply", double.desired(PLAYBOOK, limit), open_session=double.open_session,
                        renderer=Renderer(), store=store, check=check, forks=4, **rollout)


def rollback(double: FleetDouble, store: Store, run_id: str, *, check: bool = False):
    full_id, targets = rollback_targets(store, run_id)
    plans, missing = rollback_plans(targets, double.inventory())
    assert missing == []
    return run_converge("rollback", plans, open_session=double.open_session, renderer=Renderer(), store=store,
                        check=check, forks=4, parent_run=full_id)


def by_name(report) -> dict:
    return {h.name: h for h in report.hosts}


def test_apply_writes_only_what_drifts_then_reads_back_in_the_same_session(double, store):
    drift = {n: lab_drift(double, n) for n in double.names}
    before = {n: lab_snapshot(double, n) for n in double.names}
    assert any(drift.values()) and not all(drift.values())
    report = apply(double, store)
    hosts = by_name(report)
    renderer = Renderer()
    for host in double.inventory().hosts:
        name, got = host.name, hosts[host.name]
        assert {c.key for c in got.changes} == drift[name], name
        assert all(c.state == "verified" for c in got.changes)
        read = read_command(renderer, host)
        # One session: the read, exactly the writes, the read-back; a compliant host gets the read only.
        expected = [read, *(c.command for c in got.changes), read] if got.changes else [read]
        assert double.commands(name) == expected and double.sessions(name) == 1
        if not drift[name]:
            assert lab_snapshot(double, name) == before[name] and got.status == "compliant"
        else:
            assert got.status == ("pending_reboot" if drift[name] & REBOOT_KEYS else "compliant"), name
        assert lab_drift(double, name) == set()  # the lab now holds what the playbook wants
    journal = store.journal(report.run_id)
    assert sorted((j.host, j.setting) for j in journal) == sorted((n, k) for n, keys in drift.items() for k in keys)
    assert {(j.state, j.exit_code) for j in journal} == {("verified", 0)}
    web02 = {j.setting: j for j in store.journal(report.run_id, "web-02")}
    assert web02["TcpTimedWaitDelay"].prior is None and web02["TcpTimedWaitDelay"].desired == 30
    assert web02["dynamicport.ipv4.tcp"].prior == {"start": 49152, "num": 16384, "end": 65535}
    assert {(p.host, p.setting) for p in store.pending_reboots()} == {
        (n, k) for n, keys in drift.items() for k in keys & REBOOT_KEYS}
    assert report.exit_code() == 3


def test_a_connection_reset_mid_write_leaves_the_intent_row_and_rollback_restores_it(double, store):
    name = "app-03"  # Windows defaults: three writes (TcpTimedWaitDelay, then the IPv4 and IPv6 ranges)
    before = lab_snapshot(double, name)
    seen: list[tuple[str, dict[str, str]]] = []

    def journal_now(line: str) -> None:
        if line.startswith(("reg add", "netsh int ipv4 set", "netsh int ipv6 set")):
            run = store.list_runs(1)[0]
            seen.append((line, {j.setting: j.state for j in store.journal(run.id, name)}))

    double.observe(name, journal_now)
    double.reset_on(name, lambda line: line.startswith("netsh int ipv4 set dynamicport tcp"))
    report = apply(double, store)
    # Each write reached the host only after its intent row was committed, the earlier ones completed.
    assert [states for _, states in seen] == [
        {"TcpTimedWaitDelay": "intent"},
        {"TcpTimedWaitDelay": "done", "dynamicport.ipv4.tcp": "intent"},
    ]
    host = by_name(report)[name]
    assert host.status == "error"
    assert "connection dropped in the middle of a command" in host.detail and "run `portfleet audit`" in host.detail
    changes = {c.key: c for c in host.changes}
    assert changes["TcpTimedWaitDelay"].state == "done"
    # The report says what is known: the write was sent, its outcome is not (the journal: intent).
    assert changes["dynamicport.ipv4.tcp"].state == "unknown"
    assert changes["dynamicport.ipv4.tcp"].detail == "the connection dropped while writing: audit it"
    assert changes["dynamicport.ipv6.tcp"].state == "skipped"
    shown = {c["key"]: c for c in host.to_json()["changes"]}
    assert shown["dynamicport.ipv4.tcp"]["state"] == "unknown" and shown["dynamicport.ipv6.tcp"]["state"] == "skipped"
    journal = {j.setting: (j.state, j.exit_code) for j in store.journal(report.run_id, name)}
    assert journal == {"TcpTimedWaitDelay": ("done", 0), "dynamicport.ipv4.tcp": ("intent", None)}
    # The write whose answer was lost did happen; the one after it was never sent.
    assert tcp_range(double, name) == TUNED and tcp_range(double, name, "ipv6") == before["ranges"]["ipv6 tcp"]
    assert all(h.status != "error" for n, h in by_name(report).items() if n != name)

    rolled = rollback(double, store, report.run_id)
    restored = by_name(rolled)[name]
    assert {c.key for c in restored.changes} == {"TcpTimedWaitDelay", "dynamicport.ipv4.tcp"}
    assert lab_snapshot(double, name) == before


def test_rollback_puts_back_every_prior_value_it_can(double, store):
    before = {n: lab_snapshot(double, n) for n in double.names}
    applied = apply(double, store)
    written = {j.host for j in store.journal(applied.run_id)}
    sessions = {n: double.sessions(n) for n in double.names}

    check = rollback(double, store, applied.run_id, check=True)
    assert check.check_mode and store.journal(check.run_id) == []
    assert all(lab_drift(double, n) == set() for n in double.names)  # --check restored nothing

    rolled = rollback(double, store, applied.run_id)
    assert {h.name for h in rolled.hosts} == written
    for name in double.names:
        if name not in written:
            assert double.sessions(name) == sessions[name]  # nothing to restore: not contacted
        elif name == "sql-02":
            continue
        assert lab_snapshot(double, name) == before[name], name
    # sql-02's TCP ranges were MaxUserPort's doing at boot (start 1024): netsh will not take them back,
    # but restoring MaxUserPort brings them back at the next boot: pending_reboot, not an error.
    sql = by_name(rolled)["sql-02"]
    assert sql.status == "pending_reboot", sql.detail
    rows = {r.key: r for r in sql.settings}
    for key in ("dynamicport.ipv4.tcp", "dynamicport.ipv6.tcp"):
        assert rows[key].status == "pending_reboot" and "MaxUserPort 65534 puts this one back" in rows[key].detail
        assert key not in {c.key for c in sql.changes}  # never sent to netsh
    assert rows["MaxUserPort"].status == "pending_reboot"
    assert rolled.exit_code() == 3
    assert registry_dword(double, "sql-02", "MaxUserPort") == before["sql-02"]["MaxUserPort"] == 65534
    assert store.get_run(rolled.run_id).parent_run == applied.run_id
    with double.open_session(next(h for h in double.inventory().hosts if h.name == "sql-02")) as session:
        assert session.run("shutdown /r /t 0").exit_code == 0
    assert double.advance(10) == [("down", "sql-02")] and double.advance(60) == [("up", "sql-02")]
    assert lab_snapshot(double, "sql-02")["ranges"] == before["sql-02"]["ranges"]  # the boot made them again


def test_check_mode_reads_and_plans_but_writes_nothing(double, store):
    before = {n: lab_snapshot(double, n) for n in double.names}
    report = apply(double, store, check=True)
    assert report.check_mode and report.exit_code() == 3
    renderer = Renderer()
    for host in double.inventory().hosts:
        assert double.commands(host.name) == [read_command(renderer, host)]
        assert lab_snapshot(double, host.name) == before[host.name]
    planned = {c.key: c for c in by_name(report)["web-02"].changes}
    assert planned["dynamicport.ipv4.tcp"].command == "netsh int ipv4 set dynamicport tcp start=10000 num=55536"
    assert {c.state for h in report.hosts for c in h.changes} == {"planned"}
    assert store.journal(report.run_id) == [] and store.pending_reboots() == []
    with pytest.raises(RollbackError, match="--check run"):
        rollback_targets(store, report.run_id)


def test_a_batch_over_the_failure_threshold_stops_the_rollout_before_the_next(tmp_path):
    double = FleetDouble(tmp_path / "fleet", hosts=6, profile="defaults", seed=4)
    names = double.names
    before = {n: lab_snapshot(double, n) for n in names}
    double.set_faults(names[0], unreachable=True)
    with Store(tmp_path / "state.db") as store:
        report = apply(double, store, batch="2", max_fail_percentage=25.0)
        assert report.stopped_reason == (
            "batch 1/3: 1 of 2 hosts failed (50% > max_fail_percentage 25%); rollout stopped")
        assert [h.name for h in report.hosts] == names[:2] and report.skipped == names[2:]
        assert [h.status for h in report.hosts] == ["unreachable", "pending_reboot"]
        assert store.get_run(report.run_id).status == "stopped"
        assert report.exit_code() == 4
    for name in names[2:]:
        assert double.sessions(name) == 0 and lab_snapshot(double, name) == before[name]


def test_a_reboot_needing_write_is_pending_before_it_is_sent_and_unmarked_when_refused(double, store, tmp_path):
    name = "web-02"  # Windows defaults: TcpTimedWaitDelay absent
    at_write: list[list[str]] = []
    double.observe(name, lambda line: at_write.append([p.setting for p in store.pending_reboots(name)])
                   if line.startswith("reg add") else None)
    first = apply(double, store, limit=name)
    # When the write reached the host its pending row was already committed: a write whose answer never
    # comes (a dropped connection, a SIGKILL) still waits for a boot in the record.
    assert at_write == [["TcpTimedWaitDelay"]]
    [pending] = store.pending_reboots(name)
    assert pending.run_id == first.run_id

    # A write Windows refuses (exit 1) changed nothing: the pending row is the one from before it.
    templates = tmp_path / "templates"
    (templates / "windows" / "write").mkdir(parents=True)
    (templates / "windows" / "write" / "TcpTimedWaitDelay.cmd.j2").write_text(
        'reg add "HKLM\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters" /v TcpTimedWaitDelay '
        "/t REG_DWORD /d x{{ value }} /f\n")
    playbook = tmp_path / "sixty.yml"
    playbook.write_text("- hosts: windows\n  settings:\n    TcpTimedWaitDelay: 60\n")
    refused = run_converge("apply", double.desired(playbook, "web-02,app-03"), open_session=double.open_session,
                           renderer=Renderer(templates), store=store, check=False, forks=2)
    for host in refused.hosts:
        assert host.status == "error" and [c.state for c in host.changes] == ["failed"], host.detail
    assert {j.state for j in store.journal(refused.run_id)} == {"failed"}
    assert store.pending_reboots(name) == [pending]
    assert store.pending_reboots("app-03") == []  # nothing was pending there before the refused write
    assert registry_dword(double, name, "TcpTimedWaitDelay") == 30 and registry_dword(double, "app-03", "TcpTimedWaitDelay") is None
