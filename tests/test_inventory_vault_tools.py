"""Helpers (no tests here) for the vault and Jinja tests: the real ansible-core tools as subprocesses.

ansible-vault makes the encrypted data; `ansible -m debug` and `ansible-inventory --list` say what
Ansible itself makes of an inventory. They run on the controller only (debug is an action plugin:
no host is contacted), with a config, HOME and temp dirs of their own so nothing of the machine's
ansible setup is read or written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

_BLOCK = re.compile(r"^(\S+) \| (SUCCESS|FAILED!|UNREACHABLE!) => (\{.*?^\})$", re.M | re.S)


def tool(name: str) -> str:
    """The ansible-core tool of the test venv (ansible-core is in the `test` extra)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise AssertionError(f"{name} not found: ansible-core is a test dependency (pip install -e '.[test]')")
    return found


class Ansible:
    """ansible-vault / ansible / ansible-inventory in a sandbox of their own under ``home``."""

    def __init__(self, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        (home / "ansible.cfg").write_text("[defaults]\n", encoding="utf-8")
        (home / "tmp").mkdir(exist_ok=True)
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        self.env.update(
            ANSIBLE_CONFIG=str(home / "ansible.cfg"),
            HOME=str(home),
            ANSIBLE_HOME=str(home / ".ansible"),
            ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_DEPRECATION_WARNINGS="0",
            LC_ALL="C.UTF-8",
        )

    def run(self, name: str, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [tool(name), *args], capture_output=True, text=True, cwd=cwd or self.home,
            env={**self.env, **(env or {})}, timeout=120, stdin=subprocess.DEVNULL,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{name} {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    # -- ansible-vault -------------------------------------------------------------------------
    def encrypt_strings(self, values: dict[str, str], *vault_args: str) -> dict[str, str]:
        """{name: vault text} for each plaintext, from ONE `ansible-vault encrypt_string` run."""
        args: list[str] = ["encrypt_string", *vault_args]
        for name in values:
            args += ["--name", name]
        args += ["--", *values.values()]  # names pair with the strings in order
        out = self.run("ansible-vault", *args).stdout
        texts: dict[str, str] = {}
        for name, block in re.findall(r"^(\S+): !vault \|\n((?:[ \t]+\S.*\n?)+)", out, re.M):
            texts[name] = textwrap.dedent(block).strip() + "\n"
        assert set(texts) == set(values), out
        return texts

    def encrypt_file(self, path: Path, *vault_args: str) -> None:
        self.run("ansible-vault", "encrypt", *vault_args, str(path))
        assert path.read_text(encoding="ascii").startswith("$ANSIBLE_VAULT;"), path

    # -- what Ansible makes of an inventory -----------------------------------------------------
    def debug(self, inventory: Path, expression: str, *args: str, cwd: Path | None = None,
              env: dict[str, str] | None = None) -> dict[str, Any]:
        """{host: the value of ``expression``} from `ansible -i INV all -m debug -a var=EXPR`; a
        host whose value failed maps to AnsibleFailure with Ansible's message."""
        done = self.run("ansible", "-i", str(inventory), "all", "-m", "debug", "-a", json.dumps({"var": expression}),
                        *args, cwd=cwd, env=env, check=False)
        results: dict[str, Any] = {}
        for host, status, body in _BLOCK.findall(done.stdout):
            doc = json.loads(body)
            value = doc.get(expression)
            if status != "SUCCESS" or (isinstance(value, str) and value.startswith("<< error")):
                results[host] = AnsibleFailure(json.dumps(doc) + done.stderr)
            else:
                results[host] = value
        if not results:
            raise AssertionError(f"ansible printed no host result (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
        return results

    def inventory_list(self, inventory: Path, *args: str) -> dict[str, Any]:
        done = self.run("ansible-inventory", "-i", str(inventory), "--list", *args)
        return json.loads(done.stdout)


class AnsibleFailure(str):
    """Ansible's report of a value it could not evaluate."""


def vault_yaml(key: str, text: str, indent: int) -> str:
    """``key: !vault |`` and the vault text under it, at ``indent`` spaces."""
    pad = " " * indent
    return f"{pad}{key}: !vault |\n" + "".join(f"{pad}  {line}\n" for line in text.splitlines())


def write(path: Path, text: str, mode: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if mode is not None:
        path.chmod(mode)
    return path
