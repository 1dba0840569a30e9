"""gc_phases: a fleet command's start-up collects rarely, its run as before; nothing changes for a library caller.
Each check runs in a fresh interpreter: freezing the test process's own objects would outlive the test."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import gc
from portfleet import gc_phases
default = gc.get_threshold()
gc_phases.started()  # no starting(): a library caller's collector is left alone
assert gc.get_threshold() == default and gc.get_freeze_count() == 0, "started() without starting() changed gc"
gc_phases.starting()
assert gc.get_threshold() == gc_phases.STARTUP_THRESHOLDS
made = [[] for _ in range(1000)]  # start-up's objects
gc_phases.started()
assert gc.get_threshold() == default, gc.get_threshold()
assert gc.get_freeze_count() >= 1000, gc.get_freeze_count()
frozen = gc.get_freeze_count()
gc.set_threshold(123)
gc_phases.started()  # once only
assert gc.get_threshold()[0] == 123 and gc.get_freeze_count() == frozen
print("ok")
"""


def test_startup_thresholds_are_restored_and_startup_objects_frozen_once():
    proc = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "ok\n", proc.stderr


def test_only_commands_that_end_get_the_startup_thresholds():
    probe = ("import gc, sys; from portfleet.cli import app; sys.argv = ['portfleet', sys.argv[1], '--help'];\n"
             "try: app.main()\nexcept SystemExit: pass\nprint(gc.get_threshold() == (50_000, 50, 100))")
    got = {command: subprocess.run([sys.executable, "-c", probe, command], capture_output=True, text=True,
                                   timeout=60).stdout.splitlines()[-1]
           for command in ("audit", "lab", "demo")}
    # `audit --help` never reaches a fan-out, so its start-up settings are still in place when it exits.
    assert got == {"audit": "True", "lab": "False", "demo": "False"}
