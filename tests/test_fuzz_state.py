"""A state.db is input like any other file: damaged, truncated, garbage or hand-edited, opening and
reading it (and, where it is still writable, recording a run in it) ends in a result or a StateError
that says what is wrong, never another exception and never a traceback from the CLI.

Hypothesis (bounded examples, part of the normal run) damages a real state database three ways:
random bytes, byte flips and truncation of a valid file, and garbage values put into its rows with
sqlite3 (as a hand edit or another program would).
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import tempfile
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from portfleet.facts import HostFacts
from portfleet.report.runs_json import run_show_json, runs_list_json
from portfleet.rollback import RollbackError, rollback_targets
from portfleet.run_record import known_pending, values_in_force
from portfleet.state import StateError, Store, utcnow

FUZZ = settings(max_examples=100, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# Every column a portfleet state database has, as (table, column).
COLUMNS = [
    ("runs", c) for c in ("id", "kind", "check_mode", "status", "started_at", "finished_at", "summary",
                          "controller_host", "controller_pid", "heartbeat_at", "parent_run")
] + [
    ("host_results", c) for c in ("host", "status", "facts", "settings", "finished_at")
] + [
    ("journal", c) for c in ("host", "setting", "prior", "desired", "state", "exit_code", "created_at")
] + [
    ("pending_reboots", c) for c in ("host", "setting", "applied_at", "run_id")
] + [
    ("host_leases", c) for c in ("host", "run_id", "controller_host", "controller_pid", "acquired_at", "expires_at")
] + [("meta", "value"), ("portfleet_alembic_version", "version_num")]
garbage = st.one_of(
    st.none(), st.integers(min_value=-(2**63), max_value=2**63 - 1), st.floats(allow_nan=True),
    st.text(max_size=30), st.binary(max_size=30),
    st.sampled_from(["{", "[1,2", "[1, 2]", "1e400", '{"start": 1e999, "num": 3}', '{"start": "x"}', '"\\ud800"', "9" * 5000, "2027-13-45T99:99:99",
                     "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00", "nan", "running", "[" * 5000]),
)


@functools.lru_cache(maxsize=1)
def template() -> bytes:
    """A state database with a little of everything, as runs leave it (made once; not a fixture, so
    that a failing example does not print its 100 kB)."""
    path = Path(tempfile.mkdtemp()) / "state.db"
    with Store(path) as store:
        applied = store.start_run("apply", inventory="inv.yml", playbook="pb.yml")
        entry = store.journal_intent(applied, "web-01", "TcpTimedWaitDelay", None, 30, "reg add ...")
        store.journal_update(entry, "verified", 0, "The operation completed successfully.")
        store.journal_intent(applied, "web-01", "dynamicport.ipv4.tcp", {"start": 49152, "num": 16384, "end": 65535},
                             {"start": 10000, "num": 55536, "end": 65535}, "netsh ...")
        store.mark_pending_reboot("web-01", "TcpTimedWaitDelay", utcnow(), applied)
        store.record_host(applied, "web-01", "pending_reboot", "reboot needed", {"os_version": "10.0.20348"},
                          [{"key": "TcpTimedWaitDelay", "desired": 30, "actual": 30, "effective": 120}])
        store.finish_run(applied, "completed", {"hosts": 1})
        running = store.start_run("apply")  # left running, holding a lease (this process: alive)
        store.acquire_lease(running, "web-02")
    return path.read_bytes()


def exercise(path: Path) -> None:
    """What the commands do with a state store: read everything (read-only and writable), record a run."""
    for read_only in (True, False):
        try:
            with Store(path, read_only=read_only) as store:
                runs = store.list_runs()
                json.dumps(runs_list_json(runs))
                for run in runs:
                    store.shown_status(run)
                    store.run_alive(run)
                    assert store.get_run(run.id).id == run.id
                    shown = run_show_json(run, store.host_results(run.id), store.journal(run.id), store.leases(run.id))
                    json.dumps(shown)  # `runs show --format json` prints it
                    try:
                        rollback_targets(store, run.id)
                    except RollbackError as exc:  # documented: a run that cannot be rolled back says why
                        assert str(exc)
                store.leases()
                store.pending_reboots()
                facts = HostFacts(boot_time=utcnow() - timedelta(days=1))
                if not read_only:
                    pending = known_pending(store, "web-01", facts.boot_time)
                    values_in_force(store, "web-01", facts, pending)
                    run_id = store.start_run("audit")
                    store.record_host(run_id, "web-01", "compliant", None, None, [])
                    store.finish_run(run_id, "completed", {"hosts": 1})
        except StateError as exc:
            assert str(exc), "a StateError says what is wrong"


def write(tmp_path_factory, data: bytes) -> Path:
    path = tmp_path_factory.mktemp("fuzz") / "state.db"
    path.write_bytes(data)
    os.chmod(path, 0o600)
    return path


@FUZZ
@given(st.binary(max_size=4096), st.booleans())
def test_random_bytes_are_a_state_error(tmp_path_factory, data, with_header):
    exercise(write(tmp_path_factory, (b"SQLite format 3\x00" if with_header else b"") + data))


@FUZZ
@given(st.data())
def test_a_damaged_or_truncated_database_is_a_state_error_or_still_read(tmp_path_factory, data):
    raw = bytearray(template())
    if data.draw(st.booleans(), label="truncate"):
        raw = raw[: data.draw(st.integers(min_value=0, max_value=len(raw)), label="length")]
    else:
        for _ in range(data.draw(st.integers(min_value=1, max_value=24), label="flips")):
            at = data.draw(st.integers(min_value=0, max_value=len(raw) - 1), label="offset")
            raw[at] = data.draw(st.integers(min_value=0, max_value=255), label="byte")
    exercise(write(tmp_path_factory, bytes(raw)))


# The JSON columns twice as often: their values are decoded, not only shown.
JSON_COLUMNS = [("runs", "summary"), ("host_results", "facts"), ("host_results", "settings"),
                ("journal", "prior"), ("journal", "desired")]


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(COLUMNS + JSON_COLUMNS), garbage), min_size=1, max_size=4))
def test_garbage_in_any_column_is_a_state_error_or_still_read(tmp_path_factory, edits):
    path = write(tmp_path_factory, template())
    with sqlite3.connect(path) as db:
        for (table, column), value in edits:
            try:
                db.execute(f'UPDATE "{table}" SET "{column}" = ?', (value,))
            except sqlite3.IntegrityError:  # NOT NULL / primary key: an edit SQLite itself refuses
                pass
    exercise(path)


@pytest.mark.parametrize("damage", ["bytes", "flip", "json"])
def test_runs_list_and_show_on_a_damaged_database_exit_2_without_a_traceback(tmp_path, damage):
    path = tmp_path / "state.db"
    if damage == "bytes":
        path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 3000)
    elif damage == "flip":
        raw = bytearray(template())
        raw[100:4096] = b"\x00" * (4096 - 100)  # the first page after the header: the schema
        path.write_bytes(bytes(raw))
    else:
        path.write_bytes(template())
        with sqlite3.connect(path) as db:
            db.execute("UPDATE runs SET summary = '{not json'")
    os.chmod(path, 0o600)
    env = dict(os.environ, PORTFLEET_STATE=str(path))
    run_id = "20270101-000000-abcd"
    if damage == "json":
        with sqlite3.connect(path) as db:
            run_id = db.execute("SELECT id FROM runs WHERE kind = 'apply'").fetchone()[0]
    for args in (["runs", "list"], ["runs", "show", run_id]):
        proc = subprocess.run([sys.executable, "-m", "portfleet", *args], capture_output=True, text=True, env=env,
                              timeout=60)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr and proc.stderr.strip(), proc.stderr
        assert str(path) in proc.stderr or "damaged" in proc.stderr, proc.stderr


@pytest.mark.parametrize("table, column, value, expect", [
    ("journal", "command", "reg add [/bold] x", "reg add [/bold] x"),  # rich markup in stored text
    ("host_results", "detail", "[/red] unexpected output", "[/red] unexpected output"),
    ("runs", "kind", "[/x]", "[/x]"),
    ("journal", "prior", '{"start": "x"}', "{'start': 'x'}"),  # not a setting value: shown as stored
    ("journal", "command", b"\xff\xfe not UTF-8", "\ufffd\ufffd not UTF-8"),
])
def test_runs_list_and_show_show_odd_stored_values_as_they_are(tmp_path, table, column, value, expect):
    path = tmp_path / "state.db"
    path.write_bytes(template())
    os.chmod(path, 0o600)
    with sqlite3.connect(path) as db:
        db.execute(f'UPDATE "{table}" SET "{column}" = ?', (value,))
        ids = [r[0] for r in db.execute("SELECT id FROM runs")]
    env = dict(os.environ, PORTFLEET_STATE=str(path), COLUMNS="250")
    printed = ""
    for args in [["runs", "list"]] + [["runs", "show", i] for i in ids]:
        proc = subprocess.run([sys.executable, "-m", "portfleet", *args], capture_output=True, text=True, env=env,
                              timeout=60)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
        printed += proc.stdout
    assert expect in printed


def test_the_template_itself_reads_cleanly(tmp_path):
    path = tmp_path / "state.db"
    path.write_bytes(template())
    os.chmod(path, 0o600)
    exercise(path)
    with Store(path, read_only=True) as store:
        runs = store.list_runs()
        assert sorted(r.kind for r in runs) == ["apply", "apply", "audit"]  # the template's two, exercise's one
        applied = next(r for r in runs if r.kind == "apply" and r.status == "completed")
        assert [j.state for j in store.journal(applied.id)] == ["verified", "intent"]
