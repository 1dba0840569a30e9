"""What the crash, signal and concurrency tests check after an apply was killed, stopped or raced:
the state database's integrity, the journal against what the lab hosts really hold, and a rollback
of every run back to where the lab started. The lab is read from its own side (control API), never
through portfleet's parsers.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from portfleet.apply import run_converge
from portfleet.inventory import load_inventory
from portfleet.render import Renderer
from portfleet.rollback import RollbackError, recover_leases, rollback_plans, rollback_targets
from portfleet.state import Store
from portfleet.transport.factory import ConnectOptions, session_factory

PARAMETERS = "HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters"
KEYS = ("TcpTimedWaitDelay", "dynamicport.ipv4.tcp")


def playbook(path: Path, time_wait: int, start: int) -> Path:
    path.write_text(
        "- name: crash test\n  hosts: windows\n  settings:\n"
        f"    TcpTimedWaitDelay: {time_wait}\n"
        f"    dynamicport: {{ipv4: {{tcp: {{start: {start}, num: {65536 - start}}}}}}}\n"
    )
    return path


def lab_values(control: Any, name: str) -> dict[str, Any]:
    """The host's values of KEYS as the journal writes them: an int or None, (start, num)."""
    snapshot = control.host(name)
    tcp = snapshot["ranges"]["ipv4 tcp"]
    start, num = (tcp["start"], tcp["num"]) if isinstance(tcp, dict) else tcp
    value = snapshot["registry"][PARAMETERS].get("TcpTimedWaitDelay")  # ["REG_DWORD", 30], or absent
    return {"TcpTimedWaitDelay": value[1] if value is not None else None, "dynamicport.ipv4.tcp": (start, num)}


def _value(stored: Any) -> Any:
    return (stored["start"], stored["num"]) if isinstance(stored, dict) else stored


def integrity(state: Path) -> None:
    with sqlite3.connect(f"file:{state}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def journal_rows(state: Path) -> list[dict[str, Any]]:
    if not state.exists():
        return []
    try:
        with sqlite3.connect(f"file:{state}?mode=ro", uri=True) as db:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute("SELECT * FROM journal ORDER BY id")]
    except sqlite3.OperationalError:  # no schema yet: the run had not started
        return []


def journal_count(state: Path) -> int:
    try:
        with sqlite3.connect(f"file:{state}?mode=ro", uri=True) as db:
            return db.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
    except sqlite3.Error:  # not there yet
        return 0


def check_journal_against_lab(state: Path, control: Any, names: list[str]) -> None:
    """Per host and setting, the journal rows in commit order tell what the host must hold:
    a `done`/`verified` write holds its value until the next write, whose prior is that value;
    a `failed` one changed nothing; an `intent` one (cut off) may have been written or not."""
    import json

    chains: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in journal_rows(state):
        chains.setdefault((row["host"], row["setting"]), []).append(row)
    for name in names:
        held = lab_values(control, name)
        for key in KEYS:
            possible: set[Any] | None = None  # None: no write journaled, nothing to say
            for row in chains.get((name, key), []):
                prior, desired = _value(json.loads(row["prior"])), _value(json.loads(row["desired"]))
                assert possible is None or prior in possible, (name, key, row, possible)
                if row["state"] in ("done", "verified"):
                    possible = {desired}
                elif row["state"] == "failed":
                    possible = {prior}
                else:
                    assert row["state"] == "intent", row
                    possible = {prior, desired}
            if possible is not None:
                assert held[key] in possible, (name, key, held[key], possible)


def rollback_everything(state: Path, inventory: Path) -> list[str]:
    """Roll back every apply run, newest first, as `portfleet rollback RUN --yes` does (in process);
    returns the ids rolled back."""
    done = []
    with Store(state) as store:
        runs = [r for r in store.list_runs(1000) if r.kind == "apply"]
        inv = load_inventory(inventory)
        open_session = session_factory(ConnectOptions())
        for run in runs:  # newest first
            try:
                full_id, targets = rollback_targets(store, run.id)
            except RollbackError:  # a run that wrote nothing
                continue
            plans, missing = rollback_plans(targets, inv)
            assert missing == []
            recover_leases(store, full_id)
            report = run_converge("rollback", plans, open_session=open_session, renderer=Renderer(), store=store,
                                  check=False, forks=4, parent_run=full_id)
            assert not [h for h in report.hosts if h.failed], [(h.name, h.status, h.detail) for h in report.hosts]
            done.append(full_id)
    return done


def start_apply(inventory: Path, book: Path, state: Path, *extra: str, **popen: Any) -> subprocess.Popen[str]:
    env = dict(os.environ, PORTFLEET_STATE=str(state))
    env.pop("CI", None)
    return subprocess.Popen(
        [sys.executable, "-m", "portfleet", "apply", "-i", str(inventory), "-p", str(book), "--yes", "--format",
         "json", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **popen)


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[str] | None = None, timeout: float = 60.0,
             what: str = "condition") -> bool:
    """Poll `condition` until true (True), or until `proc` exits (False); fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            return False
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)
    return True
