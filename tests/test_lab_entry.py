"""`python -m portfleet_lab serve`: the lab runs on its own, with the portfleet tool out of reach."""

from __future__ import annotations

import os
import subprocess
import sys

import winrm


def test_the_lab_serves_without_the_tool(lab, tmp_path, monkeypatch):
    # A `portfleet` package that refuses to load, first on the path of the lab process: any import of the tool
    # by the lab, however indirect, stops the lab before it prints "ready".
    blocker = tmp_path / "no-tool" / "portfleet"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text('raise ImportError("the lab imported portfleet")\n', encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(blocker.parent), os.environ.get("PYTHONPATH", "")]))

    running = lab(hosts=2, seed=3, entry=("portfleet_lab",))
    assert len(running.hosts) == 2
    assert running.output[-1] == f"ready: 2 hosts, inventory {running.inventory}"
    name = running.hosts[0]["name"]
    protocol = winrm.Protocol(running.url(name), transport="ntlm", username=running.username,
                              password=running.password)
    shell = protocol.open_shell()
    command = protocol.run_command(shell, "hostname")
    stdout, stderr, code = protocol.get_command_output(shell, command)
    protocol.cleanup_command(shell, command)
    protocol.close_shell(shell)
    assert (stdout.decode(), stderr, code) == (name + "\r\n", b"", 0)
    running.stop()  # SIGTERM: exit code 0


def run_lab(*args: str, cwd) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portfleet_lab", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=60)


def test_bad_usage_exits_2_with_the_reason(tmp_path):
    proc = run_lab(cwd=tmp_path)
    assert proc.returncode == 2 and "usage: python -m portfleet_lab" in proc.stderr

    proc = run_lab("serve", "--hosts", "0", "--inventory-out", "inv.yml", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == "python -m portfleet_lab serve: --hosts must be at least 1\n"

    proc = run_lab("serve", "--hosts", "2", "--inventory-out", "inv.yml", "--first-address", "10.0.0.1", cwd=tmp_path)
    assert proc.returncode == 2 and "must be a loopback address" in proc.stderr

    proc = run_lab("serve", "--hosts", "2", "--inventory-out", "inv.yml", "--replay", "web-01=missing.json",
                   cwd=tmp_path)
    assert proc.returncode == 2 and "no capture file" in proc.stderr

    proc = run_lab("serve", "--hosts", "2", "--inventory-out", "inv.yml", "--profile", "nope", cwd=tmp_path)
    assert proc.returncode == 2 and "invalid choice: 'nope'" in proc.stderr
    assert not (tmp_path / "inv.yml").exists() and not (tmp_path / "lab-state").exists()
