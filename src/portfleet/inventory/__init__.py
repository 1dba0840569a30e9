"""Ansible-compatible inventory, pure Python: YAML and INI files, directories, group_vars/host_vars,
host ranges, Ansible's vars precedence and host patterns (``--limit``).

    inv = load_inventory("inventory/example.yml")
    for host in inv.select("windows:!dc*"):
        host.address, host.port, host.scheme, host.password  # password: Secret | None
"""

from portfleet.inventory.builder import Origin
from portfleet.inventory.errors import InventoryError, PatternError
from portfleet.inventory.loader import load_inventory
from portfleet.inventory.model import Group, Host, Inventory
from portfleet.inventory.patterns import split_host_pattern
from portfleet.inventory.secret import Secret, is_sensitive, masked

__all__ = [
    "Group",
    "Host",
    "Inventory",
    "InventoryError",
    "Origin",
    "PatternError",
    "Secret",
    "is_sensitive",
    "load_inventory",
    "masked",
    "split_host_pattern",
]
