"""Executable inventory scripts: Ansible's script inventory plugin, protocol and all.

https://docs.ansible.com/ansible/latest/dev_guide/developing_inventory.html#inventory-script-conventions
The script is run as ``SCRIPT --list`` and prints the groups as JSON (json_inventory.py). If that has
``_meta.hostvars``, those are the host vars; if not, Ansible's older protocol: ``SCRIPT --host NAME``
for each host, printing that host's vars (nothing at all meaning none).

Which files are scripts: Ansible's script plugin takes any executable file and, when running it
fails, falls back to reading it as YAML or INI. portfleet takes an executable file as a script when
it can be run -- it starts with ``#!`` or is an ELF binary -- and reads any other file as data, which
is where Ansible ends up for those. Differences, on purpose: a deadline (PORTFLEET_INVENTORY_TIMEOUT,
120 s by default; Ansible waits for ever), stdin closed, and a script that fails, times out or prints
something that is not the protocol's JSON is an error (exit 2) naming the script, its exit code and
the first lines of its stderr, with anything that looks like a password masked -- where Ansible
warns and leaves the script's hosts out of the run.
"""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from portfleet.inventory.bounded_run import Finished, RunFailed, run_bounded, timeout_from_env
from portfleet.inventory.builder import InventoryBuilder
from portfleet.inventory.errors import InventoryError
from portfleet.inventory.json_inventory import JsonInventory, parse_json
from portfleet.inventory.vault_secrets import VaultKeyring

SCRIPT_MAGIC = (b"#!", b"\x7fELF")
HOST_QUERIES_AT_ONCE = 4  # `--host NAME` runs in parallel (Ansible runs them one after another)


def is_executable_file(path: Path) -> bool:
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode) and os.access(path, os.X_OK)


def starts_like_a_program(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError:
        return False
    return head.startswith(SCRIPT_MAGIC)


def is_inventory_script(path: Path) -> bool:
    """An executable file that can be run (a #! script or an ELF binary)."""
    return is_executable_file(path) and starts_like_a_program(path)


def _run(path: Path, args: list[str], timeout: float, what: str) -> Finished:
    try:
        # Absolute, as Ansible runs it: a bare 'inv.py' would be looked up on PATH instead.
        done = run_bounded([os.path.abspath(path), *args], timeout)
    except RunFailed as exc:
        raise InventoryError(f"inventory script ({what}): {exc}", path) from None
    if done.returncode != 0:
        status = f"exit code {done.returncode}" if done.returncode > 0 else f"killed by signal {-done.returncode}"
        head = done.stderr_head()
        said = f"; its stderr began:\n{head}" if head else " and printed nothing on stderr"
        raise InventoryError(f"inventory script ({what}) failed with {status}{said}", path)
    return done


def parse_script(path: Path, builder: InventoryBuilder, keyring: VaultKeyring | None = None) -> None:
    """Run the inventory script at ``path`` and add what it prints to ``builder``."""
    timeout = timeout_from_env()
    listed = _run(path, ["--list"], timeout, "--list")
    reader = JsonInventory(builder, path, keyring, "the inventory script's --list output")
    hostvars = reader.groups(parse_json(listed.stdout, "the inventory script's --list output", path))
    hosts = list(reader.hosts)
    if hostvars is not None:
        for host in hosts:
            reader.host_vars(host, hostvars.get(host, {}), "in _meta.hostvars")
        return
    # No _meta.hostvars: one `--host NAME` per host, as Ansible does (it calls that deprecated).
    with ThreadPoolExecutor(max_workers=HOST_QUERIES_AT_ONCE) as pool:
        answers = list(pool.map(lambda host: _host_vars(path, host, timeout), hosts))
    for host, variables in zip(hosts, answers):
        reader.host_vars(host, variables, "from --host")


def _host_vars(path: Path, host: str, timeout: float) -> Any:
    done = _run(path, ["--host", host], timeout, f"--host {host}")
    if not done.stdout.strip():
        return {}
    return parse_json(done.stdout, f"the inventory script's --host {host} output", path)
