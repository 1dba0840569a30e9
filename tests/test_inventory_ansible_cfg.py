"""ansible.cfg's vault settings, found and read as Ansible finds and reads them, checked against the real
ansible-inventory on the same files: which file is read ($ANSIBLE_CONFIG, ./ansible.cfg unless the directory is
world-writable, ~/.ansible.cfg), a relative vault_password_file resolved against the file's directory, the
variables beating the file, and a broken file refused with file:line and no secret."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from test_inventory_vault_cli import VAULT_PASSWORD, WINRM_SECRET, assert_no_secret, make_inventory, portfleet
from test_inventory_vault_tools import Ansible, tool, write

NO_PASSWORD = "the file is vault-encrypted (vault id 'lab') and no vault password was given"


@pytest.fixture(scope="module")
def ansible(tmp_path_factory: pytest.TempPathFactory) -> Ansible:
    return Ansible(tmp_path_factory.mktemp("ansible-home"))


@pytest.fixture
def project(tmp_path: Path, ansible: Ansible) -> dict[str, Path]:
    """A team repository: the inventory (WinRM password in a vault file, id 'lab'), the vault password in
    secrets/, an ansible.cfg naming it relative to itself, and an unrelated working directory."""
    repo = tmp_path / "repo"
    files = make_inventory(repo, ansible, {"web01": ("10.0.0.1", 5985)}, WINRM_SECRET)
    cfg = write(repo / "ansible.cfg", "[defaults]\n; the team's settings\nvault_password_file = secrets/vault-pass.txt"
                " ; relative to this file\nforks = 20\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    return {**files, "repo": repo, "cfg": cfg, "elsewhere": elsewhere, "home": tmp_path / "home"}


def ansible_decrypts(ansible: Ansible, project: dict[str, Path], cwd: Path, env: dict[str, str]) -> bool:
    """Whether the real ansible-inventory, run like this, reads the vaulted password (its own config lookup)."""
    # The sandbox's own ANSIBLE_CONFIG is left out: the lookup under test is Ansible's.
    full = {k: v for k, v in ansible.env.items() if k != "ANSIBLE_CONFIG"}
    full.update(HOME=str(project["home"]), **env)
    done = subprocess.run([tool("ansible-inventory"), "-i", str(project["inventory"]), "--host", "web01"],
                          capture_output=True, text=True, cwd=cwd, env=full, timeout=120, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        return False
    return json.loads(done.stdout).get("vault_winrm_password") == WINRM_SECRET


def portfleet_sources(project: dict[str, Path], cwd: Path, env: dict[str, str]):
    proc = portfleet("inventory", "list", "-i", str(project["inventory"]), "--format", "json", cwd=cwd,
                     env={"HOME": str(project["home"]), **env})
    assert_no_secret(proc, WINRM_SECRET, VAULT_PASSWORD)
    return proc


def test_vault_password_file_from_ansible_config_is_relative_to_the_file_as_in_ansible(ansible, project):
    env = {"ANSIBLE_CONFIG": str(project["cfg"])}
    assert ansible_decrypts(ansible, project, project["elsewhere"], env)
    proc = portfleet_sources(project, project["elsewhere"], env)
    assert proc.returncode == 0, proc.stderr
    (host,) = json.loads(proc.stdout)["hosts"]
    assert host["sources"]["vault_winrm_password"]["vault"] == "lab" and host["vars"]["ansible_password"] == "***"
    # The same from the repository itself, with no variable: ./ansible.cfg is found.
    assert ansible_decrypts(ansible, project, project["repo"], {})
    assert portfleet_sources(project, project["repo"], {}).returncode == 0
    # And from anywhere else with no variable and no ~/.ansible.cfg: no password, for both.
    assert not ansible_decrypts(ansible, project, project["elsewhere"], {})
    proc = portfleet_sources(project, project["elsewhere"], {})
    assert proc.returncode == 2 and NO_PASSWORD in proc.stderr, proc.stderr


def test_home_config_and_a_directory_in_ansible_config_are_found(ansible, project):
    home = project["home"]
    home.mkdir()
    write(home / ".ansible.cfg", f"[defaults]\nvault_password_file = {project['pw']}\n")
    assert ansible_decrypts(ansible, project, project["elsewhere"], {})
    assert portfleet_sources(project, project["elsewhere"], {}).returncode == 0
    (home / ".ansible.cfg").unlink()
    env = {"ANSIBLE_CONFIG": str(project["repo"])}  # a directory: its ansible.cfg
    assert ansible_decrypts(ansible, project, project["elsewhere"], env)
    assert portfleet_sources(project, project["elsewhere"], env).returncode == 0


def test_the_variable_beats_the_file_and_errors_name_where_the_password_came_from(ansible, project, tmp_path):
    wrong = write(tmp_path / "wrong.txt", "not-the-password\n")
    env = {"ANSIBLE_CONFIG": str(project["cfg"]), "ANSIBLE_VAULT_PASSWORD_FILE": str(wrong)}
    assert not ansible_decrypts(ansible, project, project["elsewhere"], env)
    proc = portfleet_sources(project, project["elsewhere"], env)
    assert proc.returncode == 2 and "can't decrypt the vault-encrypted file (vault id 'lab')" in proc.stderr
    write(project["cfg"], "[defaults]\nvault_password_file = nope.txt\n")
    proc = portfleet_sources(project, project["elsewhere"], {"ANSIBLE_CONFIG": str(project["cfg"])})
    assert proc.returncode == 2
    assert (f"{project['repo'] / 'nope.txt'}: the vault password file given by vault_password_file in "
            f"{project['cfg']} does not exist") in proc.stderr, proc.stderr


def test_a_world_writable_working_directory_is_not_trusted_for_its_ansible_cfg(ansible, project):
    os.chmod(project["repo"], 0o777)
    try:
        assert not ansible_decrypts(ansible, project, project["repo"], {})
        proc = portfleet_sources(project, project["repo"], {})
        assert proc.returncode == 2 and NO_PASSWORD in proc.stderr, proc.stderr
        assert f"note: {project['cfg']} is ignored, as Ansible ignores it" in " ".join(proc.stderr.split())
    finally:
        os.chmod(project["repo"], 0o755)


@pytest.mark.parametrize("text, line, says", [
    ("vault_password_file = x\n", 1, "a setting comes before any [section] header"),
    ("[defaults]\nbecome_password hunter2-secret\n", 2, "this line is neither a [section], a key = value"),
    ("[defaults]\nforks = 5\nforks = 6\n", 3, "forks is set twice in [defaults]"),
    ("[defaults]\n[defaults]\n", 2, "the section [defaults] is there twice"),
    ("[defaults]\nvault_password_file = 100%-hunter2-secret\n", None, "the value of vault_password_file in [defaults] has a % that is not %%"),
])
def test_a_broken_ansible_cfg_is_refused_like_ansible_with_file_line_and_no_text_of_it(ansible, project, text,
                                                                                          line, says):
    write(project["cfg"], text)
    env = {"ANSIBLE_CONFIG": str(project["cfg"])}
    assert not ansible_decrypts(ansible, project, project["elsewhere"], env)  # Ansible stops on it too
    proc = portfleet_sources(project, project["elsewhere"], env)
    assert proc.returncode == 2, proc.stderr
    where = f"{project['cfg']}:{line}: " if line else f"{project['cfg']}: "
    assert where + "the Ansible configuration can't be read as Ansible reads it: " + says in proc.stderr, proc.stderr
    assert "hunter2" not in proc.stderr and "Traceback" not in proc.stderr
