"""Start-up of a WinRM audit/apply on the default SQLite state imports only what that run uses.

Controller CPU per host is budgeted (issue 13: <= 10 ms per host at 200 hosts, start-up included),
and imports are most of a run's start-up. Each module below is imported by other runs (PostgreSQL
state, a progress bar on a terminal...) but costs a SQLite run milliseconds of CPU for nothing;
the figure is what it cost when it was made lazy. The runs are real: `python -m portfleet` against
a real lab, the modules read from the interpreter's own `-X importtime` list.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path

import pytest

from portfleet.resources import playbooks_dir

PLAYBOOK = playbooks_dir() / "port-exhaustion.yml"
NOT_NEEDED = {
    "sqlalchemy.dialects.postgresql": "PostgreSQL state only (~27 ms)",
    "psycopg": "PostgreSQL state only",
    "alembic": "a migration only (the schema is current)",
    "rich.progress": "a progress bar, drawn only when stderr is a terminal (~7 ms)",
    "rich": "JSON output prints nothing through rich when all goes well (~16 ms)",
}


def imported_modules(stderr: str) -> set[str]:
    """The module names of `python -X importtime` lines ("import time: self | cumulative | name")."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def run(*args: str, state: Path) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    env = dict(os.environ, PORTFLEET_STATE=str(state))
    env.pop("CI", None)
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "portfleet", *args],
                          capture_output=True, text=True, env=env, timeout=300)
    return proc, imported_modules(proc.stderr)


@pytest.fixture(scope="module")
def fleet(module_lab):
    return module_lab(hosts=2, profile="mixed", seed=7)


def unwanted(modules: set[str]) -> list[str]:
    return sorted(f"{m} ({why})" for m, why in NOT_NEEDED.items() if m in modules)


def test_audit_and_apply_on_sqlite_import_nothing_they_do_not_use(fleet, tmp_path):
    state = tmp_path / "state.db"
    common = ["-i", str(fleet.inventory), "-p", str(PLAYBOOK), "--format", "json"]
    # The first run creates the database: a migration, the one run that imports Alembic.
    first, modules = run("audit", *common, state=state)
    assert first.returncode in (0, 3), first.stdout + first.stderr
    assert "alembic" in modules

    audit, modules = run("audit", *common, state=state)
    assert audit.returncode in (0, 3), audit.stdout + audit.stderr
    doc = json.loads(audit.stdout)
    assert {h["name"] for h in doc["hosts"]} == {h["name"] for h in fleet.hosts}
    assert {h["status"] for h in doc["hosts"]} <= {"compliant", "drift"}
    assert "sqlalchemy" in modules and "winrm" in modules  # the list is real: what the run uses is there
    assert unwanted(modules) == []

    apply, modules = run("apply", *common, "-y", state=state)
    assert apply.returncode in (0, 3), apply.stdout + apply.stderr
    assert {h["status"] for h in json.loads(apply.stdout)["hosts"]} <= {"compliant", "changed", "pending_reboot"}
    assert unwanted(modules) == []


def test_on_a_terminal_the_progress_bar_is_drawn(fleet, tmp_path):
    """stderr a terminal (a pseudo-terminal here) and table output: the bar is drawn, counting the hosts."""
    env = dict(os.environ, PORTFLEET_STATE=str(tmp_path / "state.db"), COLUMNS="120")
    env.pop("CI", None)
    leader, follower = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "portfleet", "audit", "-i", str(fleet.inventory), "-p", str(PLAYBOOK)],
                            stdout=subprocess.PIPE, stderr=follower, env=env)
    os.close(follower)
    terminal = b""
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], 60)
            if not ready:
                break
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: every writer closed the terminal (the run ended)
                break
            if not chunk:
                break
            terminal += chunk
        stdout = proc.communicate(timeout=60)[0].decode()
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (0, 3), stdout + terminal.decode(errors="replace")
    shown = terminal.decode(errors="replace")
    assert "hosts" in shown and f"{len(fleet.hosts)}/{len(fleet.hosts)}" in shown, shown
    assert all(h["name"] in stdout for h in fleet.hosts)  # the table on stdout, not on the terminal
