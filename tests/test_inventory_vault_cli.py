"""Vault and templated inventories through the CLI as a user runs it (`python -m portfleet ...`):
`inventory list` shows where each value came from, `audit` reaches lab hosts whose password is in
the vault and whose address is a template, and every error exits 2 with file:line and no secret."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from portfleet.resources import playbooks_dir
from test_inventory_vault_tools import Ansible, vault_yaml, write

PLAYBOOK = playbooks_dir() / "port-exhaustion.yml"
VAULT_PASSWORD = "vault-Pa55-for-tests"
WINRM_SECRET = "Inventory-S3cret-Pw"


def portfleet(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    full_env.pop("CI", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "portfleet", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=300, stdin=subprocess.DEVNULL)


def assert_no_secret(proc: subprocess.CompletedProcess[str], *secrets: str) -> None:
    for secret in secrets:
        assert secret not in proc.stdout + proc.stderr, f"secret {secret[:3]}... shown:\n{proc.stdout}\n{proc.stderr}"


@pytest.fixture(scope="module")
def ansible(tmp_path_factory: pytest.TempPathFactory) -> Ansible:
    return Ansible(tmp_path_factory.mktemp("ansible-home"))


def make_inventory(directory: Path, ansible: Ansible, hosts: dict[str, tuple[str, int]], password: str,
                   extra_vars: str = "") -> dict[str, Path]:
    """An inventory directory as an ops team keeps one: hosts.yml with a templated ansible_host, the
    WinRM password in an encrypted group_vars/windows/vault.yml (vault id 'lab'), and one host whose
    password is an inline !vault value (no vault id)."""
    pw_file = write(directory / "secrets" / "vault-pass.txt", VAULT_PASSWORD + "\n")
    names = list(hosts)
    inline = ansible.encrypt_strings({"ansible_password": password}, "--vault-password-file", str(pw_file))["ansible_password"]
    lines = ["all:", "  children:", "    windows:", "      hosts:"]
    for name, (address, port) in hosts.items():
        lines += [f"        {name}:", f"          mgmt_ip: {address}", f"          ansible_port: {port}"]
        if name == names[-1]:
            lines.append(vault_yaml("ansible_password", inline, 10).rstrip("\n"))
    inv = directory / "inventory"
    write(inv / "hosts.yml", "\n".join(lines) + "\n")
    write(inv / "group_vars" / "windows" / "vars.yml", textwrap.dedent("""\
        ansible_connection: winrm
        ansible_winrm_transport: ntlm
        ansible_winrm_scheme: http
        ansible_user: "{{ vault_winrm_user | default('labadmin') }}"
        ansible_host: "{{ mgmt_ip | default(inventory_hostname) }}"
        ansible_password: "{{ vault_winrm_password }}"
        """) + extra_vars)
    vault_file = write(inv / "group_vars" / "windows" / "vault.yml", f"vault_winrm_password: {json.dumps(password)}\n")
    ansible.encrypt_file(vault_file, "--vault-id", f"lab@{pw_file}")
    return {"inventory": inv, "hosts": inv / "hosts.yml", "vault": vault_file, "vars": inv / "group_vars/windows/vars.yml",
            "pw": pw_file}


def test_inventory_list_shows_where_values_come_from_never_the_secrets(tmp_path, ansible):
    files = make_inventory(tmp_path, ansible, {"web01": ("10.0.0.1", 5985), "web02": ("10.0.0.2", 5985)}, WINRM_SECRET)
    env = {"ANSIBLE_VAULT_IDENTITY_LIST": f"lab@{files['pw']}"}
    table = portfleet("inventory", "list", "-i", str(files["inventory"]), "--vars", env=env)
    assert table.returncode == 0, table.stderr
    assert_no_secret(table, WINRM_SECRET, VAULT_PASSWORD)
    assert "10.0.0.1:5985" in table.stdout and "ansible_password=***" in table.stdout
    assert f"vault_winrm_password=***  ({files['vault']}:1 vault lab)" in table.stdout
    assert f"ansible_host=10.0.0.2  ({files['vars']}:5 template)" in table.stdout
    assert f"ansible_password=***  ({files['hosts']}:11 vault default)" in table.stdout  # web02's inline value
    listed = portfleet("inventory", "list", "-i", str(files["inventory"]), "--format", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert_no_secret(listed, WINRM_SECRET, VAULT_PASSWORD)
    web01, web02 = json.loads(listed.stdout)["hosts"]
    assert web01["address"] == "10.0.0.1" and web01["user"] == "labadmin" and web01["vars"]["ansible_password"] == "***"
    assert web01["sources"]["ansible_password"] == {"file": str(files["vars"]), "line": 6, "vault": None, "template": True}
    assert web01["sources"]["vault_winrm_password"] == {"file": str(files["vault"]), "line": 1, "vault": "lab", "template": False}
    assert web02["sources"]["ansible_password"] == {"file": str(files["hosts"]), "line": 11, "vault": "default", "template": False}


def test_error_paths_exit_2_with_file_line_and_no_secret(tmp_path, ansible):
    files = make_inventory(tmp_path, ansible, {"web01": ("10.0.0.1", 5985)}, WINRM_SECRET)
    inv = str(files["inventory"])
    wrong = write(tmp_path / "wrong.txt", "not-it\n")
    failing = write(tmp_path / "pass.sh", "#!/bin/sh\necho 'gpg: decryption failed' >&2\nexit 5\n", mode=0o700)
    cases = [
        ({}, f"{files['vault']}:1: the file is vault-encrypted (vault id 'lab') and no vault password was given"),
        ({"ANSIBLE_VAULT_PASSWORD_FILE": str(wrong)}, f"{files['vault']}:1: can't decrypt the vault-encrypted file (vault id 'lab')"),
        ({"ANSIBLE_VAULT_PASSWORD_FILE": str(failing)}, f"{failing}: the vault password script (ANSIBLE_VAULT_PASSWORD_FILE) failed with exit status 5"),
        ({"ANSIBLE_VAULT_IDENTITY_LIST": f"lab@{tmp_path / 'nope.txt'}"}, "nope.txt: the vault password file given by ANSIBLE_VAULT_IDENTITY_LIST does not exist"),
    ]
    for env, message in cases:
        for args in (("inventory", "list", "-i", inv), ("audit", "-i", inv, "-p", str(PLAYBOOK), "--format", "json")):
            proc = portfleet(*args, env={**env, "PORTFLEET_STATE": str(tmp_path / "state.db")})
            assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
            assert message in proc.stderr, (args, proc.stderr)
            assert "Traceback" not in proc.stderr
            assert_no_secret(proc, WINRM_SECRET, VAULT_PASSWORD)
    # A template that can't be evaluated, and a wrong password for an inline value that a run needs.
    ok_env = {"ANSIBLE_VAULT_IDENTITY_LIST": f"lab@{files['pw']}", "PORTFLEET_STATE": str(tmp_path / "state.db")}
    write(files["vars"], files["vars"].read_text().replace("default(inventory_hostname)", "no_such_filter"))
    proc = portfleet("audit", "-i", inv, "-p", str(PLAYBOOK), env=ok_env)
    assert proc.returncode == 2 and f"{files['vars']}:5: ansible_host for host 'web01': unknown filter 'no_such_filter'" in proc.stderr, proc.stderr
    assert_no_secret(proc, WINRM_SECRET, VAULT_PASSWORD)


def test_vault_flags_parse_as_ansibles_and_prompt_on_a_terminal(tmp_path, ansible):
    files = make_inventory(tmp_path, ansible, {"web01": ("10.0.0.1", 5985)}, WINRM_SECRET)
    script = write(tmp_path / "show.py", textwrap.dedent("""\
        import hashlib
        from pathlib import Path
        import typer
        from portfleet.cli import common as c
        from portfleet.cli.vault_flags import reads_inventory

        @reads_inventory
        def show(inventory: Path, key: str) -> None:
            inv = c.load_inventory_or_exit(inventory)
            print("sha256", hashlib.sha256(inv.hosts[0].vars[key].reveal().encode()).hexdigest(), flush=True)

        typer.run(show)
        """))
    digest = hashlib.sha256(WINRM_SECRET.encode()).hexdigest()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    for flags in (["--vault-id", f"lab@{files['pw']}"], ["--vault-password-file", str(files["pw"])],
                  ["--vault-pass-file", str(files["pw"])], ["--vault-id", "nope@/dev/null", "--vault-id", str(files["pw"])]):
        proc = subprocess.run([sys.executable, str(script), str(files["inventory"]), "vault_winrm_password", *flags],
                              capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)
        if "nope@/dev/null" in flags:  # /dev/null holds nothing: refused, naming it
            assert proc.returncode == 2 and "/dev/null" in proc.stderr, proc.stderr
            continue
        assert proc.returncode == 0 and f"sha256 {digest}" in proc.stdout, (flags, proc.stdout, proc.stderr)
    # --ask-vault-pass / -J on a real terminal (a pty); the typed password is not echoed.
    out = run_on_terminal([sys.executable, str(script), str(files["inventory"]), "vault_winrm_password", "-J"], env,
                          answer_after="Vault password: ", answer=VAULT_PASSWORD)
    assert f"sha256 {digest}" in out and VAULT_PASSWORD not in out, out
    # Without a terminal the prompt is refused, not waited for.
    proc = subprocess.run([sys.executable, str(script), str(files["inventory"]), "vault_winrm_password", "--ask-vault-pass"],
                          capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and "no terminal to ask on" in proc.stderr, proc.stderr


def run_on_terminal(command: list[str], env: dict[str, str], answer_after: str, answer: str, timeout: float = 60) -> str:
    """Run ``command`` on a new pty, type ``answer`` once ``answer_after`` appears; all it printed."""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execve(command[0], command, env)
    seen, answered = b"", False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal: done
                break
            if not chunk:
                break
            seen += chunk
            if not answered and answer_after.encode() in seen:
                os.write(fd, answer.encode() + b"\n")
                answered = True
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    assert answered, seen.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, seen.decode(errors="replace")
    return seen.decode(errors="replace")


def test_audit_reaches_lab_hosts_with_vaulted_password_and_templated_address(lab, tmp_path, ansible):
    running = lab(hosts=3, profile="mixed", seed=3)
    hosts = {h["name"]: (h["address"], h["port"]) for h in running.hosts}
    files = make_inventory(tmp_path, ansible, hosts, running.password,
                           extra_vars=f"vault_winrm_user: {running.username}\n")
    env = {"ANSIBLE_VAULT_IDENTITY_LIST": f"lab@{files['pw']}", "PORTFLEET_STATE": str(tmp_path / "state.db")}
    proc = portfleet("audit", "-i", str(files["inventory"]), "-p", str(PLAYBOOK), "--format", "json", env=env)
    assert proc.returncode in (0, 3), (proc.returncode, proc.stdout, proc.stderr)
    assert_no_secret(proc, running.password, VAULT_PASSWORD)
    report = json.loads(proc.stdout)
    reached = {h["name"]: (h["address"], h["status"]) for h in report["hosts"]}
    assert set(reached) == set(hosts)
    for name, (address, status) in reached.items():
        assert address == hosts[name][0] and status in ("compliant", "drift", "pending_reboot"), (name, status, proc.stdout)
    # What was read is what the lab hosts hold: a real NTLM login with the decrypted password worked.
    control = running.control()
    for host in report["hosts"]:
        params = control.host(host["name"])["registry"]["HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters"]
        read = {row["key"]: row["actual"] for row in host["settings"]}
        held = params.get("TcpTimedWaitDelay")  # [type, value], or absent
        assert read["TcpTimedWaitDelay"] == (held[1] if held else None), (host["name"], read["TcpTimedWaitDelay"], held)
    # Ansible resolves the same addresses and passwords from the same files.
    theirs = ansible.debug(files["inventory"], "[ansible_host, ansible_password == vault_winrm_password]",
                           "--vault-id", f"lab@{files['pw']}")
    assert theirs == {n: [a, True] for n, (a, _) in hosts.items()}
    # The same run without the vault password, or with the wrong one, stops before any host: exit 2.
    wrong = write(tmp_path / "wrong.txt", "nope\n")
    for bad in ({}, {"ANSIBLE_VAULT_IDENTITY_LIST": f"lab@{wrong}"}):
        proc = portfleet("audit", "-i", str(files["inventory"]), "-p", str(PLAYBOOK), env={**bad, "PORTFLEET_STATE": env["PORTFLEET_STATE"]})
        assert proc.returncode == 2 and f"{files['vault']}:1:" in proc.stderr and "vault id 'lab'" in proc.stderr, proc.stderr
        assert_no_secret(proc, running.password, VAULT_PASSWORD)
