"""An inventory as Ansible evaluated it (`ansible-inventory --list`), with portfleet's bookkeeping kept.

Used when an inventory holds an inventory plugin configuration. Ansible's answer decides everything
it says: the hosts, each group's hosts and children, and each host's merged vars. portfleet's own
reading of the same inventory without the plugin files (the "static view") adds what the JSON can't
carry: where a var was defined (file:line) and which values are secrets (those of an encrypted vars
file, whatever their names). A var takes the static view's value object and origin when that value is
the one Ansible reports; otherwise (a var a plugin composed, or one whose winner a plugin changed)
Ansible's value, marked secret by its name, with the inventory as its origin.

ansible-inventory prints the vars as written (it templates nothing but what a plugin composes);
inline vault values come as ``{"__ansible_vault": ...}``, !unsafe ones as ``{"__ansible_unsafe": ...}``.
A group with no host and no child is left out of its output; it is still named as a child of its
parent, and so it exists here too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from portfleet.inventory import vars_files
from portfleet.inventory.builder import InventoryBuilder, Origin, ansible_groups
from portfleet.inventory.errors import InventoryError
from portfleet.inventory.json_inventory import JsonInventory
from portfleet.inventory.markers import UnsafeText
from portfleet.inventory.model import Group, Host, Inventory
from portfleet.inventory.resolve import InventoryScope
from portfleet.inventory.secret import Secret, protect
from portfleet.inventory.vault_secrets import VaultKeyring
from portfleet.inventory.vars_files import VarsLayer
from portfleet.inventory.vaulted import VaultValue

ANSIBLE_LEVEL = 1_000_000  # a var only Ansible knows outranks any layer of the static view


def as_ansible_json(value: Any) -> Any:
    """A portfleet value in ansible-inventory's JSON form, to compare with what it printed."""
    if isinstance(value, VaultValue):
        return {"__ansible_vault": value.text}
    if isinstance(value, Secret):
        return as_ansible_json(value.reveal())
    if isinstance(value, UnsafeText):
        return {"__ansible_unsafe": str(value)}
    if isinstance(value, dict):
        return {str(k): as_ansible_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_ansible_json(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def from_ansible(
    source: Path,
    document: dict[str, Any],
    static: Inventory,
    layers: tuple[dict[str, VarsLayer], dict[str, VarsLayer]],
    base: Path | None,
    keyring: VaultKeyring | None,
    plugin_file: Path,
) -> Inventory:
    """``layers``: the static view's (group_vars, host_vars) layers; ``base``: where group_vars/ and
    host_vars/ are (None for none)."""
    builder = InventoryBuilder()
    reader = JsonInventory(builder, plugin_file, keyring, "the output of ansible-inventory --list")
    hostvars = reader.groups(document) or {}
    builder.reconcile()
    for name, group in static.groups.items():  # groups Ansible left out as empty: same tree, no host
        if name not in builder.groups:
            builder.add_group(name, group.origin or Origin(source))
    for name in builder.groups:
        if name != "all" and not builder.groups[name].parents:
            builder.groups[name].parents.append("all")
            builder.groups["all"].children.append(name)
    group_layers, host_layers = _with_vars_files_of_new_names(builder, static, layers, base, keyring)
    depth = builder.depths()
    ancestors = {name: frozenset(builder.ancestors(name)) for name in builder.groups}
    scope = InventoryScope(keyring)
    validated: set[Any] = set()
    hosts: list[Host] = []
    # Ansible's host order is that of _meta.hostvars (a host without vars is left out of it).
    order = [name for name in hostvars if name in builder.hosts] + [n for n in builder.hosts if n not in hostvars]
    for raw in (builder.hosts[name] for name in order):
        theirs = hostvars.get(raw.name, {})
        if not isinstance(theirs, dict):
            raise InventoryError(f"ansible-inventory --list: the vars of host {raw.name!r} are not a mapping", plugin_file)
        names = frozenset({"all", *raw.groups}.union(*(ancestors[g] for g in raw.groups)))
        mine = static.host(raw.name) if static.has_host(raw.name) else None
        # Where a var Ansible reports may come from, most specific first: the static view's merge,
        # the host's host_vars, its groups' group_vars (a group a plugin made may have some).
        ranked = sorted(names, key=lambda g: (depth[g], builder.groups[g].priority, g), reverse=True)
        candidates = [(mine.raw_vars, mine.origins)] if mine is not None else []
        candidates += [(layer.vars, layer.origins) for layer in
                       [host_layers.get(raw.name)] + [group_layers.get(g) for g in ranked] if layer is not None]
        raw_vars: dict[str, Any] = {}
        origins: dict[str, Origin] = {}
        for key, value in theirs.items():
            for values, where in candidates:
                if key in values and as_ansible_json(values[key]) == value:
                    raw_vars[key] = protect(values[key], key)
                    origins[key] = where.get(key) or Origin(source, None, ANSIBLE_LEVEL)
                    break
            else:
                raw_vars[key] = protect(reader.value(value), key)
                origins[key] = Origin(source, None, ANSIBLE_LEVEL)
        own = mine.own_keys & frozenset(raw_vars) if mine is not None else frozenset(raw_vars)
        host = Host(raw.name, raw_vars, names, origins, mine.source if mine else plugin_file, own, scope)
        host.validate(validated)
        hosts.append(host)

    groups: dict[str, Group] = {}
    for name, raw_group in builder.groups.items():
        known = static.groups.get(name)
        groups[name] = Group(
            name=name,
            hosts=tuple(raw_group.hosts),
            children=tuple(raw_group.children),
            parents=tuple(raw_group.parents),
            vars=dict(known.vars) if known else {},
            depth=depth[name],
            priority=known.priority if known else raw_group.priority,
            origin=known.origin if known and known.origin else Origin(plugin_file),
        )
    # The static view's warnings, less those the plugins answered (a group or host they made).
    warnings = [w for w in static.warnings if not w.endswith("the inventory defines no hosts") and not any(
        f"named {name!r} in the inventory" in w for name in _names_in(w, builder))]
    if not hosts:
        warnings.append(f"{source}: the inventory defines no hosts")
    scope.bind({h.name: h for h in hosts}, lambda: ansible_groups(groups))
    return Inventory(source, hosts, groups, warnings)


def _names_in(warning: str, builder: InventoryBuilder) -> list[str]:
    # vars_files' warning "PATH: no group named 'x' in the inventory; ...": is x known now?
    start = warning.find(" named '")
    if start < 0:
        return []
    name = warning[start + 8 : warning.find("' in the inventory", start)]
    return [name] if name in builder.groups or name in builder.hosts else []


def _with_vars_files_of_new_names(
    builder: InventoryBuilder,
    static: Inventory,
    layers: tuple[dict[str, VarsLayer], dict[str, VarsLayer]],
    base: Path | None,
    keyring: VaultKeyring | None,
) -> tuple[dict[str, VarsLayer], dict[str, VarsLayer]]:
    """The static view's group_vars/host_vars layers plus those of groups and hosts only Ansible
    knows (read the same way: an encrypted file's values are secrets)."""
    group_layers, host_layers = dict(layers[0]), dict(layers[1])
    if base is None:
        return group_layers, host_layers
    ignored: list[str] = []
    new_groups = [g for g in builder.groups if g not in static.groups]
    new_hosts = [h for h in builder.hosts if not static.has_host(h)]
    group_layers.update(vars_files.load_all(base, "group_vars", new_groups, ignored, keyring))
    host_layers.update(vars_files.load_all(base, "host_vars", new_hosts, ignored, keyring))
    return group_layers, host_layers
