"""Ansible-compatible inventory: YAML and INI files, directories, group_vars/host_vars, host ranges,
Ansible's vars precedence and host patterns (``--limit``), Ansible Vault (vault.py, vault_secrets.py,
vaulted.py), Jinja2 in variables, templated lazily per host (resolve.py), and dynamic sources:
inventory scripts (script_inventory.py), comma host lists (host_list.py) and inventory plugin files,
which ansible-inventory evaluates when it is installed (plugin_inventory.py, ansible_result.py).
See loader.py for how a source is read; bounds against bombs in builder.py, ranges.py, yamlsrc.py.

    vault = keyring_from_options(["prod@~/.vault-pass"])     # --vault-id, --vault-password-file, ...
    inv = load_inventory("inventory/example.yml", vault)
    for host in inv.select("windows:!dc*"):
        host.check()                                          # templates/vault values resolved: fail early
        host.address, host.port, host.scheme, host.password  # templated; password: Secret | None
"""

from portfleet.inventory.builder import Origin
from portfleet.inventory.errors import InventoryError, PatternError
from portfleet.inventory.loader import load_inventory
from portfleet.inventory.model import Group, Host, Inventory
from portfleet.inventory.patterns import split_host_pattern
from portfleet.inventory.secret import Secret, is_sensitive, masked
from portfleet.inventory.vault_secrets import VaultKeyring, keyring_from_options

__all__ = [
    "Group",
    "Host",
    "Inventory",
    "InventoryError",
    "Origin",
    "PatternError",
    "Secret",
    "VaultKeyring",
    "is_sensitive",
    "keyring_from_options",
    "load_inventory",
    "masked",
    "split_host_pattern",
]
