"""`portfleet inventory list|graph|host`: what people and machines see, exit codes, no secrets."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from portfleet.cli.app import app

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()

INVENTORY = """
all:
  vars:
    ansible_user: admin
  children:
    windows:
      vars:
        ansible_connection: winrm
        ansible_password: Hunter2-inline-secret
        api_token: tok-SECRET-42
      children:
        web:
          hosts:
            web[01:03]:
              ansible_port: 5985
        db:
          hosts:
            db01:
              ansible_host: 10.0.0.5
    linux:
      hosts:
        lx01:
          ansible_ssh_private_key_file: ~/.ssh/id_ed25519
          portfleet_password_env: PF_CLI_TEST_PW
"""


@pytest.fixture()
def inv_file(tmp_path: Path) -> Path:
    path = tmp_path / "hosts.yml"
    path.write_text(textwrap.dedent(INVENTORY), encoding="utf-8")
    return path


def run(*args: str):
    return runner.invoke(app, ["inventory", *args])


def test_list_table_for_people(inv_file):
    result = run("list", "-i", str(inv_file))
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert f"{inv_file}: 5 hosts" in out
    for expected in ("web01", "web01:5985", "winrm/http/ntlm", "10.0.0.5:5986", "winrm/https/ntlm", "lx01:22", "ssh", "db, windows"):
        assert expected in out, expected
    assert "Hunter2" not in out and "tok-SECRET" not in out


def test_list_with_limit_and_vars_masks_secrets(inv_file):
    result = run("list", "-i", str(inv_file), "-l", "windows:!web02:!web03", "--vars")
    assert result.exit_code == 0, result.stderr
    title, out = result.stdout.split("\n", 1)
    assert title.endswith("2 hosts matching 'windows:!web02:!web03'")
    assert "web01" in out and "db01" in out and "web02" not in out and "lx01" not in out
    assert "ansible_password=***" in out and "api_token=***" in out and "ansible_user=admin" in out
    assert "Hunter2" not in out and "tok-SECRET" not in out


def test_list_json_schema(inv_file):
    result = run("list", "-i", str(inv_file), "--format", "json", "-l", "db01,lx01")
    assert result.exit_code == 0, result.stderr
    assert "Hunter2" not in result.stdout and "tok-SECRET" not in result.stdout
    doc = json.loads(result.stdout)
    assert doc["inventory"] == str(inv_file) and doc["limit"] == "db01,lx01" and doc["warnings"] == []
    db, lx = doc["hosts"]
    assert db.pop("sources")["ansible_host"] == {"file": str(inv_file), "line": 19, "vault": None, "template": False}
    assert db == {
        "name": "db01",
        "address": "10.0.0.5",
        "port": 5986,
        "connection": "winrm",
        "scheme": "https",
        "user": "admin",
        "platform": "windows",
        "password_source": "inventory:ansible_password",
        "groups": ["all", "db", "windows"],
        "vars": {
            "ansible_connection": "winrm",
            "ansible_host": "10.0.0.5",
            "ansible_password": "***",
            "ansible_user": "admin",
            "api_token": "***",
        },
    }
    assert (lx["port"], lx["scheme"], lx["platform"], lx["password_source"]) == (22, None, None, "env:PF_CLI_TEST_PW")
    assert lx["vars"]["ansible_ssh_private_key_file"] == "~/.ssh/id_ed25519"
    groups = doc["groups"]
    assert groups["windows"] == {
        "hosts": [],
        "children": ["web", "db"],
        "vars": {"ansible_connection": "winrm", "ansible_password": "***", "api_token": "***"},
    }
    assert groups["db"]["hosts"] == ["db01"] and groups["web"]["hosts"] == []  # hosts outside the limit left out
    assert set(groups) == {"all", "ungrouped", "windows", "web", "db", "linux"}


def test_bad_inventory_exits_2_with_file_and_line_on_stderr(tmp_path):
    bad = tmp_path / "hosts.ini"
    bad.write_text("[web]\nweb01 ansible_password=Hunter2-inline-secret\nweb[05:01]\n", encoding="utf-8")
    result = run("list", "-i", str(bad))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"error: {bad}:3: bad host range 'web[05:01]': start is after end (write web[01:05])\n"


def test_pattern_matching_nothing_exits_2(inv_file):
    result = run("list", "-i", str(inv_file), "-l", "webz")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {inv_file}: no host or group matches 'webz' (did you mean: web")


def test_missing_inventory_exits_2(tmp_path):
    result = run("list", "-i", str(tmp_path / "nope.yml"))
    assert result.exit_code == 2 and "no such inventory file or directory" in result.stderr


def test_warnings_go_to_stderr_and_json_stays_clean(tmp_path):
    path = tmp_path / "hosts.ini"
    path.write_text("[web]\nw1\n[web:vars]\nnote=hello # not a comment here\n", encoding="utf-8")
    result = run("list", "-i", str(path), "--format", "json")
    assert result.exit_code == 0
    assert "warning:" in result.stderr and "everything after '=' is the value" in result.stderr
    assert json.loads(result.stdout)["hosts"][0]["vars"] == {"note": "hello # not a comment here"}


def test_graph_like_ansible_inventory(inv_file):
    result = run("graph", "-i", str(inv_file))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "@all:",
        "  |--@linux:",
        "  |  |--lx01",
        "  |--@ungrouped:",
        "  |--@windows:",
        "  |  |--@db:",
        "  |  |  |--db01",
        "  |  |--@web:",
        "  |  |  |--web01",
        "  |  |  |--web02",
        "  |  |  |--web03",
    ]
    result = run("graph", "-i", str(inv_file), "--vars", "windows")
    assert result.exit_code == 0
    assert "  |  |  |--{ansible_host = 10.0.0.5}" in result.stdout
    assert "  |--{ansible_password = ***}" in result.stdout and "Hunter2" not in result.stdout
    assert run("graph", "-i", str(inv_file), "nosuch").exit_code == 2


def test_host_shows_merged_vars_and_where_they_came_from(inv_file):
    result = run("host", "-i", str(inv_file), "web02")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["port"] == 5985 and doc["scheme"] == "http" and doc["vars"]["ansible_password"] == "***"
    assert doc["origins"]["ansible_port"] == f"{inv_file}:15"  # line 1 of the file is blank
    assert doc["origins"]["ansible_user"] == f"{inv_file}:4"
    assert "Hunter2" not in result.stdout
    assert run("host", "-i", str(inv_file), "web09").exit_code == 2


def test_every_command_and_option_has_help():
    result = run("--help")
    assert result.exit_code == 0
    for command in ("list", "graph", "host"):
        help_text = run(command, "--help")
        assert help_text.exit_code == 0
        assert "--inventory" in help_text.stdout


def test_shipped_examples_list_through_the_real_console_entry(tmp_path):
    # The way a user runs it: a new process, output piped.
    for inventory in ("inventory/example.yml", "inventory/example.ini", "inventory/fleet"):
        proc = subprocess.run(
            [sys.executable, "-m", "portfleet", "inventory", "list", "-i", inventory, "--format", "json"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        assert doc["inventory"] == inventory and len(doc["hosts"]) >= 9
    proc = subprocess.run(
        [sys.executable, "-m", "portfleet", "inventory", "list", "-i", "inventory/example.yml", "-l", "nosuchgroup"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: inventory/example.yml: no host or group matches")
