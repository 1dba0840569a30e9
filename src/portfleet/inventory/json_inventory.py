"""The JSON of Ansible's inventory script protocol (also what `ansible-inventory --list` prints).

https://docs.ansible.com/ansible/latest/dev_guide/developing_inventory.html#inventory-script-conventions
and ansible-core's script inventory plugin, which this mirrors:

    {"web": {"hosts": ["web01", "web02"], "vars": {"http_port": 80}, "children": ["dmz"]},
     "dc": ["dc01"],                                    a list: the group's hosts
     "all": {"vars": {"ansible_connection": "winrm"}},
     "_meta": {"hostvars": {"web01": {"ansible_host": "10.0.0.1"}}}}

A group given as a mapping without hosts/vars/children is, as Ansible reads it, a host of that name
with those vars. Values in Ansible's JSON profile form -- ``{"__ansible_vault": "$ANSIBLE_VAULT..."}``,
``{"__ansible_unsafe": "..."}`` -- become a vault value (decrypted at use) and !unsafe text. Where
Ansible raises a TypeError on a wrong shape, the error here names the group or host and what was
expected; a host or group name that is not text is refused (Ansible: "Invalid host name supplied").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from portfleet.inventory import vault
from portfleet.inventory.builder import InventoryBuilder, Origin
from portfleet.inventory.errors import InventoryError
from portfleet.inventory.markers import UnsafeText, mark_unsafe
from portfleet.inventory.vault_secrets import VaultKeyring
from portfleet.inventory.vaulted import VaultValue

SECTIONS = ("hosts", "vars", "children")
MAX_NESTING = 200  # JSON nested deeper is no inventory (and would hit the recursion limit)


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false", type(None): "null"}.get(
        type(value), "a number"
    )


def parse_json(data: bytes, what: str, path: Path) -> Any:
    """The JSON document in ``data`` (UTF-8); InventoryError saying where it is broken, without
    quoting it (it may hold a password)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InventoryError(f"{what} is not UTF-8 text (line {line} of the output)", path) from None
    if _nesting(text) > MAX_NESTING:
        raise InventoryError(f"{what} nests lists/mappings more than {MAX_NESTING} deep", path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InventoryError(f"{what} is not JSON: line {exc.lineno} column {exc.colno}: {exc.msg}", path) from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        message = str(exc).split(":")[0]
        raise InventoryError(f"{what} is not usable JSON: {message}", path) from None
    except RecursionError:  # pragma: no cover - _nesting refuses it first
        raise InventoryError(f"{what} nests too deeply", path) from None


def _nesting(text: str) -> int:
    """An upper bound of the JSON nesting depth (brackets inside strings count too: only an
    over-estimate, which is fine for a bound)."""
    if text.count("[") + text.count("{") <= MAX_NESTING:
        return 0
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_NESTING:
                    return deepest
        elif ch in "]}":
            depth -= 1
    return deepest


class JsonInventory:
    """Reads one script-protocol document into the builder; ``origin`` names the script."""

    def __init__(self, builder: InventoryBuilder, path: Path, keyring: VaultKeyring | None, what: str) -> None:
        self.b, self.path, self.keyring, self.what = builder, path, keyring, what
        self.origin = Origin(path)
        self.hosts: dict[str, None] = {}  # every host the groups named, in order

    def error(self, message: str) -> InventoryError:
        return InventoryError(f"{self.what}: {message}", self.path)

    def groups(self, document: Any) -> Mapping[str, Any] | None:
        """Read the groups; the ``_meta.hostvars`` mapping (None when the script has no _meta
        hostvars: then each host's vars come from ``--host NAME``)."""
        if not isinstance(document, dict):
            raise self.error(f"the output must be a JSON mapping of groups, found {_type_name(document)}")
        hostvars: Mapping[str, Any] | None = None
        for name, data in document.items():
            if name == "_meta":
                # As ansible-core 2.19: a _meta must hold a hostvars mapping (no _meta at all is the
                # old protocol, --host per host), and a profile, if named, is an inventory_* one.
                if not isinstance(data, dict):
                    raise self.error(f"'_meta' must be a mapping, found {_type_name(data)}")
                hostvars = data.get("hostvars")
                if not isinstance(hostvars, dict):
                    raise self.error(f"'_meta.hostvars' must be a mapping of host names, found {_type_name(hostvars)}")
                profile = data.get("profile", "inventory_legacy")
                if not isinstance(profile, str) or not profile.startswith("inventory_"):
                    raise self.error("'_meta.profile' must name an inventory profile (inventory_legacy)")
                continue
            self.group(name, data)
        return hostvars

    def group(self, name: str, data: Any) -> None:
        if not name.strip():
            raise self.error("a group has an empty name")
        self.b.add_group(name, self.origin)
        unsafe = False
        if not isinstance(data, dict):
            data = {"hosts": data}  # Ansible: a bare list is the group's hosts
        elif not any(k in data for k in SECTIONS):
            # Ansible: the group is a host with these vars, which "cannot be templated" (!unsafe)
            data, unsafe = {"hosts": [name], "vars": data}, True
        hosts = data.get("hosts", [])
        if not isinstance(hosts, list):
            raise self.error(f"'{name}.hosts' must be a list of host names, found {_type_name(hosts)}")
        for host in hosts:
            if not isinstance(host, str) or not host.strip():
                raise self.error(f"'{name}.hosts' must hold host names (text), found {_type_name(host)}")
            self.hosts[host] = None
            self.b.add_host(host, name, self.origin)
        variables = data.get("vars", {})
        if not isinstance(variables, dict):
            raise self.error(f"'{name}.vars' must be a mapping of variables, found {_type_name(variables)}")
        for key, value in variables.items():
            value = self.value(value)
            self.b.set_group_var(name, key, mark_unsafe(value) if unsafe else value, self.origin)
        children = data.get("children", [])
        if not isinstance(children, list):
            raise self.error(f"'{name}.children' must be a list of group names, found {_type_name(children)}")
        for child in children:
            if not isinstance(child, str) or not child.strip():
                raise self.error(f"'{name}.children' must hold group names (text), found {_type_name(child)}")
            self.b.add_group(child, self.origin)
            self.b.add_child(name, child, self.origin)

    def host_vars(self, host: str, variables: Any, where: str) -> None:
        if not isinstance(variables, dict):
            raise self.error(f"the vars of host {host!r} ({where}) must be a mapping, found {_type_name(variables)}")
        for key, value in variables.items():
            self.b.set_host_var(host, key, self.value(value), self.origin)

    def value(self, value: Any) -> Any:
        """A JSON value as an inventory value: Ansible's profile forms decoded."""
        if isinstance(value, dict):
            if len(value) == 1:
                if "__ansible_unsafe" in value and isinstance(value["__ansible_unsafe"], str):
                    return UnsafeText(value["__ansible_unsafe"])
                if "__ansible_vault" in value and isinstance(value["__ansible_vault"], str):
                    try:
                        return VaultValue(value["__ansible_vault"], self.path, 0, self.keyring)
                    except vault.VaultFormatError as exc:
                        raise self.error(f"a '__ansible_vault' value is not Ansible Vault text: {exc}") from None
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value
