"""``group_vars/`` and ``host_vars/`` next to the inventory (Ansible's host_group_vars plugin).

https://docs.ansible.com/ansible/latest/inventory_guide/intro_inventory.html#organizing-host-and-group-variables
For an entity NAME Ansible takes the first of ``NAME`` (file or directory), ``NAME.yml``,
``NAME.yaml``, ``NAME.json`` that exists; a directory contributes all its files (sorted,
recursively; hidden files and backups~ skipped; extensions none/.yml/.yaml/.json), later files
winning. The directory they sit in is the inventory file's directory, or the inventory directory.
A whole vault-encrypted file (``ansible-vault encrypt group_vars/windows/vault.yml``) is decrypted
when read, as Ansible's loader does; each of its values is then a Secret, whatever its name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portfleet.inventory.builder import GROUP_PRIORITY_VAR, Origin
from portfleet.inventory.errors import InventoryError
from portfleet.inventory.secret import Secret
from portfleet.inventory.vault_secrets import VaultKeyring
from portfleet.inventory.vaulted import read_text_source
from portfleet.inventory.yamlsrc import line_of, load_mapping, mapping_items, to_python

EXTENSIONS = ("", ".yml", ".yaml", ".json")


@dataclass
class VarsLayer:
    """Vars of one entity from its vars files, with the file:line of each."""

    vars: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict)


def _dir_files(directory: Path, _seen: set[Path] | None = None) -> list[Path]:
    seen = _seen if _seen is not None else set()
    real = directory.resolve()
    if real in seen:  # a symlink loop: each directory once
        return []
    seen.add(real)
    try:
        entries = sorted(directory.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        raise InventoryError(f"can't read the directory: {exc.strerror or exc}", directory) from None
    found: list[Path] = []
    for entry in entries:
        if entry.name.startswith(".") or entry.name.endswith("~"):
            continue
        if entry.is_dir() and not entry.suffix:
            found.extend(_dir_files(entry, seen))
        elif entry.is_file() and entry.suffix in EXTENSIONS:
            found.append(entry)
    return found


def find_vars_files(directory: Path, name: str, listing: dict[str, os.DirEntry[str]] | None = None) -> list[Path]:
    """``listing``: the directory's entries by name, read once for all names (100,000 host names
    would otherwise cost up to 800,000 stat calls); names holding a '/' are looked up on disk."""
    for ext in EXTENSIONS:
        if listing is not None and "/" not in name:
            entry = listing.get(name + ext)
            if entry is None:
                continue
            if entry.is_dir():
                return _dir_files(Path(entry.path))
            if entry.is_file():
                return [Path(entry.path)]
            continue
        candidate = directory / (name + ext)
        if candidate.is_dir():
            return _dir_files(candidate)
        if candidate.is_file():
            return [candidate]
    return []


def load_vars_file(path: Path, keyring: VaultKeyring | None = None) -> VarsLayer:
    layer = VarsLayer()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InventoryError(f"can't read the file: {exc.strerror or exc}", path) from None
    text, vault_id = read_text_source(path, data, keyring)
    node, loader = load_mapping(path, "a vars file", keyring, text)
    if node is None:
        return layer
    for key, key_node, value_node in mapping_items(node, loader, path):
        if not isinstance(key, str):
            raise InventoryError(f"variable names must be text, got {key!r}", path, line_of(key_node))
        value = to_python(value_node, loader, path)
        # Everything in an encrypted file is secret (it was encrypted for a reason), names aside.
        layer.vars[key] = Secret(value) if vault_id is not None and not isinstance(value, Secret) and value is not None else value
        layer.origins[key] = Origin(path, line_of(key_node), vault_id=vault_id)
    return layer


def load_entity_vars(directory: Path, name: str, keyring: VaultKeyring | None = None,
                     listing: dict[str, os.DirEntry[str]] | None = None) -> VarsLayer:
    merged = VarsLayer()
    for path in find_vars_files(directory, name, listing):
        layer = load_vars_file(path, keyring)
        merged.vars.update(layer.vars)
        merged.origins.update(layer.origins)
    return merged


def load_all(base: Path, kind: str, names: list[str], warnings: list[str],
             keyring: VaultKeyring | None = None) -> dict[str, VarsLayer]:
    """Vars files under ``base/kind`` (kind: group_vars or host_vars) for each known name."""
    directory = base / kind
    if not directory.is_dir():
        return {}
    layers = {}
    try:
        with os.scandir(directory) as scan:
            listing = {entry.name: entry for entry in scan}
    except OSError as exc:
        raise InventoryError(f"can't read the directory: {exc.strerror or exc}", directory) from None
    for name in names:
        layer = load_entity_vars(directory, name, keyring, listing)
        if layer.vars:
            layers[name] = layer
    known = set(names)
    for entry in sorted(directory.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") or entry.name.endswith("~"):
            continue
        stem = entry.name if entry.is_dir() else entry.name[: len(entry.name) - len(entry.suffix)]
        if entry.is_file() and entry.suffix not in EXTENSIONS:
            continue
        if stem not in known:
            what = "group" if kind == "group_vars" else "host"
            warnings.append(f"{entry}: no {what} named {stem!r} in the inventory; these vars apply to nothing")
    if kind == "group_vars":
        for name, layer in layers.items():
            if GROUP_PRIORITY_VAR in layer.vars:
                # Ansible: "ansible_group_priority can only be set in the inventory source"
                origin = layer.origins.pop(GROUP_PRIORITY_VAR)
                del layer.vars[GROUP_PRIORITY_VAR]
                warnings.append(
                    f"{origin}: {GROUP_PRIORITY_VAR} is ignored in group_vars files (Ansible reads it only "
                    f"from the inventory itself); set it on group {name!r} in the inventory"
                )
    return layers
