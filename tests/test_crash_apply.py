"""SIGKILL `portfleet apply` at random points, a few dozen times, against one lab: nothing is lost.

Each round starts an apply (alternating two playbooks, so that every round has writes to make),
waits for a seeded random number of journal rows (0: it may die while starting), adds a seeded
random delay, and kills it with SIGKILL (no handler runs). After each kill: the database passes
PRAGMA integrity_check, and every journal row agrees with what the lab host holds (an `intent` row
may have been written or not). The killed runs show as abandoned. Then a few rollbacks are killed
the same way, and at the end a rollback of every run, newest first, puts the lab back where it
started. PORTFLEET_CRASH_SEED picks another seed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from run_checks import (
    KEYS, check_journal_against_lab, integrity, journal_count, lab_values, playbook, rollback_everything,
    start_apply, wait_for,
)
from portfleet.state import Store

ROUNDS = 24
KILLED_ROLLBACKS = 4
SEED = int(os.environ.get("PORTFLEET_CRASH_SEED", "1207"))


def test_sigkill_at_random_points_loses_nothing_and_rollback_restores_the_lab(lab, tmp_path):
    started = time.monotonic()
    running = lab(hosts=4, profile="defaults", seed=8)
    control = running.control()
    names = [h["name"] for h in running.hosts]
    before = {n: lab_values(control, n) for n in names}
    for name in names:  # each command takes a little while: the writes of a run are spread over ~0.5 s
        control.set_faults(name, slow_seconds=0.05)
    books = [playbook(tmp_path / "a.yml", 30, 10000), playbook(tmp_path / "b.yml", 60, 20000)]
    state = tmp_path / "state.db"
    rng = random.Random(SEED)
    for round_no in range(ROUNDS):
        base = journal_count(state)
        rows, delay = rng.randint(0, 2 * len(names) - 1), rng.uniform(0.0, 0.1)
        proc = start_apply(running.inventory, books[round_no % 2], state, "--forks", "2")
        wait_for(lambda: journal_count(state) >= base + rows, proc, what=f"{rows} journal rows (seed {SEED})")
        time.sleep(delay)  # seeded: lands anywhere between two writes, or in one
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        assert proc.returncode in (-signal.SIGKILL, 0, 3), (round_no, proc.returncode, proc.stderr)
        if state.exists():
            integrity(state)
            check_journal_against_lab(state, control, names)
    with Store(state, read_only=True) as store:
        runs = [r for r in store.list_runs(1000) if r.kind == "apply"]
        cut = [r for r in runs if r.status == "running"]  # killed between their start and their end
        assert {store.shown_status(r) for r in cut} == {"abandoned"}
        assert len(cut) >= ROUNDS // 2, f"seed {SEED}: only {len(cut)} of {ROUNDS} runs were killed mid-run"
        assert any(j.state == "intent" for r in cut for j in store.journal(r.id)), "no kill landed mid-write"
    # Rollbacks are killed too: each leaves its host half restored, journaled; the next one goes on.
    newest = runs[0].id
    env = dict(os.environ, PORTFLEET_STATE=str(state))
    env.pop("CI", None)
    for _ in range(KILLED_ROLLBACKS):
        base, rows, delay = journal_count(state), rng.randint(0, 3), rng.uniform(0.0, 0.1)
        proc = subprocess.Popen([sys.executable, "-m", "portfleet", "rollback", newest, "--yes", "--forks", "2"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        wait_for(lambda: journal_count(state) >= base + rows, proc, what=f"{rows} rollback writes (seed {SEED})")
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        assert proc.returncode in (-signal.SIGKILL, 0, 2, 3), proc.stderr  # 2: nothing (left) to roll back
        integrity(state)
        check_journal_against_lab(state, control, names)
    for name in names:
        control.set_faults(name, slow_seconds=0)
    rolled = rollback_everything(state, running.inventory)
    assert rolled, "the killed runs wrote something"
    integrity(state)
    check_journal_against_lab(state, control, names)
    after = {n: lab_values(control, n) for n in names}
    assert after == before, f"seed {SEED}"
    assert all(set(v) == set(KEYS) for v in after.values())
    assert time.monotonic() - started < 120, "keep the crash test short (aim: under a minute)"
