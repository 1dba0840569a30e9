"""The SQLite store: journal before write, results after, nothing lost across reopen."""

from datetime import timedelta

import pytest

from portfleet.state import StateError, Store, utcnow


def test_run_lifecycle_and_journal_survive_reopen(tmp_path):
    path = tmp_path / "state.db"
    with Store(path) as store:
        run = store.start_run("apply", inventory="inv.yml", playbook="pb.yml")
        entry = store.journal_intent(run, "web-01", "TcpTimedWaitDelay", None, 30, 'reg add "HKLM\\X" /v TcpTimedWaitDelay /d 30 /f')
        # Simulate a crash here: the process dies after the intent row, before the write's outcome.
    with Store(path) as store:
        rows = store.journal(run)
        assert [(r.host, r.setting, r.prior, r.desired, r.state) for r in rows] == [
            ("web-01", "TcpTimedWaitDelay", None, 30, "intent")
        ]
        assert store.get_run(run).status == "running"
        store.journal_update(entry, "done", 0, "The operation completed successfully.")
        store.record_host(run, "web-01", "pending_reboot", None, {"os_version": "10.0.20348"}, [{"key": "TcpTimedWaitDelay"}])
        store.finish_run(run, "completed", {"hosts": 1})
    with Store(path) as store:
        assert store.journal(run)[0].state == "done"
        assert store.get_run(run[:10]).id == run  # unique prefix works
        (result,) = store.host_results(run)
        assert result.status == "pending_reboot" and result.facts == {"os_version": "10.0.20348"}
        assert store.get_run(run).summary == {"hosts": 1}


def test_pending_reboot_cleared_only_by_a_later_boot(tmp_path):
    with Store(tmp_path / "s.db") as store:
        applied = utcnow()
        store.mark_pending_reboot("web-01", "MaxUserPort", applied, "r1")
        assert store.clear_pending_reboots("web-01", applied - timedelta(minutes=5)) == 0
        assert [p.setting for p in store.pending_reboots("web-01")] == ["MaxUserPort"]
        assert store.clear_pending_reboots("web-01", applied + timedelta(seconds=1)) == 1
        assert store.pending_reboots() == []


def test_unknown_run_and_garbage_file_are_clear_errors(tmp_path):
    with Store(tmp_path / "s.db") as store:
        with pytest.raises(StateError, match="no run 'nope'"):
            store.get_run("nope")
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match="not a usable portfleet state database"):
        Store(bad)
