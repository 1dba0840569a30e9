"""`lab serve` on a state directory that already holds a fleet: served as it was made, or refused.

Options that contradict the stored fleet (--hosts, --first-address, --profile, --seed) are refused
with exit 2 naming the directory and how to start afresh, never silently ignored; a lab still
running from the directory is named with the addresses it really serves.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def serve(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portfleet", "lab", "serve", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=60, env=dict(os.environ, PYTHONUNBUFFERED="1"))


def test_a_stored_fleet_is_served_as_made_and_contradicting_options_are_refused(lab, tmp_path):
    first = lab(hosts=2, seed=3)
    made_at = first.hosts[0]["address"]
    first.stop()
    state = first.state_dir
    octets = made_at.split(".")
    elsewhere = f"127.{octets[1]}.{int(octets[2]) + 100}.1"
    for extra, needle in ((["--hosts", "5"], "made with --hosts 2, not --hosts 5"),
                          (["--hosts", "2", "--first-address", elsewhere],
                           f"made with --first-address {made_at}, not --first-address {elsewhere}"),
                          (["--hosts", "2", "--seed", "4"], "made with --seed 3, not --seed 4"),
                          (["--hosts", "2", "--profile", "tuned"], "made with --profile mixed, not --profile tuned")):
        proc = serve(*extra, "--inventory-out", str(tmp_path / "x.yml"), "--state-dir", str(state), cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert f"{state} already holds a lab fleet of 2 hosts at {made_at}-" in proc.stderr, proc.stderr
        assert needle in proc.stderr and f"rm -r {state}" in proc.stderr and "another --state-dir" in proc.stderr
        assert "ready" not in proc.stdout and not (tmp_path / "x.yml").exists()
    # Leaving the options out (or giving the same values) serves the fleet again, at its own addresses.
    again = lab(hosts=2, seed=3, state_dir=state, workdir=tmp_path / "again")
    assert [h["address"] for h in again.hosts] == [h["address"] for h in first.hosts]


def test_a_second_lab_on_a_running_labs_state_dir_is_refused_naming_its_addresses(lab, tmp_path):
    running = lab(hosts=3)
    addresses = [h["address"] for h in running.hosts]
    proc = serve("--hosts", "3", "--inventory-out", str(tmp_path / "x.yml"), "--state-dir", str(running.state_dir),
                 "--first-address", "127.0.250.1", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert (f"a lab is already running from {running.state_dir} (pid {running.process.pid}, its 3 hosts at "
            f"{addresses[0]}-{addresses[-1]})") in proc.stderr, proc.stderr
    assert f"kill -TERM {running.process.pid}" in proc.stderr
    assert running.running and running.control().status()["pid"] == running.process.pid


def test_a_new_state_dir_needs_hosts(tmp_path):
    proc = serve("--inventory-out", str(tmp_path / "x.yml"), "--state-dir", str(tmp_path / "new"), cwd=tmp_path)
    assert proc.returncode == 2 and "--hosts is needed" in proc.stderr and str(tmp_path / "new") in proc.stderr
