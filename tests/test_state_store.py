"""The state store on both backends (a real SQLite file, a real PostgreSQL server): journal before
write, results after, nothing lost across reopen, leases that exclude, recover and fence."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, insert, update

from portfleet.state import LeaseLost, RebootStore, StateError, Store, iso, parse_location, utcnow
from portfleet.state.heartbeat import Heartbeat
from portfleet.state.schema import host_leases, metadata, runs

REG = 'reg add "HKLM\\X" /v TcpTimedWaitDelay /t REG_DWORD /d 30 /f'


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    return request.getfixturevalue("pg_database").url


def _raw(location: str):
    """A plain SQLAlchemy engine on the same database, to play another machine's controller."""
    loc = parse_location(location)
    return create_engine(loc.url if loc.is_postgresql else f"sqlite:///{loc.path}")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_run_lifecycle_and_journal_survive_reopen(location):
    with Store(location) as store:
        run = store.start_run("apply", inventory="inv.yml", playbook="pb.yml")
        entry = store.journal_intent(run, "web-01", "TcpTimedWaitDelay", None, 30, REG)
        # A crash here: the process dies after the intent row, before the write's outcome.
    with Store(location) as store:
        rows = store.journal(run)
        assert [(r.host, r.setting, r.prior, r.desired, r.state) for r in rows] == [
            ("web-01", "TcpTimedWaitDelay", None, 30, "intent")
        ]
        assert store.get_run(run).status == "running"
        store.journal_update(entry, "done", 0, "The operation completed successfully.")
        store.journal_update(entry, "verified")  # exit code and output are kept
        store.record_host(run, "web-01", "drift", None, None, [])
        store.record_host(run, "web-01", "pending_reboot", None, {"os_version": "10.0.20348"}, [{"key": "TcpTimedWaitDelay"}])
        store.finish_run(run, "completed", {"hosts": 1})
    with Store(location) as store:
        (row,) = store.journal(run)
        assert (row.state, row.exit_code, row.output) == ("verified", 0, "The operation completed successfully.")
        assert store.get_run(run[:10]).id == run  # unique prefix works
        (result,) = store.host_results(run)  # the second record replaced the first
        assert result.status == "pending_reboot" and result.facts == {"os_version": "10.0.20348"}
        assert result.settings == [{"key": "TcpTimedWaitDelay"}]
        shown = store.get_run(run)
        assert shown.summary == {"hosts": 1} and shown.status == "completed" and shown.finished_at
        assert shown.controller_host and shown.controller_pid


def test_pending_reboot_cleared_only_by_a_later_boot(location):
    with Store(location) as store:
        applied = utcnow()
        store.mark_pending_reboot("web-01", "MaxUserPort", applied - timedelta(hours=1), "r0")
        store.mark_pending_reboot("web-01", "MaxUserPort", applied, "r1")  # replaces the older row
        assert [(p.setting, p.run_id) for p in store.pending_reboots("web-01")] == [("MaxUserPort", "r1")]
        assert store.clear_pending_reboots("web-01", applied - timedelta(minutes=5)) == 0
        assert store.clear_pending_reboots("web-01", applied + timedelta(seconds=1)) == 1
        assert store.pending_reboots() == []


def test_unknown_ambiguous_and_wildcard_run_ids_are_clear_errors(location):
    with Store(location) as store:
        first, second = store.start_run("audit"), store.start_run("audit")
        with pytest.raises(StateError, match="no run 'nope'"):
            store.get_run("nope")
        with pytest.raises(StateError, match="ambiguous"):
            store.get_run(first[:4])
        # A prefix is text, not a LIKE pattern: % and _ match only themselves.
        with pytest.raises(StateError, match="no run '%'"):
            store.get_run("%")
        assert {r.id for r in store.list_runs()} == {first, second}


def test_journal_writes_from_many_threads_are_all_kept(location):
    with Store(location) as store:
        run = store.start_run("apply")

        def write(n: int) -> None:
            for k in range(10):
                entry = store.journal_intent(run, f"web-{n:02}", f"s{k}", k, k + 1, REG)
                store.journal_update(entry, "done", 0, "ok")

        threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rows = store.journal(run)
        assert len(rows) == 80 and len({r.id for r in rows}) == 80
        assert {r.state for r in rows} == {"done"} and store.journal_count(run) == 80


def test_a_host_lease_excludes_other_runs_until_released(location):
    with Store(location) as store:
        a, b = store.start_run("apply"), store.start_run("apply")
        assert store.acquire_lease(a, "web-01") is None
        assert store.acquire_lease(a, "web-01") is None  # the holder may take it again
        holder = store.acquire_lease(b, "web-01")
        assert holder is not None and holder.run_id == a and holder.live
        assert holder.controller_host == store.controller.host and holder.controller_pid == store.controller.pid
        assert a in holder.holder() and f"pid {store.controller.pid}" in holder.holder()
        assert [lease.host for lease in store.leases(a)] == ["web-01"]
        assert store.release_lease(a, "web-01") == 1
        assert store.acquire_lease(b, "web-01") is None
        assert store.leases(a) == [] and [lease.run_id for lease in store.leases()] == [b]


def test_concurrent_acquisitions_of_one_host_have_exactly_one_winner(location):
    stores = [Store(location) for _ in range(6)]
    try:
        run_ids = [s.start_run("apply") for s in stores]
        barrier = threading.Barrier(len(stores))
        results: dict[str, object] = {}

        def take(store: Store, run_id: str) -> None:
            barrier.wait()
            results[run_id] = store.acquire_lease(run_id, "db-01")

        threads = [threading.Thread(target=take, args=pair) for pair in zip(stores, run_ids)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [r for r, holder in results.items() if holder is None]
        assert len(winners) == 1
        assert all(h.run_id == winners[0] for h in results.values() if h is not None)
    finally:
        for s in stores:
            s.close()


def test_leases_of_a_dead_process_or_expired_on_another_machine_are_recovered(location):
    now = utcnow()
    with Store(location) as store:
        old, new = store.start_run("apply"), store.start_run("apply")
        engine = _raw(location)
        with engine.begin() as conn:
            conn.execute(insert(host_leases), [
                # this machine, a process that is gone
                dict(host="h-dead", run_id=old, controller_host=store.controller.host, controller_pid=_dead_pid(),
                     acquired_at=iso(now), expires_at=iso(now + timedelta(hours=1))),
                # another machine, heartbeat stopped: expired
                dict(host="h-expired", run_id=old, controller_host="ctl-elsewhere", controller_pid=4242,
                     acquired_at=iso(now - timedelta(hours=1)), expires_at=iso(now - timedelta(seconds=1))),
                # another machine, still renewing: live
                dict(host="h-live", run_id=old, controller_host="ctl-elsewhere", controller_pid=4242,
                     acquired_at=iso(now), expires_at=iso(now + timedelta(hours=1))),
            ])
        engine.dispose()
        assert {lease.host: lease.live for lease in store.leases(old)} == {"h-dead": False, "h-expired": False, "h-live": True}
        assert store.acquire_lease(new, "h-dead") is None
        assert store.acquire_lease(new, "h-expired") is None
        holder = store.acquire_lease(new, "h-live")
        assert holder is not None and "ctl-elsewhere" in holder.holder() and "pid 4242" in holder.holder()
        assert {lease.host for lease in store.leases(new)} == {"h-dead", "h-expired"}


def test_a_journal_intent_on_a_host_another_run_holds_is_refused(location):
    with Store(location) as store:
        a, b = store.start_run("apply"), store.start_run("apply")
        assert store.acquire_lease(a, "web-01") is None
        with pytest.raises(LeaseLost, match=f"taken over by run {a}"):
            store.journal_intent(b, "web-01", "TcpTimedWaitDelay", None, 30, REG)
        assert store.journal(b) == []
        store.journal_intent(a, "web-01", "TcpTimedWaitDelay", None, 30, REG)
        store.journal_intent(b, "web-02", "TcpTimedWaitDelay", None, 30, REG)  # not leased: allowed
        assert len(store.journal(a)) == 1 and len(store.journal(b)) == 1


def test_the_heartbeat_keeps_leases_alive_and_its_stop_lets_them_expire(location):
    with Store(location, lease_seconds=1.0) as store:
        run = store.start_run("apply")
        assert store.acquire_lease(run, "web-01") is None
        first = store.leases(run)[0].expires_at
        with Heartbeat(store, run, interval=0.1):
            deadline = utcnow() + timedelta(seconds=20)
            while store.leases(run)[0].expires_at == first:
                assert utcnow() < deadline, "the heartbeat never renewed the lease"
            assert store.get_run(run).heartbeat_at is not None
        # As another machine sees it once the renewals stopped and the lease time passed.
        engine = _raw(location)
        with engine.begin() as conn:
            conn.execute(update(host_leases).values(controller_host="ctl-elsewhere",
                                                    expires_at=iso(utcnow() - timedelta(seconds=1))))
            conn.execute(update(runs).where(runs.c.id == run).values(
                controller_host="ctl-elsewhere", heartbeat_at=iso(utcnow() - timedelta(seconds=5))))
        engine.dispose()
        assert store.leases(run)[0].live is False
        assert store.shown_status(store.get_run(run)) == "abandoned"


def test_a_run_whose_process_died_shows_as_abandoned(location):
    code = ("import sys; from portfleet.state import Store\n"
            "with Store(sys.argv[1]) as s: print(s.start_run('apply'))")
    child = subprocess.run([sys.executable, "-c", code, location], capture_output=True, text=True, check=True)
    run_id = child.stdout.strip()
    with Store(location) as store:
        run = store.get_run(run_id)
        assert run.status == "running" and run.controller_pid != store.controller.pid
        assert store.shown_status(run) == "abandoned" and not store.run_alive(run)
        mine = store.get_run(store.start_run("apply"))
        assert store.shown_status(mine) == "running" and store.run_alive(mine)


def test_reboot_store_keeps_its_rows(location):
    now = utcnow()
    with RebootStore(location) as store:
        run = store.start_run("reboot")
        store.reboot_run_create(run, {"delay": 60}, 12345, "ctl")
        store.reboot_hosts_add(run, [("web-01", ["MaxUserPort"], False), ("web-02", ["forced"], True)])
        store.reboot_host_update(run, "web-01", state="shutdown_intent", batch=1, boot_before=now, command="shutdown /r")
        with pytest.raises(ValueError):
            store.reboot_host_update(run, "web-01", nope=1)
        store.reboot_schedule_set("web-02", "portfleet-reboot", now, "11/28/2026 02:00", "schtasks ...", None, run)
        store.reboot_schedule_set("web-02", "portfleet-reboot", now, "11/29/2026 02:00", "schtasks ...", now, run)
        assert store.last_unfinished_reboot_run().id == run
        store.reboot_run_claim(run, 999, "ctl2")
    with RebootStore(location) as store:
        info = store.reboot_run_info(run)
        assert (info.options, info.controller_pid, info.controller_host) == ({"delay": 60}, 999, "ctl2")
        rows = store.reboot_hosts(run)
        assert [(r.host, r.state, r.forced, r.batch) for r in rows] == [
            ("web-01", "shutdown_intent", False, 1), ("web-02", "planned", True, None)]
        assert rows[0].boot_before == now and store.reboot_host(run, "web-02").reasons == ["forced"]
        (schedule,) = store.reboot_schedules()
        assert schedule.local_start == "11/29/2026 02:00" and schedule.boot_before == now
        assert store.reboot_schedule_clear("web-02") == 1 and store.reboot_schedules("web-02") == []


def test_a_new_database_gets_exactly_the_schema_of_schema_py(location):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from portfleet.state.schema import HEAD_REVISION, VERSION_TABLE

    Store(location).close()
    engine = _raw(location)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        assert context.get_current_revision() == HEAD_REVISION
        differences = [d for d in compare_metadata(context, metadata) if not _benign(d)]
    engine.dispose()
    assert differences == []


def _benign(diff) -> bool:
    # SQLite reports server defaults back as text ('0' vs 0); the schema means the same.
    return isinstance(diff, list) and all(d[0] == "modify_default" for d in diff)


def _open_and_start_run(path: str, barrier, results) -> None:  # runs in a forked process
    barrier.wait()
    try:
        with Store(path) as store:
            store.start_run("audit", check_mode=False, inventory="i", playbook="p", limit_pattern=None, parent_run=None)
        results.put("ok")
    except StateError as exc:
        results.put(f"StateError: {exc}")


def test_controllers_started_together_on_a_new_state_file_all_get_in(tmp_path):
    """Four processes opening one new SQLite state file at the same instant (a scheduler starting its shards):
    each opens it and records its run; switching the new file to WAL is not a "database is locked" error.
    (Without the retry this fails within the first few rounds.)"""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    for round_no in range(15):
        path = str(tmp_path / f"state-{round_no}.db")
        barrier, results = ctx.Barrier(4), ctx.Queue()
        procs = [ctx.Process(target=_open_and_start_run, args=(path, barrier, results)) for _ in range(4)]
        for p in procs:
            p.start()
        outcomes = [results.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(60)
        assert outcomes == ["ok"] * 4, (round_no, outcomes)
        with Store(path, read_only=True) as store:
            assert len(store.list_runs()) == 4
