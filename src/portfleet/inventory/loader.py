"""load_inventory: a file (YAML or INI) or a directory of them, plus group_vars/ and host_vars/.

Merge order per host, lowest to highest, as Ansible's variable precedence
(https://docs.ansible.com/ansible/latest/playbook_guide/playbooks_variables.html#understanding-variable-precedence,
https://docs.ansible.com/ansible/latest/inventory_guide/intro_inventory.html#how-variables-are-merged):
  1. inventory file group vars: 'all', then the host's other groups sorted by (depth, priority, name)
     -- parent before child, equal depth alphabetical, higher ansible_group_priority later
  2. group_vars/all, then group_vars/<group> in the same order
  3. inventory file host vars
  4. host_vars/<host>
Later layers replace top-level keys (Ansible's default hash_behaviour=replace).

Vault: an encrypted inventory file or vars file is decrypted as it is read (``keyring`` holds the
run's vault passwords); inline !vault values only when used. Templates in values are evaluated at
use, per host (resolve.py): loading evaluates none, and checks at once only the hosts whose
connection vars hold no template or vault value.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from portfleet.inventory import vars_files
from portfleet.inventory.builder import InventoryBuilder, Origin, RawGroup, ansible_groups
from portfleet.inventory.errors import InventoryError
from portfleet.inventory.ini_format import parse_ini
from portfleet.inventory.model import Group, Host, Inventory
from portfleet.inventory.resolve import InventoryScope
from portfleet.inventory.secret import protect
from portfleet.inventory.vault import is_vault_text
from portfleet.inventory.vault_secrets import VaultKeyring
from portfleet.inventory.vaulted import read_text_source
from portfleet.inventory.yaml_format import parse_yaml

YAML_EXTENSIONS = (".yml", ".yaml", ".json")
INI_EXTENSIONS = (".ini",)
# Skipped in an inventory directory: Ansible's INVENTORY_IGNORE_EXTS (REJECT_EXTS + .orig .cfg
# .retry) and its always-ignored names (hidden files, group_vars, host_vars, vars_plugins).
IGNORED_EXTENSIONS = (".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry")
IGNORED_NAMES = ("group_vars", "host_vars", "vars_plugins")


def load_inventory(path: Path | str, vault: VaultKeyring | None = None) -> Inventory:
    """Read an Ansible inventory (YAML or INI file, or a directory of them); InventoryError on bad input.
    ``vault``: the vault passwords (vault_secrets.keyring_from_options); none: vault content is refused
    when it is needed, with the file:line and vault id."""
    source = Path(path)
    if not source.exists():
        raise InventoryError("no such inventory file or directory", source)
    builder = InventoryBuilder()
    if source.is_dir():
        files = inventory_files(source)
        if not files:
            raise InventoryError("the inventory directory holds no inventory file (.yml, .yaml, .ini ...)", source)
        for file in files:
            parse_file(file, builder, vault)
        base = source
    else:
        parse_file(source, builder, vault)
        base = source.parent
    builder.reconcile()
    group_layers = vars_files.load_all(base, "group_vars", list(builder.groups), builder.warnings, vault)
    host_layers = vars_files.load_all(base, "host_vars", list(builder.hosts), builder.warnings, vault)
    return _build(source, builder, group_layers, host_layers, InventoryScope(vault))


def inventory_files(directory: Path) -> list[Path]:
    files = []
    for entry in sorted(directory.iterdir(), key=lambda p: p.name):
        name = entry.name
        if name.startswith(".") or name in IGNORED_NAMES or name.endswith(IGNORED_EXTENSIONS):
            continue
        if entry.is_dir():
            files.extend(inventory_files(entry))
        elif entry.is_file():
            files.append(entry)
    return files


def detect_format(path: Path) -> str:
    """'yaml' or 'ini': by extension (.yml/.yaml/.json, .ini), else by content."""
    suffix = path.suffix.lower()
    if suffix in YAML_EXTENSIONS:
        return "yaml"
    if suffix in INI_EXTENSIONS:
        return "ini"
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise InventoryError(f"can't read the file: {exc.strerror or exc}", path) from None
    return sniff(text)


def sniff(text: str) -> str:
    """An INI inventory has a [section] line or host lines; YAML has 'group:' mappings."""
    meaningful = [ln.strip() for ln in text.splitlines() if ln.strip() and ln.strip()[0] not in "#;"]
    if not meaningful:
        return "ini"
    if any(re.match(r"^\[[^\]]+\]\s*(#.*)?$", ln) for ln in meaningful):
        return "ini"
    if meaningful[0] == "---" or meaningful[0] == "{":
        return "yaml"
    # YAML: the first line is 'name:' (the group) and the next line is indented under it.
    first = meaningful[0]
    if re.match(r"^[^\s:=]+:\s*(#.*)?$", first) or first.startswith(("all:", "{")):
        return "yaml"
    return "ini"


def parse_file(path: Path, builder: InventoryBuilder, vault: VaultKeyring | None = None) -> None:
    try:
        head = path.read_bytes()[:16]
    except OSError as exc:
        raise InventoryError(f"can't read the file: {exc.strerror or exc}", path) from None
    if is_vault_text(head):
        _parse_encrypted(path, builder, vault)
        return
    if detect_format(path) != "yaml":
        parse_ini(path, builder)
        return
    try:
        parse_yaml(path, builder, vault)
    except InventoryError as exc:
        # A .yml name on an INI file: say so rather than leave a puzzling YAML error.
        if exc.path == path and sniff(path.read_text(encoding="utf-8", errors="replace")) == "ini":
            raise InventoryError(
                f"{exc.message} (the file looks like an INI inventory: rename it to .ini)", exc.path, exc.line
            ) from None
        raise


def _parse_encrypted(path: Path, builder: InventoryBuilder, vault: VaultKeyring | None) -> None:
    # A whole encrypted inventory file (ansible-vault encrypt hosts.yml): decrypted now, as Ansible's
    # loader does, then read like the plain file; its lines are the decrypted text's lines.
    text, _ = read_text_source(path, path.read_bytes(), vault)
    suffix = path.suffix.lower()
    kind = "yaml" if suffix in YAML_EXTENSIONS else "ini" if suffix in INI_EXTENSIONS else sniff(text)
    if kind == "yaml":
        parse_yaml(path, builder, vault, text)
    else:
        parse_ini(path, builder, text.splitlines())


def _sort_key(group: RawGroup, depth: dict[str, int]) -> tuple[int, int, str]:
    # Ansible's sort_groups: (depth, priority, name)
    return (depth[group.name], group.priority, group.name)


def _build(
    source: Path,
    builder: InventoryBuilder,
    group_layers: dict[str, vars_files.VarsLayer],
    host_layers: dict[str, vars_files.VarsLayer],
    scope: InventoryScope,
) -> Inventory:
    depth = builder.depths()
    ancestors = {name: set(builder.ancestors(name)) for name in builder.groups}
    hosts: list[Host] = []
    for raw in builder.hosts.values():
        names: set[str] = {"all"}
        for g in raw.groups:
            names.add(g)
            names |= ancestors[g]
        ordered = sorted((builder.groups[g] for g in names if g != "all"), key=lambda g: _sort_key(g, depth))
        layers: list[tuple[dict[str, Any], dict[str, Origin]]] = []
        all_group = builder.groups["all"]
        layers.append((all_group.vars, all_group.var_origins))
        layers.extend((g.vars, g.var_origins) for g in ordered)
        for g in [all_group, *ordered]:
            if g.name in group_layers:
                layers.append((group_layers[g.name].vars, group_layers[g.name].origins))
        layers.append((raw.vars, raw.var_origins))
        if raw.name in host_layers:
            layers.append((host_layers[raw.name].vars, host_layers[raw.name].origins))
        merged: dict[str, Any] = {}
        origins: dict[str, Origin] = {}
        for level, (values, where) in enumerate(layers, 1):
            for key, value in values.items():
                merged[key] = value
                o = where.get(key)
                origins[key] = dataclasses.replace(o, level=level) if o else Origin(source, None, level)
        own = set(raw.vars) | set(host_layers[raw.name].vars if raw.name in host_layers else ())
        host = Host(raw.name, protect(merged), frozenset(names), origins, raw.origin.path, frozenset(own), scope)
        host.validate()
        hosts.append(host)

    groups: dict[str, Group] = {}
    for name, raw_group in builder.groups.items():
        shown = dict(raw_group.vars)
        if name in group_layers:
            shown.update(group_layers[name].vars)
        groups[name] = Group(
            name=name,
            hosts=tuple(raw_group.hosts),
            children=tuple(raw_group.children),
            parents=tuple(raw_group.parents),
            vars=protect(shown),
            depth=depth[name],
            priority=raw_group.priority,
            origin=raw_group.origin,
        )
    if not hosts:
        builder.warnings.append(f"{source}: the inventory defines no hosts")
    scope.bind({h.name: h for h in hosts}, lambda: ansible_groups(groups))
    return Inventory(source, hosts, groups, builder.warnings)
