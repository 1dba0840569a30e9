"""A state.db made by the current release (schema_version 1) upgrades in place on first open:
every row survives, the new columns are null, leases arrive; a reader never upgrades it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

from state_v1 import V1_TABLES, columns_of, make_v1_state, table_rows

from portfleet.state import SCHEMA_VERSION, RebootStore, Store
from portfleet.state.schema import HEAD_REVISION

RUN_DONE, RUN_CUT, RUN_REBOOT = "20261120-100000-aaaa", "20261120-110000-bbbb", "20261120-120000-cccc"


def test_a_v1_state_db_upgrades_in_place_and_keeps_every_row(tmp_path):
    path = tmp_path / "state.db"
    make_v1_state(path)
    v1_columns = {t: columns_of(path, t) for t in V1_TABLES}
    before = {t: table_rows(path, t) for t in V1_TABLES}
    assert all(before.values()), "the v1 fixture has rows in every table"

    with RebootStore(path) as store:
        # Through the API, as the commands read them.
        done = store.get_run(RUN_DONE)
        assert (done.status, done.limit_pattern, done.summary["pending_reboot"]) == ("completed", "web*", 1)
        assert (done.controller_host, done.controller_pid, done.heartbeat_at) == (None, None, None)
        (result,) = store.host_results(RUN_DONE)
        assert result.facts == {"os_version": "10.0.20348"} and result.settings[0]["key"] == "MaxUserPort"
        (cut,) = store.journal(RUN_CUT)
        assert (cut.state, cut.prior, cut.desired) == ("intent", {"start": 49152, "num": 16384}, {"start": 10000, "num": 55536})
        assert [p.setting for p in store.pending_reboots("web-01")] == ["MaxUserPort"]
        assert store.reboot_run_info(RUN_REBOOT).controller_host == "ctl-old"
        assert store.reboot_hosts(RUN_REBOOT)[0].state == "shutdown_sent"
        assert store.reboot_schedules()[0].host == "web-03"
        assert store.last_unfinished_reboot_run().id == RUN_REBOOT
        # A run recorded by 0.1.0 names no controller: shown as it was recorded.
        assert store.shown_status(store.get_run(RUN_CUT)) == "running"
        assert store.leases() == []
        new = store.start_run("apply")
        store.journal_intent(new, "web-02", "TcpTimedWaitDelay", None, 30, "reg add ...")

    # Every v1 row is there, unchanged, in its v1 columns; the new columns of old rows are null.
    after = {t: table_rows(path, t, v1_columns[t]) for t in V1_TABLES}
    for table in V1_TABLES:
        kept = [row for row in after[table] if row in before[table]]
        assert kept == before[table], table
    assert set(columns_of(path, "runs")) - set(v1_columns["runs"]) == {"controller_host", "controller_pid", "heartbeat_at",
                                                                       "job", "shard"}
    old = table_rows(path, "runs", ["id", "controller_host", "controller_pid", "heartbeat_at"])
    assert [r[1:] for r in old if r[0] in (RUN_DONE, RUN_CUT, RUN_REBOOT)] == [(None, None, None)] * 3
    assert table_rows(path, "meta") == [("schema_version", str(SCHEMA_VERSION))]
    assert table_rows(path, "portfleet_alembic_version") == [(HEAD_REVISION,)]
    assert columns_of(path, "host_leases")
    # The journal keeps AUTOINCREMENT: the new row's id follows the old ones.
    ids = [r[0] for r in table_rows(path, "journal", ["id"])]
    assert ids == sorted(ids) and len(ids) == 3
    # Opening again changes nothing more.
    snapshot = {t: table_rows(path, t) for t in (*V1_TABLES, "meta", "portfleet_alembic_version")}
    Store(path).close()
    assert snapshot == {t: table_rows(path, t) for t in snapshot}


def test_a_v1_state_db_that_never_saw_a_reboot_command_gets_the_reboot_tables(tmp_path):
    path = tmp_path / "state.db"
    make_v1_state(path, reboot_tables=False)
    with Store(path) as store:
        assert store.get_run(RUN_DONE).status == "completed"
    with RebootStore(path) as store:
        assert store.reboot_schedules() == [] and store.reboot_run_info(RUN_REBOOT) is None
    assert {"reboot_runs", "reboot_hosts", "reboot_schedules", "host_leases"} <= set(_tables(path))


def _tables(path) -> list[str]:
    return [r[0] for r in table_rows(path, "sqlite_master", ["name", "type"]) if r[1] == "table"]


def test_runs_list_and_show_read_a_v1_db_without_upgrading_it(tmp_path):
    path = tmp_path / "state.db"
    make_v1_state(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    env = dict(os.environ, PORTFLEET_STATE=str(path))
    env.pop("CI", None)
    listed = subprocess.run([sys.executable, "-m", "portfleet", "runs", "list", "--format", "json"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert listed.returncode == 0, listed.stderr
    runs = {r["id"]: r for r in json.loads(listed.stdout)["runs"]}
    assert set(runs) == {RUN_DONE, RUN_CUT, RUN_REBOOT}
    assert runs[RUN_CUT]["status"] == "running" and runs[RUN_CUT]["controller_host"] is None
    shown = subprocess.run([sys.executable, "-m", "portfleet", "runs", "show", RUN_CUT, "--format", "json"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert document["journal"][0]["state"] == "intent" and document["leases"] == []
    assert "older schema" in shown.stderr and "not upgraded" in shown.stderr
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert "portfleet_alembic_version" not in _tables(path)


def test_the_schema_head_names_the_newest_migration_script():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from portfleet.state.migrate import KNOWN_REVISIONS, MIGRATIONS
    from portfleet.state.schema import HEAD_REVISION

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    assert scripts.get_current_head() == HEAD_REVISION == KNOWN_REVISIONS[-1]
    assert [s.revision for s in reversed(list(scripts.walk_revisions()))] == list(KNOWN_REVISIONS)
