"""The SQLite state file as a user meets it: made 0600, other files refused untouched, odd paths
(/proc, a directory, a read-only mount) told plainly with exit 2, read-only media still listable."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from portfleet.resources import playbooks_dir
from portfleet.state import StateError, Store

CLI = [sys.executable, "-m", "portfleet"]


def portfleet(*args: str, state: str | Path | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("CI", None)
    env.pop("PORTFLEET_STATE", None)
    if state is not None:
        env["PORTFLEET_STATE"] = str(state)
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def fingerprint(path: Path) -> tuple[str, int, int]:
    info = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), info.st_mtime_ns, stat.S_IMODE(info.st_mode)


def assert_clean_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "not a usable portfleet state database" not in proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


def test_a_new_state_database_and_its_wal_files_are_0600(tmp_path):
    path = tmp_path / "sub" / "state.db"
    old = os.umask(0o022)
    try:
        with Store(path) as store:
            run = store.start_run("apply")
            store.journal_intent(run, "web-01", "TcpTimedWaitDelay", None, 30, "reg add ...")
            files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
            assert all(f.exists() for f in files)  # WAL mode: both exist while the store is open
            assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == {f.name: 0o600 for f in files}
            assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize("content", [b"this is not sqlite" * 100, b"\x00" * 10, b"#!/bin/sh\necho hi\n"])
def test_a_file_that_is_not_sqlite_is_refused_by_name_and_left_untouched(tmp_path, content):
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    before = fingerprint(path)
    with pytest.raises(StateError, match="not an SQLite database, so not a portfleet state file: refusing"):
        Store(path)
    for argv in (("runs", "list"), ("runs", "show", "x")):
        assert_clean_error(portfleet(*argv, state=path), str(path), "refusing to touch it")
    assert fingerprint(path) == before
    assert not Path(f"{path}-wal").exists() and not Path(f"{path}-journal").exists()


def test_an_sqlite_database_of_another_program_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("INSERT INTO customers(name) VALUES ('acme')")
    before = fingerprint(path)
    with pytest.raises(StateError, match=r"portfleet did not create \(tables: customers\)"):
        Store(path)
    assert_clean_error(portfleet("runs", "list", state=path), "app.db", "did not create")
    # A table of portfleet's name without portfleet's meta row is not ours either.
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE runs (x TEXT)")
        db.execute("CREATE TABLE invoices (x TEXT)")
    with pytest.raises(StateError, match="did not create"):
        Store(other)
    assert fingerprint(path) == before


@pytest.fixture
def one_host(tmp_path) -> tuple[Path, Path]:
    """An inventory of one host nobody listens on, and the shipped playbook: a run that must
    open its state store before it contacts any host."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("windows:\n  hosts:\n    web-01: {ansible_host: 127.0.0.1, ansible_port: 1, ansible_password: pw}\n")
    return inventory, playbooks_dir() / "port-exhaustion.yml"


def test_a_directory_a_proc_path_and_an_unwritable_parent_are_told_plainly(tmp_path, one_host):
    inventory, playbook = one_host
    assert_clean_error(portfleet("runs", "list", state=tmp_path), "is a directory")
    assert_clean_error(portfleet("apply", "-i", str(inventory), "-p", str(playbook), "--yes", state=tmp_path),
                       "is a directory")
    for path in ("/proc/portfleet/state.db", "/proc/version", "/proc/self/state.db"):
        apply = portfleet("apply", "-i", str(inventory), "-p", str(playbook), "--yes", state=path)
        assert_clean_error(apply, path, "virtual filesystem")
        assert_clean_error(portfleet("runs", "list", state=path), path, "virtual filesystem")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StateError, match="cannot create the directory .*file"):
        Store(blocker / "state.db")
    with pytest.raises(StateError, match="virtual filesystem"):
        Store("/proc/portfleet/state.db")


def test_looking_at_runs_never_creates_a_state_file(tmp_path):
    proc = portfleet("runs", "list", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0 and '"runs": []' in proc.stdout
    proc = portfleet("runs", "show", "nope", cwd=tmp_path)
    assert proc.returncode == 2 and "no state database at .portfleet/state.db yet" in proc.stderr
    assert not (tmp_path / ".portfleet").exists()


def _can_mount() -> str | None:
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("mount") is None:
        return "needs root with unshare and mount (a private read-only tmpfs)"
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m none /mnt"], capture_output=True)
    return None if probe.returncode == 0 else "this machine refuses mount namespaces"


def test_a_database_on_a_read_only_mount_can_be_listed_and_shown_but_not_written(tmp_path, one_host):
    reason = _can_mount()
    if reason:
        pytest.skip(reason)
    source = tmp_path / "state.db"
    with Store(source) as store:
        run = store.start_run("apply", inventory="inv.yml")
        store.journal_intent(run, "web-01", "TcpTimedWaitDelay", None, 30, "reg add ...")
        store.record_host(run, "web-01", "pending_reboot", None, None, [])
        store.finish_run(run, "completed", {"hosts": 1})
    mount = tmp_path / "ro"
    mount.mkdir()
    script = tmp_path / "script.sh"
    script.write_text(
        'set -e\nmount -t tmpfs -o size=8m none "$1"\ncp "$2" "$1/state.db"\nchmod 600 "$1/state.db"\n'
        'mount -o remount,ro "$1"\n'
        'shift 2\nexport PORTFLEET_STATE="$MNT/state.db"\n'
        'for cmd in "runs list --format json" "runs show $RUN" "runs show $RUN --format json" '
        '"apply -i $INV -p $PB --yes"; do\n'
        '  echo "== $cmd"; set +e; "$PY" -m portfleet $cmd 2>&1; echo "rc=$?"; set -e\ndone\n'
    )
    env = dict(os.environ, MNT=str(mount), RUN=run, PY=sys.executable, INV=str(one_host[0]), PB=str(one_host[1]))
    env.pop("CI", None)
    proc = subprocess.run(["unshare", "-m", "sh", str(script), str(mount), str(source)], capture_output=True,
                          text=True, env=env, timeout=120)
    out = proc.stdout
    sections = dict(part.split("\n", 1) for part in out.split("== ")[1:])
    assert "Traceback" not in out, out
    assert run in sections["runs list --format json"] and "rc=0" in sections["runs list --format json"], out
    assert "web-01" in sections[f"runs show {run}"] and "rc=0" in sections[f"runs show {run}"], out
    assert '"status": "completed"' in sections[f"runs show {run} --format json"], out
    # apply needs to write: refused before any host is contacted, naming the read-only file system.
    applied = sections[f"apply -i {one_host[0]} -p {one_host[1]} --yes"]
    assert "rc=2" in applied and "is on a read-only file system" in applied, out
    assert not (mount / "state.db").exists()  # the private mount is gone with its namespace


def test_a_read_only_file_refuses_writes_with_a_clear_message(tmp_path):
    source = tmp_path / "state.db"
    Store(source).close()
    with Store(source, read_only=True) as store:
        assert store.read_only and store.list_runs() == []
        with pytest.raises(StateError, match="open read-only .*needs to write"):
            store.start_run("apply")


def test_a_damaged_row_is_a_clear_error_not_a_traceback(tmp_path):
    path = tmp_path / "state.db"
    with Store(path) as store:
        run = store.start_run("apply")
        store.finish_run(run, "completed", {"hosts": 1})
        store.journal_intent(run, "web-01", "TcpTimedWaitDelay", None, 30, "reg add ...")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE runs SET summary = '{\"hosts\": [[[' WHERE id = ?", (run,))
        db.execute("UPDATE journal SET prior = ? WHERE run_id = ?", ("9" * 5000, run))  # past int()'s digit limit
    assert_clean_error(portfleet("runs", "list", state=path), "damaged", f"the summary of run {run}")
    assert_clean_error(portfleet("runs", "show", run, state=path), "damaged")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE runs SET summary = NULL WHERE id = ?", (run,))
    assert_clean_error(portfleet("runs", "show", run, state=path), "journal row 1 is not valid JSON")
    assert_clean_error(portfleet("rollback", run, "--yes", state=path), "journal row 1 is not valid JSON")
