"""Reboot logic over the host double (tests/host_double.py), in virtual time: which hosts need a reboot,
and one controller-driven reboot verified by the host's new boot time. The rolling runs, resume and
Ctrl-C stay with the end-to-end tests (test_reboot_run_*.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from host_double import FleetDouble, windows_reboot_pending
from portfleet.apply import run_converge
from portfleet.reboot.executor import RebootExecutor, RunOptions, Target
from portfleet.reboot.needs import assess
from portfleet.reboot.session import controller_identity
from portfleet.render import Renderer
from portfleet.resources import playbooks_dir
from portfleet.state import RebootStore

PLAYBOOK = playbooks_dir() / "port-exhaustion.yml"


@pytest.fixture
def double(tmp_path: Path) -> FleetDouble:
    return FleetDouble(tmp_path / "fleet", hosts=10, seed=7)


@pytest.fixture
def store(tmp_path: Path):
    with RebootStore(tmp_path / "state.db") as s:
        yield s


def apply(double: FleetDouble, store: RebootStore, limit: str):
    return run_converge("apply", double.desired(PLAYBOOK, limit), open_session=double.open_session,
                        renderer=Renderer(), store=store, check=False, forks=4)


def test_assess_finds_what_portfleet_wrote_and_what_windows_flags(double, store):
    applied = apply(double, store, "web-02,legacy-01")
    assert {h.name: h.status for h in applied.hosts} == {"web-02": "pending_reboot", "legacy-01": "pending_reboot"}
    windows_pending = [n for n in double.names if windows_reboot_pending(double, n)]
    assert len(windows_pending) == 1  # the mixed profile's host with Windows' own reboot pending
    double.set_faults("sql-01", unreachable=True)
    reads = {n: len(double.commands(n)) for n in double.names}

    needs = {n.name: n for n in assess(double.desired(PLAYBOOK), open_session=double.open_session,
                                       renderer=Renderer(), store=store, forks=4)}
    assert needs["web-02"].status == "pending"
    assert [r.split(" written ")[0] for r in needs["web-02"].reasons] == ["TcpTimedWaitDelay"]
    assert needs["web-02"].reasons[0].endswith(f"by run {applied.run_id}")
    assert sorted(r.split(" ")[0] for r in needs["legacy-01"].reasons) == ["MaxUserPort", "TcpTimedWaitDelay"]
    flagged = needs[windows_pending[0]]
    assert flagged.status == "pending" and any(r.startswith("Windows: ") for r in flagged.reasons)
    assert needs["sql-01"].status == "unreachable"
    expected_not_needed = set(double.names) - {"web-02", "legacy-01", "sql-01", windows_pending[0]}
    assert {n for n, need in needs.items() if need.status == "not_needed"} == expected_not_needed
    # Read-only: one read per reachable host, nothing written, the pending rows kept.
    assert all(len(double.commands(n)) == reads[n] + (n != "sql-01") for n in double.names)
    assert {p.host for p in store.pending_reboots()} == {"web-02", "legacy-01"}


def test_the_executor_reboots_one_host_and_verifies_it_by_its_new_boot_time(double, store):
    name = "web-02"
    apply(double, store, name)
    lab = double.lab_host(name)
    boots_before = {h.name: h.state.boot_count for h in double.fleet.hosts}
    assert lab.state.effective["TcpTimedWaitDelay"] is None  # written, not in force before a boot
    [need] = assess(double.desired(PLAYBOOK, name), open_session=double.open_session, renderer=Renderer(),
                    store=store)
    options = RunOptions(delay=60, ignore_windows=True)
    run_id = store.start_run("reboot", inventory=str(double.inventory_path), playbook=str(PLAYBOOK))
    store.reboot_run_create(run_id, options.to_json(), *controller_identity())
    store.reboot_hosts_add(run_id, [(name, need.reasons, False)])
    [plan] = double.desired(PLAYBOOK, name)
    sent_before = len(double.commands(name))
    virtual_start, real_start = double.clock.now(), time.monotonic()

    outcome = RebootExecutor(
        store=store, run_id=run_id, targets={name: Target(plan, None, ("web",))},
        open_session=double.open_session, renderer=Renderer(), options=options,
        stop=double.stop_event(), clock=double.clock.utcnow, forks=1,
    ).run()

    [host] = outcome.hosts
    assert (host.state, outcome.status) == ("verified", "completed")
    assert host.boot_after > host.boot_before and "compliant" in host.detail
    # 60 s grace + the lab's 45 s boot passed in virtual time, not in real time.
    assert double.clock.now() - virtual_start >= 105 and time.monotonic() - real_start < 5
    shutdowns = [c for c in double.commands(name)[sent_before:] if c.startswith("shutdown /r")]
    assert shutdowns == ['shutdown /r /t 60 /c "portfleet: reboot to apply TcpTimedWaitDelay"']
    # The lab's side: one boot more, the value in force; no other host rebooted.
    assert {h.name: h.state.boot_count for h in double.fleet.hosts} == {
        n: c + (n == name) for n, c in boots_before.items()}
    assert lab.state.effective["TcpTimedWaitDelay"] == 30
    assert store.pending_reboots(name) == []
    assert store.reboot_host(run_id, name).state == "verified"
    assert [(r.host, r.status) for r in store.host_results(run_id)] == [(name, "compliant")]
    assert store.leases(run_id) == []  # the host's lease was taken for the reboot and given back


def test_a_host_another_live_run_holds_is_not_rebooted(double, store):
    """Leases cover reboots too: a host leased by another live run gets no shutdown and is failed as
    locked, naming the holder; the run's own leases are given back when its hosts are final."""
    name = "web-02"
    options = RunOptions(delay=60, ignore_windows=True)
    holder = store.start_run("apply")
    assert store.acquire_lease(holder, name) is None
    run_id = store.start_run("reboot", inventory=str(double.inventory_path), playbook=str(PLAYBOOK))
    store.reboot_run_create(run_id, options.to_json(), *controller_identity())
    store.reboot_hosts_add(run_id, [(name, ["forced"], True)])
    [plan] = double.desired(PLAYBOOK, name)
    boots_before = double.lab_host(name).state.boot_count
    sent_before = len(double.commands(name))

    outcome = RebootExecutor(
        store=store, run_id=run_id, targets={name: Target(plan, None, ("web",))},
        open_session=double.open_session, renderer=Renderer(), options=options,
        stop=double.stop_event(), clock=double.clock.utcnow, forks=1,
    ).run()

    [host] = outcome.hosts
    assert host.state == "failed" and host.detail.startswith("locked: ") and holder in host.detail
    assert len(double.commands(name)) == sent_before  # never contacted
    assert double.lab_host(name).state.boot_count == boots_before
    store.release_lease(holder, name)
    assert store.acquire_lease(run_id, name) is None and store.leases(holder) == []
