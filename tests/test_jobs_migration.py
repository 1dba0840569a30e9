"""Revision 0003 (runs' job and shard) upgrades the stores users have in place: a state.db of 0.1.0
(schema_version 1, tests/state_v1.py) and a store the current code made (revision 0002, built by
the migration chain itself), on SQLite and PostgreSQL. Old rows keep every value, their job and
shard are null; readers (runs list, status) read an older store as it is, without upgrading it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, insert, inspect, select, text
from state_v1 import columns_of, make_v1_state, table_rows

from portfleet.state import SCHEMA_VERSION, Store, parse_location
from portfleet.state.migrate import MIGRATIONS
from portfleet.state.schema import HEAD_REVISION, VERSION_TABLE, host_leases, host_results, journal, meta, runs

T0, T1 = "2026-11-30T09:00:00.000000+00:00", "2026-11-30T09:01:00.000000+00:00"
REVISION_2_RUN_COLUMNS = ("id", "kind", "check_mode", "status", "started_at", "finished_at", "inventory", "playbook",
                          "limit_pattern", "parent_run", "summary", "note", "controller_host", "controller_pid",
                          "heartbeat_at")


def portfleet(*args: str, state: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PORTFLEET_STATE=state)
    env.pop("CI", None)
    env.pop("PORTFLEET_JOB", None)
    return subprocess.run([sys.executable, "-m", "portfleet", *args], capture_output=True, text=True, env=env,
                          timeout=120)


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    return request.getfixturevalue("pg_database").url


def _engine(location: str):
    loc = parse_location(location)
    return create_engine(loc.url if loc.is_postgresql else f"sqlite:///{loc.path}")


def make_revision_2_store(location: str) -> None:
    """A store exactly as the current release leaves it: the chain up to 0002, then an apply's rows."""
    from alembic import command
    from alembic.config import Config

    engine = _engine(location)
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
        assert "job" not in {c["name"] for c in inspect(conn).get_columns("runs")}
        conn.execute(insert(runs).values(dict(zip(REVISION_2_RUN_COLUMNS, (
            "20261130-090000-dddd", "apply", 0, "running", T0, None, "inv.yml", "pb.yml", "web*", None, None, None,
            "ctl-7", 4242, T1)))))
        conn.execute(insert(host_results).values(run_id="20261130-090000-dddd", host="web-01", status="pending_reboot",
                                                 detail=None, facts=json.dumps({"os_version": "10.0.20348"}),
                                                 settings=json.dumps([{"key": "TcpTimedWaitDelay", "desired": 30,
                                                                       "actual": 30, "effective": 120,
                                                                       "status": "pending_reboot",
                                                                       "needs_reboot": True}]),
                                                 finished_at=T1))
        conn.execute(insert(journal).values(run_id="20261130-090000-dddd", host="web-01", setting="TcpTimedWaitDelay",
                                            prior="null", desired="30", command="reg add ...", state="verified",
                                            created_at=T0, updated_at=T1))
        conn.execute(insert(host_leases).values(host="web-02", run_id="20261130-090000-dddd", controller_host="ctl-7",
                                                controller_pid=4242, acquired_at=T0, expires_at=T1))
    engine.dispose()


def test_a_store_made_by_the_current_code_upgrades_in_place_on_either_backend(location):
    make_revision_2_store(location)
    engine = _engine(location)
    with engine.connect() as conn:
        assert conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar() == "2"
    with Store(location) as store:
        old = store.get_run("20261130-090000-dddd")
        assert (old.controller_host, old.controller_pid, old.heartbeat_at, old.job, old.shard) == (
            "ctl-7", 4242, T1, None, None)
        assert [j.state for j in store.journal(old.id)] == ["verified"]
        assert [lease.host for lease in store.leases()] == ["web-02"]
        assert store.newest_results()["web-01"].run_id == old.id
        store.label_runs("nightly", "2/4")
        new = store.start_run("audit")
        assert [r.id for r in store.list_runs(job="nightly")] == [new]
    with engine.connect() as conn:
        assert conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar() == str(SCHEMA_VERSION)
        assert conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar() == HEAD_REVISION
        labels = dict(conn.execute(select(runs.c.id, runs.c.shard)).all())
        indexes = {i["name"] for t in ("runs", "host_results") for i in inspect(conn).get_indexes(t)}
    engine.dispose()
    assert labels == {"20261130-090000-dddd": None, new: "2/4"}
    assert {"runs_job", "host_results_host"} <= indexes


def test_a_v1_state_db_upgrades_to_jobs_and_old_runs_have_none(tmp_path):
    path = tmp_path / "state.db"
    make_v1_state(path)
    with Store(path) as store:
        assert {r.id: (r.job, r.shard) for r in store.list_runs()} == {
            "20261120-100000-aaaa": (None, None), "20261120-110000-bbbb": (None, None),
            "20261120-120000-cccc": (None, None)}
        assert store.list_runs(job="x") == []
    assert {"job", "shard"} <= set(columns_of(path, "runs"))
    assert table_rows(path, "portfleet_alembic_version") == [(HEAD_REVISION,)]


def test_readers_read_a_revision_2_store_as_it_is_without_upgrading_it(tmp_path):
    path = tmp_path / "state.db"
    make_revision_2_store(str(path))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    listed = portfleet("runs", "list", "--format", "json", state=str(path))
    assert listed.returncode == 0, listed.stderr
    (run,) = json.loads(listed.stdout)["runs"]
    assert (run["id"], run["job"], run["shard"], run["status"]) == ("20261130-090000-dddd", None, None, "abandoned")
    by_job = portfleet("runs", "list", "--job", "nightly", "--format", "json", state=str(path))
    assert by_job.returncode == 0 and json.loads(by_job.stdout)["runs"] == []
    status = portfleet("status", "--format", "json", state=str(path))
    assert status.returncode == 3, status.stderr  # web-01 awaits a reboot
    (host,) = json.loads(status.stdout)["hosts"]
    assert (host["name"], host["status"], host["seen"]["job"], host["seen"]["shard"]) == (
        "web-01", "pending_reboot", None, None)
    assert "older schema" in status.stderr and "not upgraded" in status.stderr
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert table_rows(path, "portfleet_alembic_version") == [("0002",)]
