"""From what the format parsers read to the Inventory: each host's vars merged in Ansible's precedence.

Merge order per host, lowest to highest, as Ansible's variable precedence
(https://docs.ansible.com/ansible/latest/playbook_guide/playbooks_variables.html#understanding-variable-precedence,
https://docs.ansible.com/ansible/latest/inventory_guide/intro_inventory.html#how-variables-are-merged):
  1. inventory file group vars: 'all', then the host's other groups sorted by (depth, priority, name)
     -- parent before child, equal depth alphabetical, higher ansible_group_priority later
  2. group_vars/all, then group_vars/<group> in the same order
  3. inventory file host vars
  4. host_vars/<host>
Later layers replace top-level keys (Ansible's default hash_behaviour=replace).

Scale: the group layers of a host depend only on its set of direct groups, and a fleet has few such
sets (100,000 hosts in 100 sites: 100 sets), so layers 1-2 are merged once per set and shared;
per host only its own vars are added. Each layer is wrapped for secrets (protect) once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from portfleet.inventory.builder import InventoryBuilder, Origin, ansible_groups
from portfleet.inventory.model import Group, Host, Inventory
from portfleet.inventory.resolve import InventoryScope
from portfleet.inventory.secret import protect
from portfleet.inventory.vars_files import VarsLayer


@dataclasses.dataclass(frozen=True)
class _GroupSet:
    """What every host with the same direct groups shares: all its groups, merged group vars."""

    names: frozenset[str]
    vars: dict[str, Any]
    origins: dict[str, Origin]
    level: int  # the last group layer's level; the host's own layers come after


class HostOrigins(Mapping[str, Origin]):
    """Where each var of one host was defined: the shared group-level origins, then the host's own
    (inventory host vars, host_vars files), their merge level given when looked up."""

    __slots__ = ("_shared", "_own", "_files", "_level")

    def __init__(self, shared: dict[str, Origin], own: dict[str, Origin], files: dict[str, Origin], level: int) -> None:
        self._shared, self._own, self._files, self._level = shared, own, files, level

    def __getitem__(self, key: str) -> Origin:
        if key in self._files:
            return dataclasses.replace(self._files[key], level=self._level + 2)
        if key in self._own:
            return dataclasses.replace(self._own[key], level=self._level + 1)
        return self._shared[key]

    def __contains__(self, key: object) -> bool:
        return key in self._files or key in self._own or key in self._shared

    def __iter__(self) -> Iterator[str]:
        yield from self._shared
        yield from (k for k in self._own if k not in self._shared)
        yield from (k for k in self._files if k not in self._shared and k not in self._own)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def build_inventory(
    source: Path,
    builder: InventoryBuilder,
    group_layers: dict[str, VarsLayer],
    host_layers: dict[str, VarsLayer],
    scope: InventoryScope,
) -> Inventory:
    depth = builder.depths()
    ancestors = {name: frozenset(builder.ancestors(name)) for name in builder.groups}
    inventory_vars = {name: protect(g.vars) for name, g in builder.groups.items()}
    file_vars = {name: protect(layer.vars) for name, layer in group_layers.items()}
    sets: dict[tuple[str, ...], _GroupSet] = {}
    validated: set[Any] = set()

    def group_set(direct: tuple[str, ...]) -> _GroupSet:
        names: set[str] = {"all"}
        for g in direct:
            names.add(g)
            names |= ancestors[g]
        ordered = ["all"] + sorted(
            (g for g in names if g != "all"),
            key=lambda g: (depth[g], builder.groups[g].priority, g),  # Ansible's sort_groups
        )
        merged: dict[str, Any] = {}
        origins: dict[str, Origin] = {}
        level = 0
        layers = [(inventory_vars[g], builder.groups[g].var_origins) for g in ordered]
        layers += [(file_vars[g], group_layers[g].origins) for g in ordered if g in group_layers]
        for values, where in layers:
            level += 1
            for key, value in values.items():
                merged[key] = value
                o = where.get(key)
                origins[key] = dataclasses.replace(o, level=level) if o else Origin(source, None, level)
        return _GroupSet(frozenset(names), merged, origins, level)

    hosts: list[Host] = []
    no_files = VarsLayer()
    for raw in builder.hosts.values():
        direct = tuple(raw.groups)
        shared = sets.get(direct)
        if shared is None:
            shared = sets[direct] = group_set(direct)
        files = host_layers.get(raw.name, no_files)
        merged = dict(shared.vars)
        merged.update(protect(raw.vars))
        if files.vars:
            merged.update(protect(files.vars))
        origins = HostOrigins(shared.origins, raw.var_origins, files.origins, shared.level)
        own = frozenset(raw.vars).union(files.vars)
        host = Host(raw.name, merged, shared.names, origins, raw.origin.path, own, scope)
        host.validate(validated)
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
