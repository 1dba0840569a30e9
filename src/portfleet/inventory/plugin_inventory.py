"""Inventory plugin configurations (a YAML file with ``plugin:``): evaluated by Ansible itself.

aws_ec2.yml, azure_rm.yml, constructed.yml ... are configurations of Ansible plugins, with Ansible's
templating, caching, credentials and collections behind them; portfleet does not reimplement them.
It runs ``ansible-inventory -i SOURCE --list`` (a separate process: portfleet itself needs no
Ansible) and reads the JSON it prints. Without Ansible, the error names the file and what to install.

Which files: Ansible's ``auto`` plugin reads a ``.yml``/``.yaml`` file whose top-level ``plugin`` key
names the plugin; a YAML inventory can't have a top-level group named 'plugin' (Ansible's yaml plugin
refuses it as a plugin configuration), so that key decides.

ansible-inventory is found as PORTFLEET_ANSIBLE_INVENTORY (a path), else on PATH, else beside
portfleet's Python (a virtualenv that is not activated). It runs with
ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED, so a source Ansible can't read is an error rather than a
warning and hosts silently missing; the run's vault passwords are handed on (vault_handoff.py).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from portfleet.inventory.bounded_run import RunFailed, run_bounded, stderr_head, timeout_from_env
from portfleet.inventory.errors import InventoryError
from portfleet.inventory.json_inventory import parse_json
from portfleet.inventory.vault_handoff import vault_id_arguments
from portfleet.inventory.vault_secrets import VaultKeyring
from portfleet.inventory.yamlsrc import line_of, load_mapping, mapping_items

PLUGIN_SUFFIXES = (".yml", ".yaml")
COMMAND_ENV = "PORTFLEET_ANSIBLE_INVENTORY"
_PLUGIN_KEY = re.compile(rb"""(?m)^["']?plugin["']?[ \t]*:""")
# Plugin (short name) -> (collection, Python packages it needs), for the install hint.
_NEEDS: dict[str, tuple[str, str]] = {
    "aws_ec2": ("amazon.aws", "boto3 botocore"),
    "aws_rds": ("amazon.aws", "boto3 botocore"),
    "azure_rm": ("azure.azcollection", "-r ~/.ansible/collections/ansible_collections/azure/azcollection/requirements.txt"),
    "gcp_compute": ("google.cloud", "google-auth requests"),
    "vmware_vm_inventory": ("community.vmware", "pyvmomi"),
    "hcloud": ("hetzner.hcloud", "hcloud"),
    "openstack": ("openstack.cloud", "openstacksdk"),
    "netbox": ("netbox.netbox", "pynetbox"),
    "nmap": ("community.general", ""),
    "proxmox": ("community.general", "proxmoxer requests"),
    "foreman": ("theforeman.foreman", "requests"),
    "k8s": ("kubernetes.core", "kubernetes"),
}
_BUILTIN = ("constructed", "generator", "advanced_host_list", "host_list", "script", "yaml", "ini", "toml", "auto")
# Set for ansible-inventory: fail on a source it can't read; no colour codes in its messages. The vault
# variables are dropped: the passwords are handed on as --vault-id (a 'prompt' there would hang).
_ENV_SET = {
    "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
    "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "True",
    "ANSIBLE_NOCOLOR": "1",
}
_ENV_DROPPED = ("ANSIBLE_VAULT_PASSWORD_FILE", "ANSIBLE_VAULT_IDENTITY_LIST", "ANSIBLE_ASK_VAULT_PASS", "ANSIBLE_FORCE_COLOR")


def plugin_of(path: Path) -> tuple[str, int] | None:
    """(plugin name, line of ``plugin:``) if ``path`` is an inventory plugin configuration, else None."""
    if path.suffix.lower() not in PLUGIN_SUFFIXES:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None  # the format parser reports an unreadable file
    # 'plugin:' at the start of a line; a small file may also say it in flow style ({plugin: x}).
    if not _PLUGIN_KEY.search(data) and not (len(data) < 1_000_000 and b"plugin" in data[:4096]):
        return None
    try:
        root, loader = load_mapping(path, "an inventory plugin configuration")
    except InventoryError:
        return None  # not YAML after all: the format parsers say what is wrong, at its line
    if root is None:
        return None
    for key, key_node, value_node in mapping_items(root, loader, path):
        if key == "plugin":
            name = getattr(value_node, "value", None)
            if not isinstance(name, str) or not name.strip():
                raise InventoryError("'plugin:' must name an inventory plugin, e.g. plugin: amazon.aws.aws_ec2", path, line_of(key_node))
            return name.strip(), line_of(key_node)
    return None


def install_hint(plugin: str) -> str:
    parts = plugin.split(".")
    short = parts[-1]
    collection, packages = _NEEDS.get(short, ("", ""))
    if len(parts) >= 3 and parts[0] != "ansible":
        collection = ".".join(parts[:2])
    steps = ["pip install ansible-core"]
    if collection and short not in _BUILTIN:
        steps.append(f"ansible-galaxy collection install {collection}")
    if packages:
        steps.append(f"pip install {packages}")
    return "; ".join(steps)


def find_ansible_inventory() -> str | None:
    named = os.environ.get(COMMAND_ENV)
    if named is not None:
        path = Path(named).expanduser()
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    found = shutil.which("ansible-inventory")
    if found:
        return found
    beside = Path(sys.executable).parent / "ansible-inventory"
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


def missing_ansible(source: Path, plugin_file: Path, plugin: str, line: int) -> InventoryError:
    how = install_hint(plugin)
    where = f" ({COMMAND_ENV} names {os.environ[COMMAND_ENV]!r}, not an executable)" if COMMAND_ENV in os.environ else ""
    return InventoryError(
        f"this is an inventory plugin configuration (plugin: {plugin}), which Ansible evaluates: portfleet runs "
        f"`ansible-inventory -i {source} --list`, and ansible-inventory was not found{where}. Install what "
        f"it needs ({how}), or export a static inventory where Ansible is installed: "
        f"ansible-inventory -i {source} --list --yaml > hosts.yml",
        plugin_file,
        line,
    )


def run_ansible_inventory(source: Path, plugin_file: Path, plugin: str, line: int,
                          keyring: VaultKeyring | None) -> dict[str, Any]:
    """What `ansible-inventory -i SOURCE --list` prints, parsed; InventoryError if it fails."""
    command = find_ansible_inventory()
    if command is None:
        raise missing_ansible(source, plugin_file, plugin, line)
    env = {k: v for k, v in os.environ.items() if k not in _ENV_DROPPED}
    env.update(_ENV_SET)
    timeout = timeout_from_env()
    with vault_id_arguments(keyring) as vault_args:
        try:
            done = run_bounded([command, "-i", str(source), "--list", *vault_args], timeout, env)
        except RunFailed as exc:
            raise InventoryError(f"ansible-inventory (for the {plugin!r} plugin configuration): {exc}", plugin_file, line) from None
    if done.returncode != 0:
        said = _ansible_said(done.stderr)
        lacking = "unknown plugin" in said or "Error loading plugin" in said
        hint = f": Ansible lacks the plugin {plugin!r} ({install_hint(plugin)})" if lacking else ""
        raise InventoryError(
            f"this inventory plugin configuration (plugin: {plugin}) is evaluated by "
            f"`ansible-inventory -i {source} --list`, which failed with exit code {done.returncode}{hint}"
            + (f"; it said:\n{said}" if said else ""),
            plugin_file,
            line,
        )
    document = parse_json(done.stdout, "the output of ansible-inventory --list", plugin_file)
    if not isinstance(document, dict):
        raise InventoryError("ansible-inventory --list printed no JSON mapping", plugin_file, line)
    return document


def _ansible_said(stderr: bytes) -> str:
    """Ansible's error lines (not its context dumps, which may quote a file's text), secrets masked."""
    lines = stderr.decode("utf-8", errors="replace").splitlines()
    wanted = [ln for ln in lines if ln.startswith(("[ERROR]", "ERROR!")) or "unknown plugin" in ln
              or ln.startswith("[WARNING]: Failed to parse")]
    return stderr_head("\n".join(wanted).encode(), 6) if wanted else stderr_head(stderr, 6)
