"""reboot.session in process, against real labs (real WinRM over loopback, real SQLite): a fresh run,
a stopped run, a resume of a run cut off mid-flight that sends no second shutdown (checked from the
lab's side: boot counts and boot times), and bad input refused with the messages users see."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import yaml

from portfleet.apply import run_converge
from portfleet.exit_codes import EXIT_OK, EXIT_TERMINATED
from portfleet.inventory import load_inventory
from portfleet.reboot import session
from portfleet.reboot.executor import RunOptions
from portfleet.reboot.prepare import load_windows
from portfleet.reboot.scope import load_scope
from portfleet.reboot.session import RequestError, RunRequest, Wiring
from portfleet.render import Renderer
from portfleet.state import RebootStore
from portfleet.transport.factory import ConnectOptions, session_factory

TIME_SCALE = 45.0  # a lab reboot (45 lab seconds down) takes one real second
GONE_PID = 2**22 + 7  # above Linux's pid_max: the controller of a run cut off by a crash
COMMAND = 'shutdown /r /t 1 /c "portfleet: reboot to apply TcpTimedWaitDelay"'


def write_playbook(path: Path) -> Path:
    path.write_text(yaml.safe_dump([{
        "name": "Shorter TIME_WAIT",
        "hosts": "windows",
        "settings": {"TcpTimedWaitDelay": 30},
        "reboot": {"windows": ["daily 00:00-24:00"], "timezone": "UTC", "max_parallel": 2},
    }], sort_keys=False))
    return path


def fast_request(inventory: Path, playbook: Path, **extra) -> RunRequest:
    return RunRequest(inventory=inventory, playbook=playbook, delay=1, timeout_down=10, timeout_up=20, poll_max=0.5,
                      ignore_windows=True, **extra)


def wiring(store: RebootStore) -> Wiring:
    return Wiring(store=store, renderer=Renderer(), open_session=session_factory(),
                  open_poll_session=session_factory(ConnectOptions(connect_timeout=5.0, connect_retries=0)))


def pending_fleet(lab, tmp_path: Path, hosts: int, seed: int) -> tuple:
    """A lab whose hosts had TcpTimedWaitDelay written, in process as `portfleet apply` writes it:
    pending a reboot. -> (lab, its host names, the playbook, the open state store)."""
    running = lab(hosts=hosts, profile="defaults", seed=seed, time_scale=TIME_SCALE)
    book = write_playbook(tmp_path / "pb.yml")
    store = RebootStore(tmp_path / "state.db")
    plans = load_scope(running.inventory, book, None).plans
    report = run_converge("apply", plans, open_session=session_factory(), renderer=Renderer(), store=store,
                          check=False, forks=5)
    assert {h.status for h in report.hosts} == {"pending_reboot"}, report.to_json()
    return running, [h["name"] for h in running.hosts], book, store


def boots(control, names) -> dict[str, int]:
    return {n: control.host(n)["boot_count"] for n in names}


def wait_for_boot(control, name: str, count: int, timeout: float = 30.0) -> None:
    """Until the lab says the host is back from its `count`-th boot (its model, not our parsers)."""
    deadline = time.monotonic() + timeout
    while control.host(name)["boot_count"] < count or not control.wait_until(name, lambda h: True)["is_up"]:
        assert time.monotonic() < deadline, f"{name} did not come back"
        time.sleep(0.05)


def test_fresh_run_reboots_every_pending_host_once_and_verifies_it(lab, tmp_path):
    running, names, book, store = pending_fleet(lab, tmp_path, 3, seed=21)
    control = running.control()
    with store:
        before = boots(control, names)
        wired = wiring(store)

        fresh = session.start_run(fast_request(running.inventory, book), wired)
        assert sorted(fresh.targets) == sorted(names) and fresh.unreadable == []
        assert [len(b.hosts) for b in fresh.planned.plan.batches] == [2, 1]  # the play's max_parallel
        assert fresh.planned.exit_code() == 3  # reboots planned
        assert store.last_unfinished_reboot_run() is None  # nothing recorded before record()
        assert boots(control, names) == before

        run_id = session.record(fresh, wired)
        assert {r.state for r in store.reboot_hosts(run_id)} == {"planned"}
        result = session.drive(fresh, wired, stop=threading.Event())

        assert result.exit_code() == EXIT_OK and not result.resumed
        assert result.outcome.status == "completed" and result.outcome.batches_run == 2
        assert {h.name: h.state for h in result.outcome.hosts} == {n: "verified" for n in names}
        assert store.get_run(run_id).status == "completed"
        assert {r.state for r in store.reboot_hosts(run_id)} == {"verified"}
    # The lab's own view: one boot more each, and the written value now in effect.
    assert boots(control, names) == {n: before[n] + 1 for n in names}
    for n in names:
        assert control.host(n)["settings"]["TcpTimedWaitDelay"]["effective"] == 30


def test_a_stopped_run_names_its_signal_sends_nothing_and_stays_resumable(lab, tmp_path):
    running, names, book, store = pending_fleet(lab, tmp_path, 2, seed=22)
    control = running.control()
    with store:
        before = boots(control, names)
        wired = wiring(store)
        fresh = session.start_run(fast_request(running.inventory, book), wired)
        run_id = session.record(fresh, wired)
        stop = threading.Event()
        stop.set()  # as the CLI's SIGTERM handler does
        result = session.drive(fresh, wired, stop=stop, signal_of=lambda: signal.SIGTERM)

        assert result.exit_code() == EXIT_TERMINATED
        assert result.outcome.status == "interrupted" and result.outcome.stopped_reason == "interrupted (SIGTERM)"
        assert store.get_run(run_id).status == "interrupted"
        choice = session.choose_run(store, None, False)
        assert choice is not None and choice.run.id == run_id and not choice.complete
        resumed = session.resume_run(choice.run, RunRequest(), wired)  # inventory and playbook as recorded
        assert resumed.inventory == str(running.inventory) and resumed.playbook == str(book)
        assert len(resumed.left) == 2 and resumed.in_flight == [] and resumed.check_exit_code() == 3
        assert resumed.options == fresh.options  # the stored options, no flag overriding them
    assert boots(control, names) == before  # no shutdown was sent


def test_resume_after_a_cut_off_sends_no_second_shutdown(lab, tmp_path):
    running, names, book, store = pending_fleet(lab, tmp_path, 3, seed=23)
    control = running.control()
    sent, intent, _ = names
    inventory = load_inventory(running.inventory)
    with store:
        before = boots(control, names)
        boot_before = {n: datetime.fromtimestamp(control.host(n)["boot_time"], tz=timezone.utc) for n in names}

        # The state a controller leaves when it dies mid-batch: `sent` was sent its shutdown and is
        # rebooting; `intent` had its intent committed, the shutdown went out, and it is back already.
        run_id = store.start_run("reboot", inventory=str(running.inventory), playbook=str(book))
        options = RunOptions(delay=1, timeout_down=10, timeout_up=20, ignore_windows=True, poll_max=0.5)
        store.reboot_run_create(run_id, options.to_json(), GONE_PID, socket.gethostname())
        store.reboot_hosts_add(run_id, [(n, ["TcpTimedWaitDelay written"], False) for n in names])
        for name in (intent, sent):
            with session_factory()(inventory.host(name)) as remote:
                assert remote.run(COMMAND).exit_code == 0
            store.reboot_host_update(run_id, name, state="shutdown_intent", batch=1,
                                     boot_before=boot_before[name], command=COMMAND)
        store.reboot_host_update(run_id, sent, state="shutdown_sent", sent_at=datetime.now(timezone.utc))
        wait_for_boot(control, intent, before[intent] + 1)
        wired = wiring(store)

        choice = session.choose_run(store, None, False)  # no --resume: the last unfinished run
        assert choice is not None and choice.run.id == run_id
        resumed = session.resume_run(choice.run, fast_request(running.inventory, book), wired)
        assert sorted(resumed.in_flight) == sorted([sent, intent]) and len(resumed.left) == 3
        assert session.record(resumed, wired) == run_id
        result = session.drive(resumed, wired, stop=threading.Event())

        assert result.exit_code() == EXIT_OK and result.resumed
        hosts = {h.name: h for h in result.outcome.hosts}
        assert {n: h.state for n, h in hosts.items()} == {n: "verified" for n in names}
        assert any("went out before the cut-off" in note for note in hosts[intent].notes), hosts[intent]
        assert any("no second shutdown" in note for note in hosts[sent].notes), hosts[sent]
        assert store.get_run(run_id).status == "completed"
    # One reboot each: the cut-off hosts only the one sent before the cut-off.
    assert boots(control, names) == {n: before[n] + 1 for n in names}
    for n in names:
        booted = datetime.fromtimestamp(control.host(n)["boot_time"], tz=timezone.utc)
        assert hosts[n].boot_after is not None and abs((hosts[n].boot_after - booted).total_seconds()) < 2
        assert booted > boot_before[n]


# -- bad input: refused before any host is contacted or anything is written --------------------------

INVENTORY = """\
all:
  children:
    windows:
      vars: {ansible_connection: winrm, ansible_user: admin, ansible_password: secret, ansible_port: 5985}
      hosts:
        web-01: {ansible_host: 127.0.0.1}
"""


def test_bad_input_is_a_request_error_with_the_users_message(tmp_path):
    inventory = tmp_path / "inv.yml"
    inventory.write_text(INVENTORY)
    book = tmp_path / "pb.yml"
    book.write_text(
        "- hosts: windows\n"
        "  settings:\n"
        "    TcpTimedWaitDelay: 30\n"
        "  reboot:\n"
        "    windows: [Sun 02:00-04:00]\n"
        "    freeze:\n"
        "      - 2027-12-24\n"
        "      - 2027-13-01\n"
    )
    with RebootStore(tmp_path / "state.db") as store:
        wired = wiring(store)
        cases = [
            (RunRequest(playbook=book), "missing option -i/--inventory: the inventory"),
            (RunRequest(inventory=inventory), "missing option -p/--playbook"),
            (RunRequest(inventory=tmp_path / "none.yml", playbook=book),
             f"{tmp_path / 'none.yml'}: no such inventory file or directory"),
            (RunRequest(inventory=inventory, playbook=book, limit="db*"), "inv.yml: no host or group matches 'db*'"),
            # The bad freeze entry's own line; YAML reads the unquoted date as a timestamp it cannot build.
            (RunRequest(inventory=inventory, playbook=book), f"{book}:8: bad freeze date '2027-13-01': no such day"),
        ]
        for request, message in cases:
            with pytest.raises(RequestError) as info:
                session.start_run(request, wired)
            assert message in str(info.value), (request, str(info.value))
            assert "secret" not in str(info.value)
        with pytest.raises(RequestError, match="no run .20270101T000000-nothere. in"):
            session.choose_run(store, "20270101T000000-nothere", False)
        audit_run = store.start_run("audit")
        with pytest.raises(RequestError, match=f"run {audit_run} is a audit run, not a reboot run"):
            session.choose_run(store, audit_run, False)

        # A run whose controller is alive on this machine is not taken over.
        driver = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            run_id = store.start_run("reboot", inventory=str(inventory), playbook=str(book))
            store.reboot_run_create(run_id, RunOptions().to_json(), driver.pid, socket.gethostname())
            with pytest.raises(RequestError, match=f"still being driven by process {driver.pid}"):
                session.resume_run(store.get_run(run_id), RunRequest(), wired)
        finally:
            driver.kill()
            driver.wait()
        assert [r.kind for r in store.list_runs()] == ["reboot", "audit"]  # nothing else was written


def test_unquoted_freeze_dates_in_a_playbook_are_dates(tmp_path):
    inventory = tmp_path / "inv.yml"
    inventory.write_text(INVENTORY)
    book = tmp_path / "pb.yml"
    book.write_text("- hosts: windows\n  settings: {TcpTimedWaitDelay: 30}\n  reboot:\n"
                    "    windows: [Sun 02:00-04:00]\n    freeze: [2027-12-24, 2027-12-30..2028-01-02]\n")
    scope = load_scope(inventory, book, None)
    windows, _ = load_windows(scope.inventory, scope.playbook, scope.plans)
    schedule = windows["web-01"].schedule
    assert schedule is not None and windows["web-01"].source == f"{book}:3 (play 'play #1')"
    assert schedule.freeze == ((date(2027, 12, 24), date(2027, 12, 24)), (date(2027, 12, 30), date(2028, 1, 2)))
