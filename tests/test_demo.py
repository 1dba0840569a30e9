"""`portfleet demo` as a newcomer runs it: it never deletes what it did not make, and every command it
prints can be typed again as printed (relative paths as given, the state named, no site-packages path).
"""

from __future__ import annotations

import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path

MARKER = ".portfleet-demo"


def demo(cwd: Path, *args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ, COLUMNS="80", **env)
    full_env.pop("CI", None)
    full_env.pop("PORTFLEET_STATE", None)
    return subprocess.run([sys.executable, "-m", "portfleet", "demo", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=timeout)


def as_typed(line: str) -> list[str]:
    """A printed `portfleet ...` command as the shell would run it (portfleet = this interpreter's)."""
    words = shlex.split(line)
    assert words[0] == "portfleet", line
    return [sys.executable, "-m", "portfleet", *words[1:]]


def test_a_non_empty_directory_the_demo_did_not_make_is_refused_untouched(tmp_path):
    mine = tmp_path / "projects"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    (mine / "state.db").write_text("not the demo's")
    proc = demo(tmp_path, "--workdir", "projects", "--hosts", "6")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--workdir projects is not empty and was not made by `portfleet demo`" in proc.stderr
    assert f"no {MARKER} file" in proc.stderr and "nothing in it was deleted" in proc.stderr
    assert sorted(p.name for p in mine.iterdir()) == ["state.db", "thesis.tex"]
    assert (mine / "thesis.tex").read_text() == "years of work" and (mine / "state.db").read_text() == "not the demo's"

    (tmp_path / "afile").write_text("x")
    proc = demo(tmp_path, "--workdir", "afile", "--hosts", "6")
    assert proc.returncode == 2 and "--workdir afile is not a directory" in proc.stderr
    assert (tmp_path / "afile").read_text() == "x"


def test_a_directory_the_demo_made_loses_only_the_demos_files(tmp_path):
    work = tmp_path / "portfleet-demo"
    (work / "lab-state" / "hosts").mkdir(parents=True)
    (work / "lab-state" / "fleet.json").write_text("{}")
    for name in (MARKER, "state.db", "state.db-wal", "lab-inventory.yml", "lab-inventory-krb5.conf", "lab.log"):
        (work / name).write_text("old")
    (work / "my-notes.txt").write_text("keep me")
    # The lab refuses --kerberos without a KDC: the demo stops (exit 2) right after its reset.
    empty = tmp_path / "no-krb5"
    empty.mkdir()
    proc = demo(tmp_path, "--kerberos", "--hosts", "6", PORTFLEET_LAB_KRB5_PATH=str(empty))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "kept in portfleet-demo (not made by the demo): my-notes.txt" in proc.stdout
    assert (work / "my-notes.txt").read_text() == "keep me"
    left = {p.name for p in work.iterdir()}
    assert {"state.db", "state.db-wal", "lab-inventory-krb5.conf"}.isdisjoint(left)
    assert not (work / "lab-state" / "fleet.json").exists()  # the old fleet is gone; the lab made none
    assert (work / MARKER).is_file() and (work / "port-exhaustion.yml").is_file()


def test_the_tour_prints_commands_that_run_as_printed(tmp_path):
    proc = demo(tmp_path, "--hosts", "6")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    out = proc.stdout
    assert "site-packages" not in out and str(tmp_path) not in out  # paths as the user gave them
    steps = [line[2:] for line in out.splitlines() if line.startswith("$ portfleet ")]
    assert len(steps) == 10, out  # steps 2-11 (step 1 starts the lab)
    for step in steps:
        words = shlex.split(step)
        for flag in ("-i", "-p", "--state"):
            if flag in words:
                assert (tmp_path / words[words.index(flag) + 1]).exists(), step
        if words[1] in ("audit", "apply", "reboot", "runs"):
            assert words[words.index("--state") + 1] == "portfleet-demo/state.db", step
    assert "portfleet audit -i portfleet-demo/lab-inventory.yml -p portfleet-demo/port-exhaustion.yml " \
           "--state portfleet-demo/state.db" in steps
    assert (tmp_path / "portfleet-demo" / MARKER).is_file()
    assert not (tmp_path / ".portfleet").exists()  # nothing went to the default state store

    # The closing "try it yourself" lines, typed as printed: the lab comes back with its fleet, the
    # audit finds every host compliant and is recorded in the state the demo used.
    tail = out[out.index("Try it yourself"):].splitlines()
    serve_line = next(line.strip() for line in tail if line.strip().startswith("portfleet lab serve"))
    serve_line = serve_line.split("   (in another terminal)")[0]
    audit_line = next(line.strip() for line in tail if line.strip().startswith("portfleet audit"))
    runs_line = next(line.strip() for line in tail if line.strip().startswith("portfleet runs list"))
    env = dict(os.environ)
    env.pop("PORTFLEET_STATE", None)
    env.pop("CI", None)
    lab = subprocess.Popen(as_typed(serve_line), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=env)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert lab.stdout is not None
        for line in lab.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        while True:
            line = lines.get(timeout=60)
            assert line is not None, lab.communicate(timeout=10)
            if line.startswith("ready"):
                assert line.startswith("ready: 6 hosts"), line
                break
        audited = subprocess.run(as_typed(audit_line), cwd=tmp_path, capture_output=True, text=True, env=env,
                                 timeout=300)
        assert audited.returncode == 0, audited.stdout + audited.stderr
        runs = subprocess.run([*as_typed(runs_line), "--format", "json"], cwd=tmp_path, capture_output=True,
                              text=True, env=env, timeout=60)
        assert runs.returncode == 0 and runs.stdout.count('"kind": "audit"') == 4, runs.stdout
    finally:
        lab.send_signal(signal.SIGTERM)
        assert lab.wait(30) == 0
