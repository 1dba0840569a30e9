"""`portfleet demo --kerberos`: the whole tour on a domain fleet, every step a real command over Kerberos."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from portfleet_lab.kdc import find_tool

pytest.importorskip("kerberos", reason="the kerberos extra is not installed: pip install '.[kerberos]'")
pytest.importorskip("gssapi", reason="the kerberos extra is not installed: pip install '.[kerberos]'")
if find_tool("krb5kdc") is None or find_tool("kadmin.local") is None:
    pytest.skip("MIT Kerberos KDC not installed: apt-get install krb5-kdc krb5-admin-server krb5-user",
                allow_module_level=True)


def demo(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ, COLUMNS="200", **env)
    full_env.pop("CI", None)
    return subprocess.run([sys.executable, "-m", "portfleet", "demo", *args, "--workdir", str(tmp_path / "demo")],
                          capture_output=True, text=True, env=full_env, timeout=600)


def test_demo_tours_a_kerberos_fleet(tmp_path):
    proc = demo(tmp_path, "--kerberos", "--hosts", "6")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    conf = tmp_path / "demo" / "lab-inventory-krb5.conf"
    steps = [line for line in proc.stdout.splitlines() if line.startswith(f"$ KRB5_CONFIG={conf} portfleet ")]
    assert len(steps) >= 8, proc.stdout
    assert "every host compliant (exit 0)" in proc.stdout
    assert proc.stdout.rstrip().count("(exit 0)") >= 2
    log = (tmp_path / "demo" / "lab-state" / "kerberos" / "krb5kdc.log").read_text()
    contacting = [s for s in steps if " inventory list " not in s]
    # One ticket-granting ticket per command that talks to hosts (managed kinit, once per principal per run).
    assert sum(1 for line in log.splitlines() if "ISSUE" in line and "for krbtgt/" in line) == len(contacting)
    assert "for HTTP/web-01.portfleet.test@PORTFLEET.TEST" in log
    assert "Traceback" not in proc.stdout + proc.stderr


def test_demo_kerberos_without_a_kdc_exits_2_saying_what_to_install(tmp_path):
    empty = tmp_path / "no-krb5"
    empty.mkdir()
    proc = demo(tmp_path, "--kerberos", "--hosts", "6", PORTFLEET_LAB_KRB5_PATH=str(empty))
    assert proc.returncode == 2
    assert "apt-get install krb5-kdc krb5-admin-server krb5-user" in proc.stdout + proc.stderr
