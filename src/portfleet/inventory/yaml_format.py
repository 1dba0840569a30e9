"""Ansible's YAML inventory format (the ``yaml`` inventory plugin).

https://docs.ansible.com/ansible/latest/collections/ansible/builtin/yaml_inventory.html
Top-level keys are groups (normally just ``all``); each group may have ``hosts`` (host pattern ->
vars or null), ``vars`` and ``children`` (group -> same structure, recursively). As the plugin,
a plain string under ``hosts``/``children`` stands for a one-entry mapping, and a host key may
carry ranges and ``:port``. Where the plugin only warns and skips (a misspelt ``host:`` key, a
group that is a list), we refuse: a skipped section means hosts silently missing from a rollout.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from portfleet.inventory.builder import InventoryBuilder, Origin
from portfleet.inventory.errors import InventoryError
from portfleet.inventory.ranges import RangeError, expand_host_pattern
from portfleet.inventory.vault_secrets import VaultKeyring
from portfleet.inventory.yamlsrc import _Loader, line_of, load_mapping, mapping_items, to_python

SECTIONS = ("hosts", "vars", "children")


def parse_yaml(path: Path, builder: InventoryBuilder, keyring: VaultKeyring | None = None, text: str | None = None) -> None:
    """Parse a YAML inventory file (or its ``text`` already read, e.g. decrypted) into ``builder``;
    inline !vault values are bound to ``keyring`` and decrypted only when used."""
    root, loader = load_mapping(path, "a YAML inventory", keyring, text)
    if root is None:
        return  # an empty file: the loader warns when the whole inventory has no host
    parser = _YamlInventory(path, loader, builder)
    items = list(mapping_items(root, loader, path))
    if any(k == "plugin" for k, _, _ in items):
        # A .yml/.yaml one went to ansible-inventory (plugin_inventory.py); Ansible's auto plugin
        # reads no other name, and its yaml plugin refuses a top-level 'plugin' key.
        fix = (f"Ansible reads those only from a .yml or .yaml file: rename it to {path.stem}.yml"
               if path.suffix.lower() not in (".yml", ".yaml") else
               "portfleet hands a plugin file to ansible-inventory when it sees 'plugin:' at the start of a "
               "line of the plain file: write it so (a vault-encrypted plugin file is not handed on)")
        raise InventoryError(
            f"this is an inventory plugin configuration (plugin: ...); {fix}",
            path,
            line_of(next(kn for k, kn, _ in items if k == "plugin")),
        )
    for name, key_node, value_node in items:
        parser.group(name, key_node, value_node)


class _YamlInventory:
    def __init__(self, path: Path, loader: _Loader, builder: InventoryBuilder) -> None:
        self.path, self.loader, self.b = path, loader, builder
        self._origins: dict[int, Origin] = {}

    def origin(self, node: Node) -> Origin:
        # One Origin per line: the keys of an anchor merged into 100,000 hosts share theirs.
        line = line_of(node)
        found = self._origins.get(line)
        if found is None:
            found = self._origins[line] = Origin(self.path, line)
        return found

    def error(self, message: str, node: Node) -> InventoryError:
        return InventoryError(message, self.path, line_of(node))

    def name_of(self, key: Any, node: Node, what: str) -> str:
        if key is None or isinstance(key, (bool, dict, list)) or str(key).strip() == "":
            raise self.error(f"invalid {what} name {key!r}", node)
        return str(key)

    def group(self, key: Any, key_node: Node, node: Node, parent: str | None = None) -> str:
        name = self.name_of(key, key_node, "group")
        if not (_is_null(node) or isinstance(node, MappingNode)):
            hint = ""
            if isinstance(node, SequenceNode):
                hint = f" (to list hosts write `{name}:` then `  hosts:` then one `    host:` line per host)"
            raise self.error(
                f"group {name!r} must be a mapping with hosts, vars and/or children, or empty; "
                f"found {_kind(node)}{hint}",
                node,
            )
        self.b.add_group(name, self.origin(key_node))
        if parent is not None:
            self.b.add_child(parent, name, self.origin(key_node))
        if _is_null(node):
            return name
        for section, sec_key_node, sec_node in mapping_items(node, self.loader, self.path):
            if section not in SECTIONS:
                close = difflib.get_close_matches(str(section), SECTIONS, n=1)
                hint = f"did you mean {close[0]!r}?" if close else (
                    f"if {str(section)!r} is a variable put it under vars:, if it is a host under hosts:"
                )
                raise self.error(
                    f"unexpected key {section!r} in group {name!r}: only hosts, vars and children are valid ({hint})",
                    sec_key_node,
                )
            if _is_null(sec_node):
                continue
            if section == "vars":
                self.group_vars(name, sec_node)
            elif section == "children":
                for child, child_key, child_node in self.entries(name, section, sec_node):
                    self.group(child, child_key, child_node, parent=name)
            else:
                for pattern, host_key, host_node in self.entries(name, section, sec_node):
                    self.hosts(name, pattern, host_key, host_node)
        return name

    def entries(self, group: str, section: str, node: Node) -> list[tuple[Any, Node, Node]]:
        # A bare string ("hosts: web01") stands for a one-entry mapping, as in Ansible's plugin.
        if isinstance(node, ScalarNode):
            return [(to_python(node, self.loader, self.path), node, ScalarNode("tag:yaml.org,2002:null", "", node.start_mark, node.end_mark))]
        if not isinstance(node, MappingNode):
            item = "host" if section == "hosts" else "child group"
            raise self.error(
                f"{section!r} of group {group!r} must be a mapping, found {_kind(node)} "
                f"(write one `name:` line per {item} under `{section}:`, not `- name` list items)",
                node,
            )
        return list(mapping_items(node, self.loader, self.path))

    def group_vars(self, group: str, node: Node) -> None:
        if not isinstance(node, MappingNode):
            raise self.error(f"vars of group {group!r} must be a mapping (name: value), found {_kind(node)}", node)
        for key, key_node, value_node in mapping_items(node, self.loader, self.path):
            var = self.var_name(key, key_node)
            self.b.set_group_var(group, var, to_python(value_node, self.loader, self.path), self.origin(key_node))

    def var_name(self, key: Any, node: Node) -> str:
        if not isinstance(key, str) or not key.strip():
            raise self.error(f"variable names must be text, got {key!r}", node)
        return key

    def hosts(self, group: str, key: Any, key_node: Node, node: Node) -> None:
        pattern = self.name_of(key, key_node, "host")
        try:
            names, port = expand_host_pattern(pattern)
        except RangeError as exc:
            raise self.error(str(exc), key_node) from None
        if not (_is_null(node) or isinstance(node, MappingNode)):
            raise self.error(
                f"host {pattern!r} in group {group!r} must be followed by its vars (a mapping) or nothing, "
                f"found {_kind(node)}",
                node,
            )
        variables: list[tuple[str, Any, Origin]] = []
        if isinstance(node, MappingNode):
            for var, var_key, value_node in mapping_items(node, self.loader, self.path):
                variables.append(
                    (self.var_name(var, var_key), to_python(value_node, self.loader, self.path), self.origin(var_key))
                )
        origin = self.origin(key_node)
        if len(names) > 1:
            self.b.charge_expansion(len(names), len(variables), origin)
        for name in names:
            self.b.add_host(name, group, origin, port)
            for var, value, var_origin in variables:
                self.b.set_host_var(name, var, value, var_origin)


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _kind(node: Node) -> str:
    if isinstance(node, SequenceNode):
        return "a list"
    if isinstance(node, MappingNode):
        return "a mapping"
    # Never quote the value itself: it may be a password written in the wrong place.
    return "a single value"
